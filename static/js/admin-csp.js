// Flask-Admin's stock templates use inline onclick handlers and javascript:
// links, which the Content-Security-Policy forbids; crm/admin/csp_templates.py
// rewrites them into data attributes, and these listeners do the same work.
document.addEventListener("click", function (event) {
  var action = event.target.closest("[data-crm-action]");
  if (action) {
    event.preventDefault();
    window.modelActions.execute(action.getAttribute("data-crm-action"));
    return;
  }
  if (event.target.closest("[data-crm-noop]")) {
    event.preventDefault(); // was href="javascript:void(0)" or onclick="return false;"
  }
  var confirmable = event.target.closest("[data-crm-confirm]");
  if (confirmable && !window.confirm(confirmable.getAttribute("data-crm-confirm"))) {
    event.preventDefault();
  }
});
