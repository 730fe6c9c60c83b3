// The funnel page: draw the server-built Plotly figure; a click on a stage opens
// the lead list filtered to that stage (the table's links do the same by keyboard).
(function () {
  "use strict";
  var holder = document.getElementById("funnel-chart");
  var data = document.getElementById("funnel-figure");
  if (!holder || !data || !window.Plotly) { return; }
  var figure = JSON.parse(data.textContent);
  var urls = JSON.parse(document.getElementById("funnel-urls").textContent);
  window.Plotly.newPlot(holder, figure.data, figure.layout, {displayModeBar: false, responsive: true});
  var cohorts = document.getElementById("cohort-figure");
  var cohortHolder = document.getElementById("cohort-chart");
  if (cohorts && cohortHolder) {
    var cohortFigure = JSON.parse(cohorts.textContent);
    window.Plotly.newPlot(cohortHolder, cohortFigure.data, cohortFigure.layout, {displayModeBar: false, responsive: true});
  }
  holder.on("plotly_click", function (event) {
    var point = event.points && event.points[0];
    var url = point && urls[String(point.customdata)];
    if (url) { window.location.assign(url); }
  });
})();
