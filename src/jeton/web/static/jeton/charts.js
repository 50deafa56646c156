// Draws every <canvas data-chart="ID"> from the JSON in <script type="application/json" id="ID">:
// {"type": "bar" | "line", "label": "...", "labels": [...], "values": [...]}, or, for several
// series on one chart, {"type", "labels", "series": [{"label": "...", "values": [...]}, ...]}.
// Pages keep the same figures in a table, so the chart is an extra, never the only copy.
(function () {
  "use strict";

  // Distinct in hue and in lightness, so the series tell apart in grey and for colour-blind eyes.
  var COLOURS = ["#2249c9", "#c2410c", "#15803d", "#7e22ce", "#475569"];

  function datasets(spec) {
    var series = spec.series || [{ label: spec.label, values: spec.values }];
    return series.map(function (one, i) {
      var colour = COLOURS[i % COLOURS.length];
      return {
        label: one.label,
        data: one.values,
        backgroundColor: colour,
        borderColor: colour,
        pointRadius: 2,
      };
    });
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof window.Chart !== "function") {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    new window.Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: spec.labels, datasets: datasets(spec) },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reduceMotion ? false : undefined,
        plugins: { legend: { display: Boolean(spec.series && spec.series.length > 1) } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }

  function drawAll() {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
