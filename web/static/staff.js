// bindery staff console: the slip's print button. Every action works
// without this script (Ctrl+P prints the slip just the same).
(function () {
  "use strict";
  var b = document.getElementById("print");
  if (b) {
    b.hidden = false;
    b.addEventListener("click", function () { window.print(); });
  }
  // After a refused form, bring the error summary into focus.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
