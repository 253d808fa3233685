package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/bindery/bindery/internal/slapdtest"
)

// Campus accounts of the staff console test.
const (
	clerkID, clerkPW   = "jwong", "Clerk-Pass-2026"
	viewerID, viewerPW = "vlee", "Viewer-Pass-2026"
	adminID, adminPW   = "mchan", "Admin-Pass-2026"
	outsiderID, outPW  = "hostudent", "Student-Pass-2026"
)

// staffEnv is bindery in front of a real slapd with a counter clerk (by
// category), a viewer (by ID), an admin (by ID) and a student in no role,
// the PIN page and the staff console on one loopback HTTP listener.
func staffEnv(t *testing.T) (*env, string) {
	t.Helper()
	sl := slapdtest.Start(t, slapdtest.Options{LDIF: slapdtest.PeopleLDIF([]slapdtest.User{
		{UID: clerkID, CN: "WONG Ka Wai", SN: "Wong", EmployeeType: "staff-circ", Password: clerkPW},
		{UID: viewerID, CN: "LEE Siu Fan", SN: "Lee", EmployeeType: "staff", Password: viewerPW},
		{UID: adminID, CN: "CHAN Mei Ling", SN: "Chan", EmployeeType: "staff", Password: adminPW},
		{UID: outsiderID, CN: "HO Ka Ming", SN: "Ho", EmployeeType: "student", Password: outPW},
	})})
	httpAddr := freeAddr(t)
	e := newEnv(t, "", fmt.Sprintf(`
[lockout]
max_failures = 3
throttle_after = 0

[http]
listen = %q

[web]
enabled = true
base_url = "http://%s"

[staff]
enabled = true
roles = { counter = ["category:staff-circ"], viewer = [%q], admin = [%q] }

[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[[route]]
name = "campus"
match = '^[a-z][a-z0-9]{1,15}$'
case = "lower"
backend = "campus"

[backend.campus]
type = "ldap"
urls = [%q]
bind_dn = %q
bind_password = %q
base_dn = "ou=people,dc=example,dc=org"
timeout = "2s"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "%%DIR%%/pins.db"
`, httpAddr, httpAddr, viewerID, adminID, sl.URL(), sl.AdminDN(), sl.AdminPassword()))
	return e, httpAddr
}

// staffLogin fills the console's log-in form.
func staffLogin(uid, pw string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.ID("uid")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("uid").value = ""`), // a refused log-in refills the ID
		chromedp.SendKeys(chromedp.ID("uid"), uid),
		chromedp.SendKeys(chromedp.ID("password"), pw+kb.Enter),
	)
}

// scan types a number into the look-up box and Enter, as a USB barcode
// scanner does.
// It waits for that patron's page: the page it was typed on may show
// another patron's state, and an action taken before the new page is in
// would act on the old one.
func scan(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.ID("lookup")),
		chromedp.SendKeys(chromedp.ID("lookup"), id+kb.Enter),
		chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//h1[contains(., %q)]`, strings.ToUpper(id)))),
		chromedp.WaitVisible(chromedp.ID("state-h")),
	)
}

var otpRE = regexp.MustCompile(`^\S{10,20}$`)

// TestStaffConsoleInBrowser: a counter clerk at the desk, in Chromium,
// against a real slapd and the real bindery; then a viewer, an admin, a
// student in no role, and screenshots with axe-core on every page in both
// languages at desktop and phone width.
func TestStaffConsoleInBrowser(t *testing.T) {
	requireClients(t)
	chromium := requireChromium(t)
	axe := axeJS(t)
	e, httpAddr := staffEnv(t)
	const (
		locked, forgot, oldCard, newCard, spare = "CU3000001", "CU3000002", "CU3000003", "CU3000004", "CU3000005"
		pin, chosen                             = "Counter-PIN-2026", "Chosen-PIN-2026"
	)
	for _, id := range []string{locked, forgot, oldCard, spare} {
		e.addPatron(id, "CHAN Patron", pin, "--category", "julac")
	}
	e.start()
	waitListen(t, httpAddr)
	for i := range 3 { // three wrong PINs lock the account
		if _, code := whoami(t, e, personDN(locked), fmt.Sprintf("Wrong-PIN-%04d", i)); code != 49 {
			t.Fatalf("wrong PIN %d: exit %d", i, code)
		}
	}
	if _, code := whoami(t, e, personDN(locked), pin); code != 49 {
		t.Fatalf("the locked account binds")
	}
	base := "http://" + httpAddr
	ctx := browser(t, chromium)
	var (
		msg, state, notice, active, slipPIN, slipCode, slipURL, question, auditText, doneText string
		posts                                                                                 int
		forged                                                                                int
	)

	// A student with a working campus login but no role is refused.
	err := chromedp.Do(ctx,
		viewport(1280, 800, false),
		allowCSPBypass(),
		emulateFocus(),
		chromedp.Navigate(base+"/staff/"),
		staffLogin(outsiderID, outPW),
		chromedp.WaitVisible(chromedp.ID("message")),
		into(&msg, chromedp.Text(chromedp.ID("message"))),
		axeCheck(t, axe, "log-in refused"),
	)
	if err != nil {
		t.Fatalf("student log-in: %v\n%s", err, e.logs.String())
	}
	if !strings.Contains(msg, "you have no role in the staff console") {
		t.Fatalf("a campus user in no role got %q", msg)
	}

	// The clerk logs in; the look-up box has the focus, ready for the scanner.
	err = chromedp.Do(ctx,
		staffLogin(clerkID, clerkPW),
		chromedp.WaitVisible(chromedp.ID("lookup")),
		into(&active, chromedp.Evaluate[string](`document.activeElement.id`)),
		scan(strings.ToLower(locked)),
		into(&state, chromedp.Text(chromedp.ID("state-h"))),
		chromedp.Click(chromedp.ID("unlock")),
		chromedp.WaitVisible(chromedp.ID("notice")),
		into(&notice, chromedp.Text(chromedp.ID("notice"))),
	)
	if err != nil {
		t.Fatalf("clerk: look-up and unlock: %v\n%s", err, e.logs.String())
	}
	if active != "lookup" || state != "State: locked" || !strings.Contains(notice, "Unlocked") {
		t.Fatalf("focus on %q, state %q, notice %q", active, state, notice)
	}
	if out, code := whoami(t, e, personDN(locked), pin); code != 0 {
		t.Fatalf("ldapwhoami after the unlock: exit %d\n%s", code, out)
	}

	// A forgotten PIN: reset onto a slip in Chinese, read the one-time PIN.
	err = chromedp.Do(ctx,
		scan(forgot),
		chromedp.SetValue(chromedp.ID("reset-lang"), "zh-Hant"),
		chromedp.Click(chromedp.ID("reset")),
		chromedp.WaitVisible(chromedp.ID("slip-pin")),
		into(&slipPIN, chromedp.Text(chromedp.ID("slip-pin"))),
		into(&slipCode, chromedp.Text(chromedp.ID("slip-code"))),
		into(&slipURL, chromedp.Text(chromedp.ID("slip-url"))),
		shot(t, "staff-slip-zh-Hant-on-en-desktop"),
	)
	if err != nil {
		t.Fatalf("clerk: reset: %v\n%s", err, e.logs.String())
	}
	if !otpRE.MatchString(slipPIN) || !setupCodeRE.MatchString("Set-up code for X: "+slipCode) || slipURL != base+"/pin/setup" {
		t.Fatalf("slip: PIN %q code %q URL %q", slipPIN, slipCode, slipURL)
	}
	if _, code := whoami(t, e, personDN(forgot), pin); code != 49 {
		t.Fatalf("the old PIN binds after the reset")
	}
	// The patron chooses a PIN on /pin/setup with the one-time PIN and binds.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/pin/setup?lang=en"),
		chromedp.WaitVisible(chromedp.ID("card")),
		chromedp.SendKeys(chromedp.ID("card"), forgot),
		chromedp.SendKeys(chromedp.ID("code"), slipPIN),
		chromedp.SendKeys(chromedp.ID("new"), chosen),
		chromedp.SendKeys(chromedp.ID("confirm"), chosen+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("done")),
		into(&doneText, chromedp.Text(chromedp.ID("done"))),
	)
	if err != nil || !strings.Contains(doneText, "Your PIN is set") {
		t.Fatalf("set-up with the one-time PIN: %v %q\n%s", err, doneText, e.logs.String())
	}
	if out, code := whoami(t, e, personDN(forgot), chosen); code != 0 {
		t.Fatalf("ldapwhoami with the PIN chosen after the reset: exit %d\n%s", code, out)
	}

	// A new card: scanned into the replacement field, confirmed.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/staff/"),
		scan(oldCard),
		chromedp.SendKeys(chromedp.ID("new"), strings.ToLower(newCard)+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("question")),
		into(&question, chromedp.Text(chromedp.ID("question"))),
		into(&active, chromedp.Evaluate[string](`document.activeElement.id`)),
		chromedp.Click(chromedp.ID("confirm")),
		chromedp.WaitVisible(chromedp.ID("notice")),
		into(&auditText, chromedp.Text(chromedp.ID("audit-h"))),
		into(&auditText, chromedp.Text(chromedp.CSS("table.log"))),
	)
	if err != nil {
		t.Fatalf("clerk: card replacement: %v\n%s", err, e.logs.String())
	}
	if !strings.Contains(question, "Replace card "+oldCard) || active == "confirm" {
		t.Fatalf("confirmation %q with the focus on %q (a scanner's Enter must not confirm)", question, active)
	}
	if !strings.Contains(auditText, clerkID) || !strings.Contains(auditText, "replace-card") {
		t.Errorf("the new card's audit trail: %q", auditText)
	}
	if _, code := whoami(t, e, personDN(oldCard), pin); code != 49 {
		t.Fatalf("the old card still binds")
	}
	if out, code := whoami(t, e, personDN(newCard), pin); code != 0 {
		t.Fatalf("the new card does not bind: exit %d\n%s", code, out)
	}
	// The audit trail, read with binderyctl: the clerk's UID on each action.
	for id, action := range map[string]string{locked: "unlock", forgot: "reset-pin", newCard: "replace-card"} {
		out := e.mustCtl("", "audit", id)
		if !regexp.MustCompile(`(?m)\s` + clerkID + `\s+` + action + `\s`).MatchString(out) {
			t.Errorf("binderyctl audit %s has no %s by %s:\n%s", id, action, clerkID, out)
		}
	}

	// A viewer sees no action, and a forged POST from the viewer gets 403.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form.logout button`)),
		staffLogin(viewerID, viewerPW),
		scan(locked),
		into(&posts, chromedp.Evaluate[int](`document.querySelectorAll('main form[method="post"]').length`)),
		into(&forged, chromedp.Evaluate[int](`fetch("/staff/unlock", {method: "POST", body: new URLSearchParams({
			csrf: document.querySelector('input[name="csrf"]').value, nonce: "forged-1", id: "`+locked+`"})}).then(r => r.status)`,
			chromedp.EvalAwaitPromise)),
	)
	if err != nil {
		t.Fatalf("viewer: %v\n%s", err, e.logs.String())
	}
	if posts != 0 || forged != 403 {
		t.Fatalf("viewer: %d action forms, forged POST answered %d", posts, forged)
	}

	// Every page, both languages, desktop and phone, checked by axe-core,
	// as the admin (who sees every page).
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form.logout button`)),
		staffLogin(adminID, adminPW),
		chromedp.WaitVisible(chromedp.ID("lookup")),
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, vp := range viewports {
		for _, l := range []string{"en", "zh-Hant"} {
			name := func(page string) string { return fmt.Sprintf("staff-%s-%s-%s", page, l, vp.name) }
			page := func(url, page, waitFor string) chromedp.Action[chromedp.Void] {
				return chromedp.Steps(
					chromedp.Navigate(base+url),
					chromedp.WaitVisible(chromedp.ID(waitFor)),
					shot(t, name(page)),
					axeCheck(t, axe, name(page)),
				)
			}
			sep := "?"
			err := chromedp.Do(ctx,
				viewport(vp.width, vp.height, vp.mobile),
				page("/staff/?lang="+l, "home", "lookup"),
				page("/staff/patron?id="+newCard, "patron", "state-h"),
				page("/staff/patron?id="+oldCard, "patron-replaced", "state-h"),
				page("/staff/patron?id="+viewerID, "campus", "state-h"),
				page("/staff/patron?id=CU3999999", "not-found", "state-h"),
				page("/staff/patron?id=XX-1", "no-route", "state-h"),
				page("/staff/import"+sep+"lang="+l, "import", "file"),
				page("/staff/activity?operator="+clerkID, "activity", "operator"),
				chromedp.Navigate(base+"/staff/patron?id="+spare),
				chromedp.WaitVisible(chromedp.ID("new")),
				chromedp.SendKeys(chromedp.ID("new"), "CU3000099"+kb.Enter),
				chromedp.WaitVisible(chromedp.ID("question")),
				shot(t, name("confirm")),
				axeCheck(t, axe, name("confirm")),
				chromedp.Navigate(base+"/staff/patron?id="+spare),
				chromedp.WaitVisible(chromedp.ID("setup-code")),
				chromedp.Click(chromedp.ID("setup-code")),
				chromedp.WaitVisible(chromedp.ID("slip-code")),
				shot(t, name("slip")),
				axeCheck(t, axe, name("slip")),
				chromedp.Navigate(base+"/staff/patron?id="+spare),
				chromedp.WaitVisible(chromedp.ID("reason")),
				chromedp.Click(chromedp.ID("suspend")), // no reason: the form's error
				chromedp.WaitVisible(chromedp.ID("error-summary")),
				shot(t, name("form-error")),
				axeCheck(t, axe, name("form-error")),
				chromedp.Click(chromedp.CSS(`form.logout button`)),
				chromedp.WaitVisible(chromedp.ID("uid")),
				shot(t, name("login")),
				axeCheck(t, axe, name("login")),
				staffLogin(adminID, adminPW),
				chromedp.WaitVisible(chromedp.ID("lookup")),
			)
			if err != nil {
				t.Fatalf("pages %s %s: %v\n%s", l, vp.name, err, e.logs.String())
			}
		}
	}
	if logs := e.logs.String(); strings.Contains(logs, clerkPW) || strings.Contains(logs, slipPIN) || strings.Contains(logs, chosen) {
		t.Fatalf("a password or PIN is in bindery's log")
	}
}
