/* Charts on the initiative detail page (KPI trends, spend mix). */
(function () {
  "use strict";
  const PC = window.PortfolioCharts;
  if (!PC) return;
  const kpis = PC.data("kpi-charts") || [];
  kpis.forEach(function (k) {
    const labels = k.points.map(function (p) { return p[0]; });
    const flat = function (v) { return labels.map(function () { return v; }); };
    const datasets = [{ label: "Actual (" + k.unit + ")", data: k.points.map(function (p) { return p[1]; }), pointRadius: 3 }];
    if (k.baseline !== null) datasets.push({ label: "Baseline", data: flat(k.baseline), borderDash: [6, 4], pointRadius: 0, borderColor: "#64748b" });
    if (k.target !== null) datasets.push({ label: "Target", data: flat(k.target), borderDash: [2, 3], pointRadius: 0, borderColor: "#10b981" });
    PC.line("kpi-chart-" + k.id, labels, datasets, { plugins: { legend: { position: "bottom" } } });
  });
  const months = PC.data("month-chart");
  if (months) {
    PC.bar("spend-mix-chart", months.labels, [
      { label: "One-time", data: months.one_time, backgroundColor: "#f59e0b" },
      { label: "Operational", data: months.operational, backgroundColor: "#0b5cad" },
    ], { scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: PC.moneyTick(months.currency) } } }, plugins: { legend: { position: "bottom" } } });
  }
})();
