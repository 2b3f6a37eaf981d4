// assay console: live updates. Every page works without this script; with it,
// each element marked data-live (and with an id) is refreshed from the same
// page every [ui] refresh_secs, leaving forms being filled in untouched.
(function () {
  "use strict";
  var secs = Number(document.body.getAttribute("data-refresh") || 0);
  var live = document.querySelectorAll("[data-live][id]");
  if (!secs || live.length === 0) return;
  var status = document.getElementById("updated");
  function tick() {
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Assay-Live": "1" } })
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh && fresh.innerHTML !== el.innerHTML) el.innerHTML = fresh.innerHTML;
        });
        if (status) status.textContent = "Live: updated " + new Date().toLocaleTimeString() + ".";
      })
      .catch(function (e) {
        if (status) status.textContent = "Live updates paused: " + e.message + ". Reload the page to retry.";
      })
      .finally(function () { window.setTimeout(tick, secs * 1000); });
  }
  window.setTimeout(tick, secs * 1000);
})();
