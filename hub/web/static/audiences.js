// The audience builder (operator/audiences.html): chips and operator buttons insert at the caret, the count and a
// sample follow the expression as it is typed (debounced, POST /api/v1/audiences/preview), a syntax error is shown
// with its position marked; the CSV export streams with a progress bar (X-Total-Count gives the rows to expect);
// the push to a WeChat tag is a job whose progress is polled. Fan text is only ever set as textContent.
(function () {
  "use strict";
  const DEBOUNCE_MS = 300;
  const OPERATOR_WORDS = ["and", "or", "not", "且", "或", "非", "交", "并", "差"];

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? String(values[key]) : ""));
  }

  function quoted(name) {
    // A tag name that the parser would read otherwise goes in double quotes.
    if (/[\s()（）!&|"'“”‘’:<>=\\]/.test(name) || OPERATOR_WORDS.includes(name.toLowerCase())) {
      return '"' + name.replace(/["\\]/g, "\\$&") + '"';
    }
    return name;
  }

  function insertAtCaret(box, text) {
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    const before = box.value.slice(0, start);
    const after = box.value.slice(end);
    const lead = before && !/[\s(（]$/.test(before) && text !== ")" ? " " : "";
    const trail = after && !/^[\s)）]/.test(after) && text !== "(" ? " " : "";
    box.value = before + lead + text + trail + after;
    const caret = (before + lead + text).length;
    box.focus();
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", {bubbles: true}));
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function when(iso) {
    if (!iso) return "";
    const moment = new Date(iso.endsWith("Z") || /[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
    return isNaN(moment) ? iso : moment.toLocaleString();
  }

  function setup(root) {
    const box = document.getElementById("expression");
    const count = document.getElementById("count");
    const where = document.getElementById("where");
    const elapsed = document.getElementById("elapsed");
    const tbody = document.querySelector("#sample tbody");
    const t = root.dataset;
    let timer = null;
    let sequence = 0;

    function showError(expression, problem) {
      where.replaceChildren();
      const line = document.createElement("p");
      line.className = "error";
      line.textContent = fill(t.tError, {position: problem.position}) + " ";
      const detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent = problem.error;
      line.appendChild(detail);
      const marked = document.createElement("pre");
      marked.className = "marked";
      const mark = document.createElement("mark");
      mark.textContent = expression.charAt(problem.position) || " ";
      marked.append(expression.slice(0, problem.position), mark, expression.slice(problem.position + 1));
      where.append(line, marked);
    }

    function showSample(sample) {
      tbody.replaceChildren();
      if (!sample.length) {
        const row = document.createElement("tr");
        const td = document.createElement("td");
        td.colSpan = 4;
        td.className = "muted";
        td.textContent = t.tNone;
        row.appendChild(td);
        tbody.appendChild(row);
      }
      for (const fan of sample) {
        const row = document.createElement("tr");
        [String(fan.id), fan.display_name, when(fan.first_seen), when(fan.last_active)].forEach((v) => cell(row, v));
        tbody.appendChild(row);
      }
    }

    async function preview() {
      const expression = box.value;
      const mine = ++sequence;
      if (!expression.trim()) {
        count.textContent = "–";
        count.dataset.count = "";
        where.replaceChildren();
        return;
      }
      count.classList.add("busy");
      elapsed.textContent = t.tCounting;
      const answer = await window.hubApi("POST", root.dataset.previewUrl, {expression, sample: 20});
      if (mine !== sequence) return; // a newer edit is on its way
      count.classList.remove("busy");
      elapsed.textContent = "";
      if (answer.ok) {
        where.replaceChildren();
        count.textContent = String(answer.body.count);
        count.dataset.count = String(answer.body.count);
        elapsed.textContent = `(${answer.body.elapsed_ms} ms)`;
        showSample(answer.body.sample);
      } else if (answer.status === 400 && answer.body && typeof answer.body.position === "number") {
        count.textContent = "–";
        count.dataset.count = "";
        showError(expression, answer.body);
      } else {
        count.textContent = "–";
        count.dataset.count = "";
        where.replaceChildren();
        const line = document.createElement("p");
        line.className = "error";
        line.textContent = fill(t.tFailed, {reason: (answer.body && answer.body.error) || answer.status});
        where.appendChild(line);
      }
    }

    box.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(preview, DEBOUNCE_MS);
    });
    root.querySelectorAll("[data-insert]").forEach((button) => {
      button.addEventListener("click", () => {
        const text = button.dataset.insert;
        insertAtCaret(box, button.dataset.kind === "tag" ? quoted(text) : text);
      });
    });
    const clear = document.getElementById("clear-expression");
    clear.addEventListener("click", () => {
      box.value = "";
      box.focus();
      box.dispatchEvent(new Event("input", {bubbles: true}));
    });
    setupExport(t);
    setupPush(t);
  }

  function setupExport(t) {
    const link = document.getElementById("export-csv");
    if (!link) return;
    const bar = document.getElementById("export-progress");
    const status = document.getElementById("export-status");
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      bar.hidden = false;
      bar.value = 0;
      status.textContent = "";
      const response = await fetch(link.href, {credentials: "same-origin"});
      if (!response.ok) {
        status.textContent = fill(t.tFailed, {reason: response.status});
        return;
      }
      const total = Number(response.headers.get("X-Total-Count") || "0");
      bar.max = Math.max(total, 1);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const parts = [];
      let lines = 0;
      for (;;) {
        const {done, value} = await reader.read();
        if (done) break;
        parts.push(value);
        lines += (decoder.decode(value, {stream: true}).match(/\n/g) || []).length;
        bar.value = Math.min(Math.max(lines - 1, 0), bar.max);
        status.textContent = `${Math.min(Math.max(lines - 1, 0), total)} / ${total}`;
      }
      bar.value = bar.max;
      status.textContent = fill(t.tExported, {rows: total});
      const url = URL.createObjectURL(new Blob(parts, {type: "text/csv"}));
      const save = document.createElement("a");
      save.href = url;
      save.download = link.getAttribute("download") || "audience.csv";
      document.body.appendChild(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    });
  }

  function setupPush(t) {
    const form = document.getElementById("push-form");
    if (!form) return;
    const bar = document.getElementById("push-progress");
    const report = document.getElementById("push-report");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      report.replaceChildren();
      const account = document.getElementById("push-account").value;
      const body = {tag: document.getElementById("push-tag").value.trim()};
      if (account) body.account = account;
      const answer = await window.hubApi("POST", form.dataset.url, body);
      if (!answer.ok) {
        report.textContent = fill(t.tFailed, {reason: (answer.body && answer.body.error) || answer.status});
        return;
      }
      bar.hidden = false;
      const poll = async () => {
        const state = await window.hubApi("GET", answer.body.status_url);
        const job = state.body && state.body.job;
        if (job && job.progress) {
          bar.max = Math.max(job.progress.total, 1);
          bar.value = job.progress.done;
          report.textContent = fill(t.tPushing, job.progress);
        }
        if (job && (job.status === "finished" || job.status === "failed")) {
          showReport(state.body.report, job.status);
          return;
        }
        setTimeout(poll, 700);
      };
      poll();
    });

    function showReport(result, status) {
      report.replaceChildren();
      if (!result || status === "failed") {
        report.textContent = fill(t.tFailed, {reason: status});
        return;
      }
      bar.value = bar.max;
      const summary = document.createElement("p");
      summary.id = "push-summary";
      summary.textContent = fill(t.tPushed, {tagged: result.tagged, missing: result.not_synced.length,
                                             absent: result.not_on_account});
      report.appendChild(summary);
      if (result.not_synced.length) {
        const list = document.createElement("ul");
        for (const item of result.not_synced.slice(0, 100)) {
          const li = document.createElement("li");
          li.textContent = `${item.openid || item.account || ""}: ${item.reason}`;
          list.appendChild(li);
        }
        report.appendChild(list);
      }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("builder");
    if (root) setup(root);
  });
})();
