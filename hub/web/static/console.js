// The consoles' small progressive enhancement: the CSRF token on every htmx and fetch write, the agent's presence
// heartbeat, and keyboard shortcuts registered by the pages (window.hubKeys).
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  document.addEventListener("htmx:configRequest", (event) => {
    event.detail.headers["X-CSRFToken"] = csrf();
  });

  // JSON calls to /api/v1 with the session cookie and the CSRF token; resolves to {ok, status, body}.
  window.hubApi = async function (method, url, body, headers) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf(), ...(headers || {})},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let parsed = null;
    try { parsed = await response.json(); } catch (_) { parsed = null; }
    return {ok: response.ok, status: response.status, body: parsed};
  };

  // Presence: the select's value is sent now and every 30 s (the heartbeat that keeps it alive).
  const HEARTBEAT_MS = 30000;
  function startPresence() {
    const select = document.getElementById("presence");
    if (!select) return;
    // The periodic beat is background traffic: it keeps the agent present, not the session alive (see auth.py).
    const beat = (background) => window.hubApi("PUT", "/api/v1/agents/me/status", {status: select.value},
                                                background ? {"X-Hub-Background": "1"} : undefined);
    select.addEventListener("change", () => beat(false));
    beat(false);
    setInterval(() => beat(true), HEARTBEAT_MS);
  }

  // Shortcuts: pages put handlers into window.hubKeys ({"j": fn, ...}); typing in a field never triggers one.
  window.hubKeys = window.hubKeys || {};
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
    const handler = window.hubKeys[event.key];
    if (handler) { event.preventDefault(); handler(event); }
  });

  document.addEventListener("DOMContentLoaded", startPresence);
})();
