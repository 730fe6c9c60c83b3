// CSV import, step 3: poll the job's progress every second and move the bar; once the
// job is over, reload so the page shows its result.
(function () {
  "use strict";
  var card = document.getElementById("import-status");
  if (!card || card.dataset.over === "yes") {
    return;
  }
  var bar = document.getElementById("import-progress");
  var step = document.getElementById("import-step");
  var count = document.getElementById("import-count");
  var format = new Intl.NumberFormat();
  function poll() {
    fetch(card.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.json();
      })
      .then(function (job) {
        if (job.over) {
          window.location.reload();
          return;
        }
        if (job.total && bar) {
          bar.max = job.total;
          bar.value = job.done;
          count.textContent = format.format(job.done) + " of " + format.format(job.total) + " rows";
        }
        if (step && step.firstChild) {
          step.firstChild.textContent = (job.status === "todo" ? "Waiting for a worker…" : job.step || "Starting") + " ";
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        window.setTimeout(poll, 5000); // the server is busy or restarting: try again later
      });
  }
  window.setTimeout(poll, 1000);
})();
