/* The business-unit page's stage funnel (data from the "home-chart" json_script tag). */
(function () {
  "use strict";
  const d = window.PortfolioCharts && window.PortfolioCharts.data("home-chart");
  if (!d) return;
  window.PortfolioCharts.bar("funnel-chart", d.labels, [{ label: "Initiatives", data: d.counts }], {
    indexAxis: "y",
    plugins: { legend: { display: false } },
    scales: { x: { ticks: { precision: 0 } } },
  });
})();
