// The operator's dashboards: fetch the dashboard's tables from the API (the page's data-url, with its filters)
// and draw each chart with ECharts (vendor/echarts). A table is {id, kind, columns, labels, rows, secondary,
// hidden}: the first column is the category axis; secondary columns (rates, averages) are lines on a second axis.
(function () {
  "use strict";
  const root = document.getElementById("dashboards");
  if (!root || !window.echarts) return;
  const status = document.getElementById("dash-status");

  function series(table, index, kind) {
    const column = table.columns[index];
    const secondary = table.secondary.includes(column);
    const type = secondary || kind === "line" ? "line" : "bar";
    const item = {
      name: table.labels[index], type, connectNulls: false,
      data: table.rows.map((row) => row[index]),
    };
    if (secondary) item.yAxisIndex = 1;
    if (kind === "stacked" && !secondary) item.stack = "total";
    if (type === "line") item.showSymbol = table.rows.length <= 45;
    return item;
  }

  function option(table) {
    const drawn = table.columns.map((c, i) => i).filter((i) => i > 0 && !table.hidden.includes(table.columns[i]));
    const categories = table.rows.map((row) => String(row[0]));
    const horizontal = table.kind === "hbar";
    const values = [{type: "value", minInterval: 1}];
    if (drawn.some((i) => table.secondary.includes(table.columns[i]))) values.push({type: "value", splitLine: {show: false}});
    const category = {type: "category", data: categories, axisLabel: {hideOverlap: true}};
    return {
      animation: false,
      tooltip: {trigger: "axis"},
      legend: {type: "scroll", top: 0},
      grid: {left: horizontal ? 110 : 50, right: values.length > 1 ? 50 : 20, top: 40, bottom: 30},
      xAxis: horizontal ? values[0] : category,
      yAxis: horizontal ? {...category, inverse: true} : values,
      series: drawn.map((i) => series(table, i, table.kind)),
    };
  }

  function draw(table) {
    const element = root.querySelector(`[data-chart="${CSS.escape(table.id)}"]`);
    if (!element) return;
    const empty = table.rows.length === 0;
    element.toggleAttribute("data-empty", empty);
    if (empty) {
      const chart = echarts.getInstanceByDom(element);
      if (chart) chart.dispose();
      element.textContent = "";
      const note = document.createElement("p");
      note.className = "empty";
      note.textContent = root.dataset.empty;
      element.appendChild(note);
      return;
    }
    const chart = echarts.getInstanceByDom(element) || echarts.init(element);
    chart.setOption(option(table), true);
  }

  async function load() {
    const response = await fetch(root.dataset.url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    if (!response.ok) {
      status.textContent = root.dataset.failed;
      return;
    }
    const body = await response.json();
    body.charts.forEach(draw);
    const refreshed = document.getElementById("dash-refreshed");
    if (!body.refreshed_at) status.textContent = root.dataset.building;
    if (refreshed && body.refreshed_at) {
      refreshed.textContent = `${refreshed.dataset.label} ${new Date(body.refreshed_at).toLocaleString()}`;
    }
    root.dataset.loaded = "1";
  }

  window.addEventListener("resize", () => {
    root.querySelectorAll("[data-chart]").forEach((element) => {
      const chart = echarts.getInstanceByDom(element);
      if (chart) chart.resize();
    });
  });
  load().catch(() => { status.textContent = root.dataset.failed; });
})();
