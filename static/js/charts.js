/* Small Chart.js helpers shared by dashboards. Data comes from json_script tags. */
(function () {
  "use strict";
  const PALETTE = ["#0b5cad", "#f59e0b", "#10b981", "#6366f1", "#ef4444", "#14b8a6", "#8b5cf6", "#64748b", "#ec4899"];

  function data(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function moneyTick(currency) {
    return function (value) {
      const n = Number(value);
      const abs = Math.abs(n);
      let text = abs >= 1e6 ? (n / 1e6).toFixed(1) + "M" : abs >= 1e3 ? (n / 1e3).toFixed(0) + "k" : String(n);
      return currency ? currency + " " + text : text;
    };
  }

  function hasData(config) {
    return (config.data.datasets || []).some(function (d) {
      return (d.data || []).some(function (v) { return v !== null && v !== undefined && Number(v) !== 0; });
    });
  }

  // A chart with nothing to draw says why instead of showing empty axes: the canvas's
  // data-empty attribute, or a general sentence.
  function sayEmpty(canvas) {
    const note = document.createElement("p");
    note.className = "chart-empty text-body-secondary small mb-0";
    note.setAttribute("role", "note");
    note.textContent = canvas.dataset.empty || "Nothing to draw yet: no figures have been recorded for this chart.";
    const box = canvas.closest(".chart-box") || canvas;
    box.replaceWith(note);
  }

  function make(canvasId, config) {
    const canvas = document.getElementById(canvasId);
    if (!canvas || typeof Chart === "undefined") return null;
    if (!hasData(config)) {
      sayEmpty(canvas);
      return null;
    }
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    return new Chart(canvas, config);
  }

  window.PortfolioCharts = {
    PALETTE: PALETTE,
    data: data,
    moneyTick: moneyTick,
    make: make,
    bar: function (canvasId, labels, datasets, opts) {
      datasets.forEach(function (d, i) { d.backgroundColor = d.backgroundColor || PALETTE[i % PALETTE.length]; });
      return make(canvasId, { type: "bar", data: { labels: labels, datasets: datasets }, options: opts || {} });
    },
    line: function (canvasId, labels, datasets, opts) {
      datasets.forEach(function (d, i) {
        d.borderColor = d.borderColor || PALETTE[i % PALETTE.length];
        d.backgroundColor = d.backgroundColor || d.borderColor;
        d.tension = d.tension === undefined ? 0.25 : d.tension;
      });
      return make(canvasId, { type: "line", data: { labels: labels, datasets: datasets }, options: opts || {} });
    },
    doughnut: function (canvasId, labels, values, opts) {
      return make(canvasId, {
        type: "doughnut",
        data: { labels: labels, datasets: [{ data: values, backgroundColor: PALETTE.slice(0, values.length) }] },
        options: opts || {},
      });
    },
  };
})();
