// ledger pages: the breach board fetches the page of it shown again every few seconds (never
// the whole board), so it follows the ledger without the page being reloaded; the wall above it
// (counters, next to breach, figures: #wall) is fetched the same way. A part is replaced only
// when its HTML changed (no flicker). A board for an instant (data-refresh="0") does not change
// and is not fetched again. Nothing else runs here.
(function () {
  "use strict";
  var status = document.getElementById("board-status");

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function follow(part, reports) {
    if (!part) {
      return;
    }
    var source = part.getAttribute("data-source");
    var seconds = Number(part.getAttribute("data-refresh"));
    if (!source || seconds === 0) {
      return;
    }
    var every = Math.max(seconds || 5, 1) * 1000;
    var shown = null;

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
            if (html !== shown) {
              part.innerHTML = html;  // the server's own HTML, every value escaped there
              shown = html;
            }
            if (reports) {
              say("Updated at " + new Date().toLocaleTimeString() + "; refreshes every " + every / 1000 + " seconds.");
            }
          }
        })
        .catch(function (error) {
          if (reports) {
            say("Could not refresh (" + error.message + "); trying again.");
          }
        })
        .then(function () {
          window.setTimeout(refresh, every);
        });
    }

    window.setTimeout(refresh, every);
  }

  follow(document.getElementById("board"), true);
  follow(document.getElementById("wall"), false);
})();
