package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestWebPINPageAccessibilityInBrowser checks in Chromium what axe-core
// cannot see on the PIN page, then runs axe-core on every page kind:
// the live hint speaks once after a pause, not on every key; each rule's
// state is in the accessibility tree; the focus outline has at least 3:1
// contrast; a refused form's title starts with "Error: "; the PIN fields
// carry the rules for password managers; the language switch on the
// success page keeps the confirmation.
func TestWebPINPageAccessibilityInBrowser(t *testing.T) {
	requireClients(t)
	chromium := requireChromium(t)
	axe := axeJS(t)
	httpAddr := freeAddr(t)
	e := pinEnv(t, "", fmt.Sprintf("\n[http]\nlisten = %q\n\n[web]\nenabled = true\n", httpAddr))
	const id = "CU2100001"
	out := e.mustCtl("", "patron", "add", id, "--name", "CHAN A11y", "--setup-code")
	m := setupCodeRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no set-up code:\n%s", out)
	}
	code := m[1]
	e.start()
	waitListen(t, httpAddr)
	base := "http://" + httpAddr
	ctx := browser(t, chromium)

	const pin = "Web-A11y-2026"
	var (
		said, saidAfterBlur   []string
		texts                 []string
		focus                 string
		minLen, maxLen, rules string
		title, doneText       string
	)
	observe := `window.__said = []; for (const id of ["new-live", "confirm-live"]) {
		const el = document.getElementById(id);
		new MutationObserver(() => window.__said.push(id + ": " + el.textContent)).observe(el, {childList: true, characterData: true, subtree: true});
	}`
	err := chromedp.Do(ctx,
		viewport(1280, 800, false),
		allowCSPBypass(),
		chromedp.Navigate(base+"/pin/setup"),
		chromedp.WaitVisible(chromedp.ID("card")),
		axeCheck(t, axe, "setup"),
		attr(&minLen, chromedp.CSS("#new"), "minlength"),
		attr(&maxLen, chromedp.CSS("#new"), "maxlength"),
		attr(&rules, chromedp.CSS("#new"), "passwordrules"),
		emulateFocus(),
		chromedp.Focus(chromedp.ID("card")),
		focusStyle(&focus),
		chromedp.Evaluate[chromedp.Void](observe),
		// A too-short PIN typed key by key: the rules' states change as it
		// goes, but nothing is spoken until the typist pauses.
		chromedp.SendKeys(chromedp.ID("new"), "abc"),
		chromedp.Sleep(2*time.Second),
		axTexts(&texts),
		chromedp.SendKeys(chromedp.ID("new"), strings.Repeat(kb.Backspace, 3)+pin),
		chromedp.Sleep(2*time.Second),
		into(&said, chromedp.Evaluate[[]string](`window.__said`)),
		chromedp.Focus(chromedp.ID("confirm")), // leaving the field with nothing new to say
		chromedp.SendKeys(chromedp.ID("confirm"), pin),
		chromedp.Blur(chromedp.ID("confirm")),
		chromedp.Sleep(300*time.Millisecond),
		into(&saidAfterBlur, chromedp.Evaluate[[]string](`window.__said`)),
	)
	if err != nil {
		t.Fatalf("typing: %v", err)
	}
	if minLen != "10" || maxLen != "20" || !strings.Contains(rules, "minlength: 10; maxlength: 20; required: lower, upper; required: digit;") {
		t.Errorf("PIN field: minlength %q maxlength %q passwordrules %q", minLen, maxLen, rules)
	}
	checkFocus(t, "the card field", focus)
	var notYet, summary bool
	for _, s := range texts {
		notYet = notYet || strings.Contains(s, "not yet")
		summary = summary || strings.Contains(s, "1 of 3 rules met")
	}
	if !notYet || !summary {
		t.Errorf("after a pause the accessibility tree holds the rule states %v and the summary %v: %q", notYet, summary, texts)
	}
	// "abc", pause: one announcement; 3 backspaces and 13 keys, pause: one.
	want := []string{"new-live: 1 of 3 rules met", "new-live: 3 of 3 rules met"}
	if strings.Join(said, "|") != strings.Join(want, "|") {
		t.Errorf("the live region said %q while typing, want %q", said, want)
	}
	if got := saidAfterBlur[len(said):]; len(got) != 1 || got[0] != "confirm-live: The two new PINs are the same." {
		t.Errorf("after the confirmation and blur the live regions said %q", got)
	}

	// A refused submission: "Error: " in the title, in both languages.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("card"), id),
		chromedp.SendKeys(chromedp.ID("code"), "AAAA-BBBB-CCCC-DDDD"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("error-summary")),
		into(&title, chromedp.Title()),
		axeCheck(t, axe, "setup with errors"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(title, "Error: Set up your library PIN") {
		t.Errorf("title after a refused form: %q", title)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/pin/setup?lang=zh-Hant"),
		chromedp.WaitVisible(chromedp.ID("card")),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("error-summary")),
		into(&title, chromedp.Title()),
		axeCheck(t, axe, "setup with errors, zh-Hant"),
		chromedp.Navigate(base+"/pin/?lang=en"),
		chromedp.WaitVisible(chromedp.CSS("main")),
		axeCheck(t, axe, "index"),
		chromedp.Navigate(base+"/pin/change"),
		chromedp.WaitVisible(chromedp.ID("current")),
		axeCheck(t, axe, "change"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(title, "錯誤：設定圖書館密碼") {
		t.Errorf("Chinese title after a refused form: %q", title)
	}

	// Success, then the language switch: the confirmation stays.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/pin/setup"),
		chromedp.WaitVisible(chromedp.ID("card")),
		chromedp.SendKeys(chromedp.ID("card"), id),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.SendKeys(chromedp.ID("new"), pin),
		chromedp.SendKeys(chromedp.ID("confirm"), pin+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("done")),
		axeCheck(t, axe, "done"),
		chromedp.Click(chromedp.ID("lang-zh-Hant")),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="zh-Hant"] #done`)),
		into(&doneText, chromedp.Text(chromedp.ID("done"))),
		axeCheck(t, axe, "done, zh-Hant"),
	)
	if err != nil {
		t.Fatalf("set-up and language switch: %v\n%s", err, e.logs.String())
	}
	if !strings.Contains(doneText, "你的密碼已設定") {
		t.Errorf("after the language switch the success page says %q", doneText)
	}
	if out, code := whoami(t, e, personDN(id), pin); code != 0 {
		t.Fatalf("ldapwhoami with the PIN set on the page: exit %d\n%s", code, out)
	}
}
