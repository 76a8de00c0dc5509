/* The dashboards' charts (uPlot, vendored): each chart's data is in its data-chart attribute,
   the same figures as the table beside it. */
"use strict";
var SteleCharts = (function () {
  function width(node) { return Math.max(280, Math.min(900, node.clientWidth || 600)); }

  function line(node, xs, ys, label, opts) {
    if (!node || !xs.length) return null;
    var o = Object.assign({
      width: width(node), height: 220,
      series: [{}, {label: label, stroke: "#1f5fa8", width: 2, fill: "rgba(31,95,168,0.08)"}],
      axes: [{}, {}]
    }, opts || {});
    return new uPlot(o, [xs, ys], node);
  }

  function init() {
    var growth = document.getElementById("growth-chart");
    if (growth) {
      var g = JSON.parse(growth.dataset.chart);
      line(growth, g.times, g.sizes, "size");
      line(document.getElementById("rate-chart"), g.hours, g.rate, "checkpoints/h",
           {series: [{}, {label: "checkpoints/h", stroke: "#7a3e9d", width: 2,
                          paths: uPlot.paths.bars({size: [0.6, 40]})}]});
    }
    var expiry = document.getElementById("expiry-chart");
    if (expiry) {
      var e = JSON.parse(expiry.dataset.chart);
      // One point per anchor at its expiry date; its height is how many records rest on it.
      line(expiry, e.ends, e.records, "records", {
        series: [{}, {label: "records", stroke: "#b3261e", width: 0,
                      points: {show: true, size: 10, fill: "#b3261e"}}],
        scales: {x: {time: true, range: [e.now, e.now + 365 * 86400]}}
      });
    }
  }

  document.addEventListener("DOMContentLoaded", init);
  return {line: line};
})();
