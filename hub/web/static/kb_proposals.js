// The operator's knowledge-base proposals: a "select all" box ticks or clears every proposal of its table, and
// shows itself half-ticked while only some are chosen.
(function () {
  "use strict";
  document.querySelectorAll("form[data-select-all-scope]").forEach((form) => {
    const all = form.querySelector("input[data-select-all]");
    if (!all) return;
    const boxes = () => Array.from(form.querySelectorAll('input[type="checkbox"][name="ids"]'));
    all.addEventListener("change", () => { boxes().forEach((box) => { box.checked = all.checked; }); });
    form.addEventListener("change", (event) => {
      if (event.target === all) return;
      const ticked = boxes().filter((box) => box.checked).length;
      all.checked = ticked > 0 && ticked === boxes().length;
      all.indeterminate = ticked > 0 && ticked < boxes().length;
    });
  });
})();
