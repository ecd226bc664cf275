// The report form's "Working…" state. Everything here is an extra: with
// scripts off the form posts as usual and the result page shows progress.
"use strict";

(function () {
  var COOKIE = "hole_download";

  function randomToken() {
    var bytes = new Uint8Array(8);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function readCookie(name) {
    var parts = document.cookie.split("; ");
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].indexOf(name + "=") === 0) return parts[i].slice(name.length + 1);
    }
    return null;
  }

  function setUp(form) {
    var working = document.getElementById("working");
    var cancel = document.getElementById("cancel");
    var submit = form.querySelector("button[type=submit]");
    var tokenInput = form.querySelector("input[name=download_token]");
    if (!working || !cancel || !submit) return;
    var poll = null;

    function idle() {
      working.hidden = true;
      submit.disabled = false;
      if (poll !== null) window.clearInterval(poll);
      poll = null;
    }

    form.addEventListener("submit", function () {
      working.hidden = false;
      // Disabled after this tick, so the browser still posts the form.
      window.setTimeout(function () { submit.disabled = true; }, 0);
      if (tokenInput) {
        var token = randomToken();
        tokenInput.value = token;
        // A download leaves this page in place: the server's cookie says
        // the file has started, and the form is usable again.
        poll = window.setInterval(function () {
          if (readCookie(COOKIE) === token) {
            document.cookie = COOKIE + "=; Max-Age=0; Path=/; SameSite=Lax";
            idle();
          }
        }, 500);
      }
    });

    cancel.addEventListener("click", function () {
      // Stopping the page load closes the connection; the server then
      // cancels the job.
      window.stop();
      idle();
      var first = form.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
    });

    // Coming back to this page (browser Back) must not show a stale state.
    window.addEventListener("pageshow", idle);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form.report-form");
    for (var i = 0; i < forms.length; i++) setUp(forms[i]);
  });
})();
