// The agent's workspace: live refresh (poll /live every second, re-fetch only the parts that changed), keyboard
// shortcuts, the reply box (one Idempotency-Key per draft), the ticket's actions through the JSON API, KB
// suggestions and canned replies, notifications. Everything the fan wrote arrives as server-rendered, escaped
// HTML or is put into the page with textContent — never parsed from JSON into markup.
(function () {
  "use strict";
  const page = document.getElementById("agent-page");
  if (!page) return;
  const strings = JSON.parse((document.getElementById("agent-strings") || {}).textContent || "{}");
  const fill = (text, values) => String(text || "").replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));
  const ticketId = page.dataset.ticket ? parseInt(page.dataset.ticket, 10) : null;
  let refreshTicket = null;  // set on a ticket's page
  const LIVE_MS = 1000, HIDDEN_MS = 4000, TIMERS_MS = 60000, PENDING_MS = 2000, PENDING_TRIES = 30;

  // ---- presence: the status this browser last chose, restored before console.js sends the first heartbeat ----
  const presence = document.getElementById("presence");
  if (presence) {
    const chosen = window.localStorage.getItem("hub.presence");
    if (chosen && Array.from(presence.options).some((o) => o.value === chosen)) presence.value = chosen;
    const paint = () => { presence.closest(".presence").className = "presence " + presence.value; };
    presence.addEventListener("change", () => { window.localStorage.setItem("hub.presence", presence.value); paint(); });
    paint();
  }

  // ---- small helpers ----
  function toast(text, href) {
    const box = document.createElement("div");
    box.className = "toast";
    if (href) { const a = document.createElement("a"); a.href = href; a.textContent = text; box.appendChild(a); }
    else box.textContent = text;
    document.body.appendChild(box);
    setTimeout(() => box.remove(), 6000);
  }
  async function fetchHtml(url) {
    const response = await fetch(url, {credentials: "same-origin", headers: {"HX-Request": "true", "X-Hub-Background": "1"}});
    if (response.redirected || response.status === 401) { window.location.reload(); throw new Error("signed out"); }
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.text();
  }
  function parse(html) { return new DOMParser().parseFromString(html, "text/html"); }
  function processHtmx(element) { if (window.htmx) window.htmx.process(element); }
  function errorText(result) {
    return (result.body && result.body.error) ? result.body.error : "HTTP " + result.status;
  }
  function newKey() {  // crypto.randomUUID needs a secure context; getRandomValues does not
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ---- the queue list (the queue page, or the narrow list beside a ticket) ----
  let listBusy = false, listAgain = false;
  async function refreshList() {
    if (listBusy) { listAgain = true; return; }
    listBusy = true;
    try {
      const html = await fetchHtml(page.dataset.list);
      const target = document.getElementById("queue-list");
      const selected = selectedRow() && selectedRow().dataset.id;
      const scroll = target.scrollTop;
      target.innerHTML = html;
      target.scrollTop = scroll;
      processHtmx(target);
      if (selected) { const row = $(`.trow[data-id="${selected}"]`, target); if (row) select(row, false); }
    } catch (_) { /* the next change or the timer tries again */ } finally {
      listBusy = false;
      if (listAgain) { listAgain = false; refreshList(); }
    }
  }
  const rows = () => $$("#ticket-rows .trow");
  const selectedRow = () => $("#ticket-rows .trow.selected");
  function select(row, scroll) {
    rows().forEach((r) => r.classList.remove("selected"));
    row.classList.add("selected");
    if (scroll !== false) row.scrollIntoView({block: "nearest"});
  }
  function move(step) {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(selectedRow());
    select(all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))]);
  }
  function openRow(row) { if (row && row.dataset.href) window.location.href = row.dataset.href; }

  // ---- live: what changed since the page was rendered ----
  let seq = parseInt(page.dataset.seq || "0", 10), failures = 0;
  async function poll() {
    try {
      let url = page.dataset.live + "?since=" + seq + (ticketId ? "&ticket=" + ticketId : "");
      const active = $("#queue-list .tabs a.active");
      if (active && active.dataset.tab === "mine") {  // only changes to my tickets or to those shown matter
        url += "&mine=1&shown=" + rows().map((r) => r.dataset.id).join(",");
      }
      const response = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json", "X-Hub-Background": "1"}});
      if (response.redirected || response.status === 401) { window.location.reload(); return; }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const update = await response.json();
      seq = update.seq;
      failures = 0;
      liveDown(false);
      if (update.queue) refreshList();
      if (update.ticket && refreshTicket) refreshTicket();
      if (update.notifications) refreshBell(update.unread);
      (update.assigned || []).forEach((id) => {
        if (id !== ticketId) toast(fill(strings.assigned, {id: id}), "/tickets/" + id);
      });
    } catch (_) {
      failures += 1;
      if (failures > 2) liveDown(true);
    } finally {
      const wait = document.hidden ? HIDDEN_MS : LIVE_MS * Math.min(5, 1 + failures);
      setTimeout(poll, wait);
    }
  }
  let downNote = null;
  function liveDown(down) {
    if (down && !downNote) {
      downNote = document.createElement("div");
      downNote.className = "toast";
      downNote.textContent = strings.live_down;
      document.body.appendChild(downNote);
    } else if (!down && downNote) { downNote.remove(); downNote = null; }
  }

  // ---- notifications ----
  const bellButton = document.getElementById("bell-button"), bellList = document.getElementById("bell-list");
  async function refreshBell(unread) {
    const count = document.getElementById("bell-count");
    if (count && unread !== undefined) { count.textContent = unread; count.classList.toggle("hidden", !unread); }
    try { bellList.innerHTML = await fetchHtml(bellList.dataset.url); } catch (_) { /* next time */ }
    const list = $(".notes", bellList);
    if (count && list) { count.textContent = list.dataset.unread; count.classList.toggle("hidden", list.dataset.unread === "0"); }
  }
  if (bellButton && bellList) {
    bellButton.addEventListener("click", (event) => {
      event.stopPropagation();
      bellList.classList.toggle("hidden");
      bellButton.setAttribute("aria-expanded", String(!bellList.classList.contains("hidden")));
    });
    document.addEventListener("click", (event) => {
      if (!bellList.contains(event.target)) bellList.classList.add("hidden");
    });
    bellList.addEventListener("click", async (event) => {
      const all = event.target.closest("[data-read-all]");
      const note = event.target.closest("[data-note]");
      if (all) {
        await window.hubApi("POST", "/api/v1/notifications/read", {});
        refreshBell();
      } else if (note) {
        event.preventDefault();
        await window.hubApi("POST", "/api/v1/notifications/read", {ids: [parseInt(note.dataset.note, 10)]});
        if (note.getAttribute("href") !== "#") window.location.href = note.getAttribute("href");
        else refreshBell();
      }
    });
  }

  // ---- the queue page ----
  if (page.dataset.page === "queue") {
    const search = document.getElementById("queue-search");
    window.hubKeys.j = () => move(1);
    window.hubKeys.k = () => move(-1);
    window.hubKeys.Enter = (event) => {
      if (selectedRow()) openRow(selectedRow());
      else if (event.target.closest && event.target.closest("a, button")) event.target.closest("a, button").click();
    };
    window.hubKeys["/"] = () => { search.focus(); search.select(); };
    document.getElementById("queue-list").addEventListener("click", (event) => {
      const row = event.target.closest(".trow");
      if (row && !event.target.closest("a")) openRow(row);
    });
    $$("#queue-filters select").forEach((s) => s.addEventListener("change", () => s.form.submit()));
    setInterval(refreshList, TIMERS_MS);  // the SLA clocks move even when nothing else does
  }

  // ---- a ticket ----
  if (ticketId) {
    const thread = document.getElementById("thread");
    const box = document.getElementById("replybox");
    const text = document.getElementById("reply-text");
    const replyError = document.getElementById("reply-error");
    const api = page.dataset.api;
    let draftKey = newKey(), attempted = false, sending = false, pendingTries = 0, pendingTimer = null;
    let kbEntry = null;  // the knowledge-base entry whose answer was inserted into this draft (sent as kb_entry_id)

    const atBottom = () => thread.scrollHeight - thread.scrollTop - thread.clientHeight < 60;
    const toBottom = () => { thread.scrollTop = thread.scrollHeight; };
    toBottom();

    let ticketBusy = false, ticketAgain = false;
    refreshTicket = async function () {
      if (ticketBusy) { ticketAgain = true; return; }
      ticketBusy = true;
      try {
        const recent = document.getElementById("thread-recent");
        const html = await fetchHtml(page.dataset.parts + "&from=" + encodeURIComponent(recent.dataset.first || ""));
        const parts = parse(html);
        const stick = atBottom();
        const head = document.getElementById("ticket-head");
        if (!$("details.menu[open]", head)) head.replaceWith(parts.getElementById("ticket-head"));
        recent.replaceWith(parts.getElementById("thread-recent"));
        document.getElementById("reply-state").replaceWith(parts.getElementById("reply-state"));
        processHtmx(thread);
        if (stick) toBottom();
        watchPending();
      } catch (_) { /* the next change tries again */ } finally {
        ticketBusy = false;
        if (ticketAgain) { ticketAgain = false; refreshTicket(); }
      }
    };
    // Deliveries are not published live: while a reply waits for WeChat, look again every 2 s for a minute.
    function watchPending() {
      const recent = document.getElementById("thread-recent");
      clearTimeout(pendingTimer);
      if (recent && recent.dataset.pending === "1" && pendingTries < PENDING_TRIES) {
        pendingTries += 1;
        pendingTimer = setTimeout(refreshTicket, PENDING_MS);
      } else if (!recent || recent.dataset.pending !== "1") pendingTries = 0;
    }
    watchPending();

    // Reply or note
    function setMode(mode) {
      box.dataset.mode = mode;
      $$(".reply-tabs > button", box).forEach((b) => b.classList.toggle("active", b.dataset.mode === mode));
      text.placeholder = mode === "note" ? text.dataset.notePlaceholder : text.dataset.replyPlaceholder;
      text.focus();
    }
    $$(".reply-tabs > button", box).forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
    text.addEventListener("input", () => {
      if (attempted) { draftKey = newKey(); attempted = false; }  // an edited draft is a new reply
      if (!text.value.trim()) kbEntry = null;  // an emptied draft no longer carries the inserted answer
      replyError.textContent = "";
    });
    function say(message, isError) {
      replyError.textContent = message;
      replyError.classList.toggle("error", !!isError);
      replyError.classList.toggle("muted", !isError);
    }
    async function submit(status) {
      const body = text.value.trim();
      if (!body) { text.focus(); return; }
      if (sending) return;
      sending = true;
      const note = box.dataset.mode === "note";
      $$("#reply-state button").forEach((b) => { b.dataset.wasDisabled = b.disabled ? "1" : ""; b.disabled = true; });
      say(strings.sending, false);
      attempted = true;
      try {
        const result = note
          ? await window.hubApi("POST", api + "/notes", {text: body})
          : await window.hubApi("POST", api + "/replies", Object.assign({text: body}, status ? {status: status} : {},
                                                                   kbEntry ? {kb_entry_id: kbEntry} : {}),
                                {"Idempotency-Key": draftKey});
        if (result.ok) {
          text.value = "";
          if (!note) kbEntry = null;
          draftKey = newKey();
          attempted = false;
          say(note ? strings.noted : strings.sent, false);
          setTimeout(() => { if (replyError.textContent === strings.sent || replyError.textContent === strings.noted) say("", false); }, 3000);
          refreshTicket();
        } else {
          say(fill(strings.failed, {reason: errorText(result)}), true);
        }
      } catch (_) {
        say(strings.network, true);
      } finally {
        sending = false;
        $$("#reply-state button").forEach((b) => { b.disabled = b.dataset.wasDisabled === "1"; });
      }
    }
    box.addEventListener("click", (event) => {
      const send = event.target.closest("[data-send]");
      if (send && !send.disabled) submit(send.dataset.send || null);
      if (event.target.closest("[data-note-send]")) submit(null);
    });
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        const first = box.dataset.mode === "note" ? $("[data-note-send]", box) : $('[data-send=""]', box);
        if (first && !first.disabled) submit(null);
      }
    });

    // Insert a suggestion or a canned reply, then edit
    function insert(answer) {
      if (box.dataset.mode !== "reply") setMode("reply");
      text.value = text.value.trim() ? text.value.replace(/\s*$/, "\n") + answer : answer;
      text.dispatchEvent(new Event("input"));
      text.focus();
      text.setSelectionRange(text.value.length, text.value.length);
      $$("details.tool[open]").forEach((d) => d.removeAttribute("open"));
    }
    async function loadSuggestions() {
      const list = document.getElementById("suggestions");
      const count = document.getElementById("suggestion-count");
      const result = await window.hubApi("GET", page.dataset.suggestions);
      list.textContent = "";
      const line = (message) => { const li = document.createElement("li"); li.className = "muted"; li.textContent = message; list.appendChild(li); };
      if (result.status === 409) { line(strings.no_kb); return; }
      if (!result.ok) { line(errorText(result)); return; }
      if (!result.body.length) { line(strings.no_suggestions); return; }
      count.textContent = result.body.length;
      result.body.forEach((s) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.answer = s.answer || "";
        const q = document.createElement("span"); q.className = "q"; q.textContent = s.question || "";
        const pct = document.createElement("span"); pct.className = "muted";
        pct.textContent = " · " + fill(strings.confidence, {percent: Math.round((s.confidence || 0) * 100)});
        const a = document.createElement("span"); a.className = "a"; a.textContent = s.answer || "";
        button.dataset.entry = s.entry_id;
        button.append(q, pct, a);
        const mark = document.createElement("button");  // the explicit "this entry answers the fan's question"
        mark.type = "button";
        mark.className = "link mark-answer";
        mark.dataset.markEntry = s.entry_id;
        mark.textContent = strings.mark_answer;
        li.append(button, mark);
        list.appendChild(li);
      });
    }
    document.getElementById("suggestions").addEventListener("click", (event) => {
      const mark = event.target.closest("button[data-mark-entry]");
      if (mark) { markAnswer(mark); return; }
      const button = event.target.closest("button[data-answer]");
      if (button) { insert(button.dataset.answer); kbEntry = button.dataset.entry || null; }
    });
    async function markAnswer(mark) {
      mark.disabled = true;
      const result = await window.hubApi("POST", api + "/kb-answer", {kb_entry_id: mark.dataset.markEntry});
      if (result.ok) mark.textContent = strings.marked;
      else { mark.disabled = false; say(fill(strings.failed, {reason: errorText(result)}), true); }
    }
    loadSuggestions();
    const cannedList = document.getElementById("canned-list");
    cannedList.addEventListener("click", (event) => {
      const button = event.target.closest("[data-canned]");
      if (button) insert(button.dataset.canned);
    });
    document.getElementById("canned-filter").addEventListener("input", (event) => {
      const wanted = event.target.value.trim().toLowerCase();
      $$("li", cannedList).forEach((li) => { li.hidden = !!wanted && !li.textContent.toLowerCase().includes(wanted); });
    });

    // The ticket's actions
    const actionError = () => document.getElementById("action-error");
    async function act(path, body) {
      const result = await window.hubApi("POST", api + path, body);
      if (!result.ok) { actionError().textContent = fill(strings.failed, {reason: errorText(result)}); return result; }
      actionError().textContent = "";
      refreshTicket();
      refreshList();
      return result;
    }
    function resolve() {
      if ($('#ticket-actions [data-act="resolve"]') && window.confirm(strings.confirm_resolve)) act("/status", {status: "resolved"});
    }
    document.querySelector(".pane-conv").addEventListener("click", (event) => {
      const button = event.target.closest("#ticket-actions button[data-act]");
      if (!button) return;
      const what = button.dataset.act;
      if (what === "take") act("/assign", {agent: "me"});
      else if (what === "status") act("/status", {status: button.dataset.status});
      else if (what === "resolve") resolve();
    });
    document.querySelector(".pane-conv").addEventListener("submit", async (event) => {
      const form = event.target.closest("form[data-act]");
      if (!form) return;
      event.preventDefault();
      if (form.dataset.act === "transfer") {
        const agent = form.elements.agent.value, team = form.elements.team.value;
        if (!agent && !team) { actionError().textContent = strings.pick_target; return; }
        form.closest("details").removeAttribute("open");
        act("/transfer", agent ? {agent: agent} : {team: team});
      } else if (form.dataset.act === "merge") {
        const into = parseInt(form.elements.into.value, 10);
        if (!window.confirm(fill(strings.confirm_merge, {id: into}))) return;
        const result = await act("/merge", {into: into});
        if (result.ok) window.location.href = "/tickets/" + into;
      }
    });

    // Keys: r reply, n note, e resolve, J/K the next/previous ticket of the list
    function neighbour(step) {
      const all = rows();
      const at = all.findIndex((r) => parseInt(r.dataset.id, 10) === ticketId);
      const next = all[at < 0 ? 0 : at + step];
      openRow(next);
    }
    window.hubKeys.r = () => setMode("reply");
    window.hubKeys.n = () => setMode(box.dataset.mode === "note" ? "reply" : "note");
    window.hubKeys.e = resolve;
    window.hubKeys.J = () => neighbour(1);
    window.hubKeys.K = () => neighbour(-1);
    setInterval(refreshList, TIMERS_MS);
    window.hubAgent = {refreshTicket: refreshTicket, refreshList: refreshList};  // for tests and debugging
  }

  poll();
})();
