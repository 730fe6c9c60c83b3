// Flask-Admin's stock templates use inline onclick handlers, which the
// Content-Security-Policy forbids; the overridden templates carry data
// attributes instead and these listeners do the same work.
document.addEventListener("click", function (event) {
  var action = event.target.closest("[data-crm-action]");
  if (action) {
    event.preventDefault();
    window.modelActions.execute(action.getAttribute("data-crm-action"));
    return;
  }
  if (event.target.closest("a.filter, a[href='#'][data-toggle]")) {
    event.preventDefault(); // the stock templates' onclick="return false;"
  }
  var confirmable = event.target.closest("[data-crm-confirm]");
  if (confirmable && !window.confirm(confirmable.getAttribute("data-crm-confirm"))) {
    event.preventDefault();
  }
});
