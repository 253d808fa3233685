// bindery PIN pages: live hints for the PIN rules while typing. The page
// works without this script; the server's check is the one that counts.
// The rules come from the form's data-* attributes (the server's
// [pin_policy]), and mirror pinstore.Policy.Check.
//
// Each rule's met / not-yet state is written into the rule list at once
// (it is part of the field's description, read on demand). The polite
// live regions speak only when something changed and the typist paused
// (or left the field): "2 of 3 rules met" once, not on every key.
(function () {
  "use strict";
  var form = document.getElementById("pin-form");
  if (!form) { return; }
  var PAUSE = 1200; // ms without a key before an announcement
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
  var said = { rules: "", match: "" }; // what each live region last said
  var timer = null;

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

  // marks updates the rule list (not a live region) on every key.
  function marks() {
    var r = check(pin.value), empty = pin.value === "", n = 0, total = 0;
    Array.prototype.forEach.call(document.querySelectorAll("#rules li[data-rule]"), function (li) {
      var ok = r[li.getAttribute("data-rule")];
      total++;
      if (ok) { n++; }
      mark(li, ok, empty);
    });
    return { n: n, total: total, empty: empty };
  }

  // say writes a live region only when its message changed.
  function say(el, key, text, cls) {
    if (!el || said[key] === text) { return; }
    said[key] = text;
    el.textContent = text;
    el.className = "live" + (cls ? " " + cls : "");
  }

  function announceRules() {
    var m = marks();
    var text = m.empty ? "" : (form.getAttribute("data-summary") || "")
      .replace("{n}", String(m.n)).replace("{total}", String(m.total));
    say(live, "rules", text, m.empty ? "" : (m.n === m.total ? "ok" : "bad"));
  }

  function announceMatch() {
    if (!again) { return; }
    if (again.value === "") { say(confirmLive, "match", "", ""); return; }
    var same = again.value === pin.value;
    say(confirmLive, "match", form.getAttribute(same ? "data-match" : "data-nomatch"), same ? "ok" : "bad");
  }

  function announce() {
    timer = null;
    announceRules();
    announceMatch();
  }

  function typed() {
    marks();
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(announce, PAUSE);
  }

  pin.addEventListener("input", typed);
  pin.addEventListener("blur", announceRules);
  if (again) {
    again.addEventListener("input", typed);
    again.addEventListener("blur", announceMatch);
  }
  if (current) { current.addEventListener("input", typed); }

  // After a refused submission, move focus to the error summary.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
