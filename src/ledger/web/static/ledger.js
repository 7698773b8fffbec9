// ledger pages: the breach board fetches the page of it shown again every few seconds (never
// the whole board), so it follows the ledger without the page being reloaded; a board for an
// instant (data-refresh="0") does not change and is not fetched again. Nothing else runs here.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) {
    return;
  }
  var source = board.getAttribute("data-source");
  var seconds = Number(board.getAttribute("data-refresh"));
  if (seconds === 0) {
    return;
  }
  var every = Math.max(seconds || 5, 1) * 1000;
  var status = document.getElementById("board-status");

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function refresh() {
    fetch(source, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign("/signin?next=/ops");
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        if (html !== null) {
          board.innerHTML = html;  // the server's own HTML, every value escaped there
          say("Updated at " + new Date().toLocaleTimeString() + "; refreshes every " + every / 1000 + " seconds.");
        }
      })
      .catch(function (error) {
        say("Could not refresh (" + error.message + "); trying again.");
      })
      .then(function () {
        window.setTimeout(refresh, every);
      });
  }

  window.setTimeout(refresh, every);
})();
