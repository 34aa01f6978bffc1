/* Portfolio flow charts: data from the "flow-chart" json_script tag; each has a table. */
(function () {
  "use strict";
  const C = window.PortfolioCharts;
  const d = C && C.data("flow-chart");
  if (!d) return;
  const pct = { scales: { y: { beginAtZero: true, max: 100, ticks: { callback: function (v) { return v + "%"; } } } } };
  C.bar("cohort-chart", d.cohorts.labels, [
    { label: "In production within 12 months", data: d.cohorts.within_12 },
    { label: "Killed", data: d.cohorts.killed },
    { label: "Still in pilot", data: d.cohorts.in_pilot },
  ], pct);
  C.bar("time-chart", d.time.labels, [
    { label: "Median days", data: d.time.median },
    { label: "90th percentile days", data: d.time.p90 },
  ], { scales: { y: { beginAtZero: true } } });
  C.bar("flow-funnel-chart", d.funnel.labels, [{ label: "Reached", data: d.funnel.reached }], { scales: { y: { beginAtZero: true } } });
})();
