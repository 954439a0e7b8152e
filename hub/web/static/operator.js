// The operator's labelling page by keyboard: 1–9 choose a label of the current message, Enter confirms it,
// j and k move to the next and previous message (registered in window.hubKeys, see console.js).
(function () {
  "use strict";
  const items = () => Array.from(document.querySelectorAll("form.label-item"));
  let current = 0;

  function focus(index) {
    const all = items();
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((form, i) => form.classList.toggle("current", i === current));
    all[current].scrollIntoView({block: "nearest"});
  }

  function choose(key) {
    const form = items()[current];
    if (!form) return;
    const button = form.querySelector(`button[data-key="${key}"]`);
    if (!button) return;
    form.querySelectorAll("button[name=label]").forEach((b) => {
      const on = b === button;
      b.classList.toggle("selected", on);
      b.classList.toggle("primary", on);
      b.classList.toggle("secondary", !on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  function confirm() {
    const form = items()[current];
    const button = form && form.querySelector("button.selected");
    if (button) button.click();
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!items().length) return;
    window.hubKeys = window.hubKeys || {};
    for (let n = 1; n <= 9; n++) window.hubKeys[String(n)] = () => choose(String(n));
    window.hubKeys.Enter = confirm;
    window.hubKeys.j = () => focus(current + 1);
    window.hubKeys.k = () => focus(current - 1);
    items().forEach((form, i) => form.addEventListener("click", () => focus(i)));
    focus(0);
  });
})();
