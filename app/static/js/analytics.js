// The analytics dashboard's charts: each <canvas data-chart="line|bar" data-series='{…}'>
// is drawn by Chart.js (vendored) from the numbers the server put in data-series.
(function () {
  "use strict";

  var COLOURS = ["#5b4fd6", "#1f9d8b", "#e0793a", "#c2417a", "#3b82c4", "#8a9a2b", "#7a5230"];

  function draw(canvas) {
    var series;
    try {
      series = JSON.parse(canvas.getAttribute("data-series"));
    } catch (error) {
      return;
    }
    var kind = canvas.getAttribute("data-chart") === "bar" ? "bar" : "line";
    series.datasets.forEach(function (set, n) {
      var colour = COLOURS[n % COLOURS.length];
      set.borderColor = colour;
      set.backgroundColor = kind === "bar" ? colour + "cc" : colour + "22";
      set.borderWidth = 2;
      set.pointRadius = series.labels.length > 31 ? 0 : 2;
      set.tension = 0; // straight segments: counts per day, no invented curve between them
      set.spanGaps = true;
    });
    var percent = kind === "bar";
    new window.Chart(canvas, {
      type: kind,
      data: series,
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: kind === "line", position: "bottom", labels: { boxWidth: 12 } },
        },
        scales: {
          x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } },
          y: percent
            ? { beginAtZero: true, max: 100, ticks: { callback: function (v) { return v + "%"; } } }
            : { beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    });
  }

  function start() {
    if (!window.Chart) return;
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
