// Draw the server-built Plotly figures on a page: each <script type="application/json"
// id="X-figure"> goes into the element with id "X-chart".
(function () {
  "use strict";
  if (!window.Plotly) { return; }
  document.querySelectorAll('script[type="application/json"][id$="-figure"]').forEach(function (data) {
    var holder = document.getElementById(data.id.replace(/-figure$/, "-chart"));
    if (!holder) { return; }
    var figure = JSON.parse(data.textContent);
    window.Plotly.newPlot(holder, figure.data, figure.layout, {displayModeBar: false, responsive: true});
  });
})();
