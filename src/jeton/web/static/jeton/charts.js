// Draws every <canvas data-chart="ID"> from the JSON in <script type="application/json" id="ID">:
// {"type": "bar" | "line", "label": "...", "labels": [...], "values": [...]}.
// Pages keep the same figures in a table, so the chart is an extra, never the only copy.
(function () {
  "use strict";

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof window.Chart !== "function") {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    new window.Chart(canvas, {
      type: spec.type || "bar",
      data: {
        labels: spec.labels,
        datasets: [{
          label: spec.label,
          data: spec.values,
          backgroundColor: "#2249c9",
          borderColor: "#2249c9",
        }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reduceMotion ? false : undefined,
        plugins: { legend: { display: false } },
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
