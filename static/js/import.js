// CSV import: while the server validates and imports (about 15 s for 100,000 rows),
// say so and keep the form from being sent twice.
(function () {
  "use strict";
  document.querySelectorAll("form[data-import-form]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      var status = form.querySelector("[data-import-status]");
      if (button) {
        button.disabled = true;
        button.textContent = button.dataset.busy || "Working…";
      }
      if (status) {
        status.hidden = false;
      }
    });
  });
})();
