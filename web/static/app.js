// bindery PIN pages: live hints for the PIN rules while typing. The page
// works without this script; the server's check is the one that counts.
// The rules come from the form's data-* attributes (the server's
// [pin_policy]), and mirror pinstore.Policy.Check.
(function () {
  "use strict";
  var form = document.getElementById("pin-form");
  if (!form) { return; }
  var min = parseInt(form.getAttribute("data-min"), 10) || 1;
  var max = parseInt(form.getAttribute("data-max"), 10) || 128;
  var need = parseInt(form.getAttribute("data-classes"), 10) || 1;
  var met = form.getAttribute("data-met") || "";
  var unmet = form.getAttribute("data-unmet") || "";
  var pin = document.getElementById("new");
  var again = document.getElementById("confirm");
  var current = document.getElementById("current");
  var live = document.getElementById("new-live");
  var confirmLive = document.getElementById("confirm-live");

  // classOf: 1 letter, 2 digit, 4 symbol (printable ASCII), 0 not allowed.
  function classOf(c) {
    var n = c.charCodeAt(0);
    if ((n >= 65 && n <= 90) || (n >= 97 && n <= 122)) { return 1; }
    if (n >= 48 && n <= 57) { return 2; }
    if (n >= 0x21 && n <= 0x7e) { return 4; }
    return 0;
  }

  function check(v) {
    var chars = Array.from(v), classes = 0, bad = false;
    chars.forEach(function (c) {
      var k = classOf(c);
      if (k === 0) { bad = true; } else { classes |= k; }
    });
    var kinds = (classes & 1) + ((classes >> 1) & 1) + ((classes >> 2) & 1);
    return {
      length: chars.length >= min && chars.length <= max,
      classes: kinds >= need,
      chars: !bad,
      differ: !current || current.value === "" || v !== current.value
    };
  }

  function mark(li, ok, empty) {
    li.classList.remove("ok", "bad");
    var state = li.querySelector(".state");
    if (empty) { if (state) { state.textContent = ""; } return; }
    li.classList.add(ok ? "ok" : "bad");
    if (state) { state.textContent = ok ? met : unmet; }
  }

  function update() {
    var v = pin.value, r = check(v), empty = v === "", unmetCount = 0, total = 0;
    var items = document.querySelectorAll("#rules li[data-rule]");
    Array.prototype.forEach.call(items, function (li) {
      var ok = r[li.getAttribute("data-rule")];
      total++;
      if (!ok) { unmetCount++; }
      mark(li, ok, empty);
    });
    if (live) {
      live.textContent = empty ? "" : (form.getAttribute("data-summary") || "")
        .replace("{n}", String(total - unmetCount)).replace("{total}", String(total));
      live.className = "live" + (empty ? "" : (unmetCount === 0 ? " ok" : " bad"));
    }
    updateConfirm();
  }

  function updateConfirm() {
    if (!confirmLive || !again) { return; }
    if (again.value === "") { confirmLive.textContent = ""; confirmLive.className = "live"; return; }
    var same = again.value === pin.value;
    confirmLive.textContent = form.getAttribute(same ? "data-match" : "data-nomatch");
    confirmLive.className = "live " + (same ? "ok" : "bad");
  }

  pin.addEventListener("input", update);
  if (again) { again.addEventListener("input", updateConfirm); }
  if (current) { current.addEventListener("input", update); }

  // After a refused submission, move focus to the error summary.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
