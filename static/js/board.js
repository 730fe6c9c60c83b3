// The board: native HTML5 drag and drop. Dropping a card on another column posts the
// move (with the CSRF token) and reloads the board, so totals and order stay true.
// Each card's stage selector does the same without a mouse (a plain form post).
// Columns load more cards on request ("Show 20 more").
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) { return; }
  var dragged = null;

  // "Show 20 more": the column's next cards after its last one, from the server.
  board.addEventListener("click", function (event) {
    var button = event.target.closest(".board-more");
    if (!button) { return; }
    var item = button.closest("li");
    button.disabled = true;
    button.textContent = "Loading…";
    fetch(button.getAttribute("data-url"), {credentials: "same-origin"}).then(function (response) {
      if (!response.ok) { throw new Error(response.status); }
      return response.text();
    }).then(function (html) {
      item.insertAdjacentHTML("beforebegin", html);
      item.remove();
    }).catch(function () {
      button.disabled = false;
      button.textContent = "Could not load more cards; try again";
    });
  });

  board.addEventListener("dragstart", function (event) {
    dragged = event.target.closest(".board-card");
    if (!dragged) { return; }
    event.dataTransfer.setData("text/plain", dragged.getAttribute("data-lead"));
    event.dataTransfer.effectAllowed = "move";
    dragged.classList.add("dragging");
  });
  board.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
  });
  board.addEventListener("dragover", function (event) {
    var column = event.target.closest(".board-column");
    if (!column || !dragged) { return; }
    event.preventDefault();  // allow the drop
    event.dataTransfer.dropEffect = "move";
    board.querySelectorAll(".drop-target").forEach(function (c) {
      if (c !== column) { c.classList.remove("drop-target"); }
    });
    column.classList.add("drop-target");
  });
  board.addEventListener("drop", function (event) {
    var column = event.target.closest(".board-column");
    if (!column || !dragged) { return; }
    event.preventDefault();
    var from = dragged.closest(".board-column");
    if (from === column) { return; }
    column.querySelector(".board-cards").prepend(dragged);  // show it moved at once
    var body = new URLSearchParams();
    body.set("lead", dragged.getAttribute("data-lead"));
    body.set("stage", column.getAttribute("data-stage"));
    body.set("csrf_token", board.getAttribute("data-csrf"));
    fetch(board.getAttribute("data-move-url"), {
      method: "POST",
      headers: {"Accept": "application/json", "X-CSRFToken": board.getAttribute("data-csrf")},
      body: body,
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().catch(function () { return {ok: false}; }).then(function (data) {
        if (!response.ok || !data.ok) {
          from.querySelector(".board-cards").prepend(dragged);
          window.alert((data && data.message) || "The lead could not be moved; reload and try again.");
          return;
        }
        window.location.reload();
      });
    });
  });
})();
