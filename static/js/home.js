/* Home dashboard charts. Data: the "home-chart" json_script. */
(function () {
  "use strict";
  const PC = window.PortfolioCharts;
  if (!PC) return;
  const d = PC.data("home-chart");
  if (!d) return;
  const money = PC.moneyTick(d.currency);
  const moneyLabel = function (ctx) { return ctx.dataset.label + ": " + money(ctx.parsed.y !== undefined && ctx.chart.options.indexAxis !== "y" ? ctx.parsed.y : ctx.parsed.x); };

  if (d.funnel && document.getElementById("funnel-chart")) {
    const datasets = [{ label: "Initiatives", data: d.funnel.counts, backgroundColor: "#0b5cad", xAxisID: "x" }];
    const scales = { x: { position: "bottom", title: { display: true, text: "Initiatives" }, ticks: { precision: 0 } }, y: { grid: { display: false } } };
    if (d.funnel.spend) {
      datasets.push({ label: "Spend this year", data: d.funnel.spend, backgroundColor: "#f59e0b", xAxisID: "x2" });
      scales.x2 = { position: "top", grid: { drawOnChartArea: false }, title: { display: true, text: "Spend (" + d.currency + ")" }, ticks: { callback: money } };
    }
    PC.make("funnel-chart", {
      type: "bar",
      data: { labels: d.funnel.labels, datasets: datasets },
      options: {
        indexAxis: "y", scales: scales,
        plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.xAxisID === "x2" ? ctx.dataset.label + ": " + money(ctx.parsed.x) : ctx.dataset.label + ": " + ctx.parsed.x; } } } },
      },
    });
  }

  if (d.mix && document.getElementById("mix-chart")) {
    PC.make("mix-chart", {
      type: "bar",
      data: {
        labels: d.mix.labels,
        datasets: [
          // order: the line (1) is drawn over the bars (2), never hidden behind them.
          { type: "bar", label: "One-time", data: d.mix.one_time, backgroundColor: "#f59e0b", stack: "s", yAxisID: "y", order: 2 },
          { type: "bar", label: "Operational", data: d.mix.operational, backgroundColor: "#0b5cad", stack: "s", yAxisID: "y", order: 2 },
          { type: "line", label: "Operational share (%)", data: d.mix.share, borderColor: "#047857", backgroundColor: "#047857", borderWidth: 3, pointRadius: 3, yAxisID: "y2", tension: 0.25, order: 1 },
        ],
      },
      options: {
        scales: {
          x: { stacked: true }, y: { stacked: true, ticks: { callback: money } },
          y2: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, ticks: { callback: function (v) { return v + "%"; } } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  if (d.value && document.getElementById("value-chart")) {
    PC.bar("value-chart", d.value.labels, [
      { label: "Cost to date", data: d.value.cost, backgroundColor: "#94a3b8" },
      { label: "Value realised", data: d.value.value, backgroundColor: "#10b981" },
    ], { scales: { y: { ticks: { callback: money } } }, plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: moneyLabel } } } });
  }

  if (d.units && document.getElementById("units-chart")) {
    PC.bar("units-chart", d.units.labels, [
      { label: "Approved budget", data: d.units.budget, backgroundColor: "#94a3b8" },
      { label: "Actual", data: d.units.actual, backgroundColor: "#0b5cad" },
      { label: "Year-end forecast", data: d.units.forecast, backgroundColor: "#f59e0b" },
    ], { scales: { y: { ticks: { callback: money } } }, plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: moneyLabel } } } });
  }

  if (d.categories && document.getElementById("categories-chart")) {
    PC.bar("categories-chart", d.categories.labels, [
      { label: "Approved budget", data: d.categories.budget, backgroundColor: "#94a3b8" },
      { label: "Actual", data: d.categories.actual, backgroundColor: "#0b5cad" },
    ], { indexAxis: "y", scales: { x: { ticks: { callback: money } } }, plugins: { legend: { position: "bottom" } } });
  }
})();
