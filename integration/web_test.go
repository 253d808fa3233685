package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/bindery/bindery/internal/slapdtest"
)

// screenshotDir is where the browser test leaves its pictures (git-ignored
// /artifacts/ at the repository root).
const screenshotDir = "../artifacts/screenshots"

var setupCodeRE = regexp.MustCompile(`Set-up code for [A-Z0-9]+: ([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})`)

// into runs a and stores its value in dst.
func into[T any](dst *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := a(ctx, t)
		*dst = v
		return err
	})
}

// attr stores the value of an attribute of the element sel finds in dst.
func attr(dst *string, sel chromedp.CSS, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		r, err := chromedp.AttributeValue(sel, name)(ctx, t)
		*dst = r.Value
		return err
	})
}

// waitListen waits until addr accepts connections (bindery opens its HTTP
// listeners just after the LDAP one that start waits for).
func waitListen(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

// requireChromium returns Debian's chromium, or skips (fails in CI) when it
// is not installed.
func requireChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BINDERY_REQUIRE_SLAPD") != "" {
		t.Fatal("chromium not installed (apt-get install chromium; scripts/lib/install-chromium.sh)")
	}
	t.Skip("chromium not installed")
	return ""
}

// browser starts headless chromium with a fresh profile and the flags this
// closed network needs.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("lang", "en-US"),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil { // start the browser now, without a deadline
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancel3 := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

// viewports of the screenshots.
var viewports = []struct {
	name          string
	width, height int64
	mobile        bool
}{
	{"desktop", 1280, 800, false},
	{"phone", 390, 844, true},
}

func viewport(w, h int64, mobile bool) chromedp.Action[chromedp.Void] {
	if mobile {
		return chromedp.EmulateViewport(w, h, chromedp.EmulateScale(2), chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(w, h)
}

// shot saves a full-page PNG under screenshotDir.
func shot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
			return err
		}
		p := filepath.Join(screenshotDir, name+".png")
		t.Logf("screenshot %s", p)
		return os.WriteFile(p, buf, 0o644)
	})
}

// TestWebPINPageInBrowser drives the self-service PIN page in a real
// headless Chromium: set-up with a code (a rule violation first), a PIN
// change in Chinese through the language switch, then the new PIN works
// over LDAP at once and the old one does not. Screenshots of every page in
// English and Chinese, desktop and phone widths, go to artifacts/screenshots.
func TestWebPINPageInBrowser(t *testing.T) {
	requireClients(t)
	chromium := requireChromium(t)
	httpAddr := freeAddr(t)
	e := pinEnv(t, "", fmt.Sprintf(`
[http]
listen = %q

[web]
enabled = true
setup_code_ttl = "48h"
base_url = "http://%s"
`, httpAddr, httpAddr))
	const id = "CU2000001"
	out := e.mustCtl("", "patron", "add", id, "--name", "CHAN Web", "--category", "julac", "--setup-code")
	m := setupCodeRE.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "http://"+httpAddr+"/pin/setup") {
		t.Fatalf("patron add --setup-code printed no code and URL:\n%s", out)
	}
	code := m[1]
	e.start()
	waitListen(t, httpAddr)
	base := "http://" + httpAddr
	ctx := browser(t, chromium)

	const (
		badPIN    = "short pin"
		firstPIN  = "Web-Setup-2026"
		secondPIN = "Web-Change-2026"
	)
	var (
		lengthRule, charsRule, newError, doneText, lang string
	)
	// 1. Set-up, English, desktop: a rule violation is shown live and
	// explained by the server in the field's error.
	err := chromedp.Do(ctx,
		viewport(1280, 800, false),
		chromedp.Navigate(base+"/pin/setup"),
		chromedp.WaitVisible(chromedp.ID("card")),
		shot(t, "setup-en-desktop"),
		chromedp.SendKeys(chromedp.ID("card"), strings.ToLower(id)),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.SendKeys(chromedp.ID("new"), badPIN),
		chromedp.SendKeys(chromedp.ID("confirm"), badPIN),
		attr(&lengthRule, chromedp.CSS(`li[data-rule="length"]`), "class"),
		attr(&charsRule, chromedp.CSS(`li[data-rule="chars"]`), "class"),
		shot(t, "setup-live-hints-en-desktop"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("new-error")),
		into(&newError, chromedp.Text(chromedp.ID("new-error"))),
		shot(t, "setup-rule-error-en-desktop"),
	)
	if err != nil {
		t.Fatalf("set-up with a bad PIN: %v\n%s", err, e.logs.String())
	}
	if lengthRule != "bad" || charsRule != "bad" {
		t.Errorf("live hints while typing %q: length %q, chars %q; want both \"bad\"", badPIN, lengthRule, charsRule)
	}
	if !strings.Contains(newError, "Too short: use at least 10 characters.") || !strings.Contains(newError, "Character number 6 is not allowed") {
		t.Errorf("the new PIN's error does not explain the rules: %q", newError)
	}
	if _, code := whoami(t, e, personDN(id), badPIN); code != 49 {
		t.Fatalf("a refused PIN binds: exit %d", code)
	}

	// 2. The same form again with a good PIN, submitted from the keyboard.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.SendKeys(chromedp.ID("new"), firstPIN),
		chromedp.SendKeys(chromedp.ID("confirm"), firstPIN+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("done")),
		into(&doneText, chromedp.Text(chromedp.ID("done"))),
		shot(t, "setup-done-en-desktop"),
	)
	if err != nil {
		t.Fatalf("set-up with a good PIN: %v\n%s", err, e.logs.String())
	}
	if !strings.Contains(doneText, "Your PIN is set") {
		t.Fatalf("set-up answer: %q", doneText)
	}
	if out, code := whoami(t, e, personDN(id), firstPIN); code != 0 {
		t.Fatalf("ldapwhoami with the PIN set on the page: exit %d\n%s", code, out)
	}

	// 3. Change the PIN in Chinese, reached with the language switch.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/pin/change"),
		chromedp.WaitVisible(chromedp.ID("lang-zh-Hant")),
		chromedp.Click(chromedp.ID("lang-zh-Hant")),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="zh-Hant"] #current`)),
		attr(&lang, chromedp.CSS("html"), "lang"),
		chromedp.SendKeys(chromedp.ID("card"), id),
		chromedp.SendKeys(chromedp.ID("current"), firstPIN),
		chromedp.SendKeys(chromedp.ID("new"), secondPIN),
		chromedp.SendKeys(chromedp.ID("confirm"), secondPIN),
		shot(t, "change-filled-zh-Hant-desktop"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("done")),
		into(&doneText, chromedp.Text(chromedp.ID("done"))),
		shot(t, "change-done-zh-Hant-desktop"),
	)
	if err != nil {
		t.Fatalf("change in Chinese: %v\n%s", err, e.logs.String())
	}
	if lang != "zh-Hant" || !strings.Contains(doneText, "你的密碼已更改") {
		t.Fatalf("change page in %q answered %q", lang, doneText)
	}
	// The cache must not keep the old PIN: the new one works at once and
	// the old one is refused.
	if out, code := whoami(t, e, personDN(id), secondPIN); code != 0 {
		t.Fatalf("ldapwhoami with the changed PIN: exit %d\n%s", code, out)
	}
	if out, code := whoami(t, e, personDN(id), firstPIN); code != 49 {
		t.Fatalf("ldapwhoami with the old PIN: exit %d, want 49\n%s", code, out)
	}

	// 4. Every page in both languages at both widths, with errors shown.
	for _, vp := range viewports {
		for _, l := range []string{"en", "zh-Hant"} {
			var sum string
			err := chromedp.Do(ctx,
				viewport(vp.width, vp.height, vp.mobile),
				chromedp.Navigate(base+"/pin/?lang="+l),
				chromedp.WaitVisible(chromedp.CSS("main")),
				shot(t, fmt.Sprintf("index-%s-%s", l, vp.name)),
				chromedp.Navigate(base+"/pin/setup?lang="+l),
				chromedp.WaitVisible(chromedp.ID("card")),
				shot(t, fmt.Sprintf("setup-%s-%s", l, vp.name)),
				chromedp.SendKeys(chromedp.ID("card"), "CU2000099"),
				chromedp.SendKeys(chromedp.ID("code"), "AAAA-BBBB-CCCC-DDDD"),
				chromedp.SendKeys(chromedp.ID("new"), "abc"),
				chromedp.SendKeys(chromedp.ID("confirm"), "abd"),
				chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.ID("error-summary")),
				into(&sum, chromedp.Text(chromedp.ID("error-summary"))),
				shot(t, fmt.Sprintf("setup-errors-%s-%s", l, vp.name)),
				chromedp.Navigate(base+"/pin/change?lang="+l),
				chromedp.WaitVisible(chromedp.ID("current")),
				chromedp.SendKeys(chromedp.ID("new"), "Abc 12"),
				shot(t, fmt.Sprintf("change-%s-%s", l, vp.name)),
			)
			if err != nil {
				t.Fatalf("screenshots %s %s: %v", l, vp.name, err)
			}
			want := map[string]string{"en": "Too short", "zh-Hant": "太短"}[l]
			if !strings.Contains(sum, want) {
				t.Errorf("%s error summary lacks %q: %q", l, want, sum)
			}
		}
	}
	if logs := e.logs.String(); strings.Contains(logs, firstPIN) || strings.Contains(logs, secondPIN) || strings.Contains(logs, code) {
		t.Fatalf("a PIN or the set-up code is in bindery's log:\n%s", logs)
	}
}

// TestWebOwnListener serves the PIN page on its own [web] listen: over
// HTTPS with the [server.tls] certificate (HSTS, a __Host- cookie), and
// over plain HTTP on a non-loopback address with a warning in the log.
func TestWebOwnListener(t *testing.T) {
	certs, err := slapdtest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	webAddr := freeAddr(t)
	e := pinEnv(t, fmt.Sprintf("\n[server.tls]\ncert_file = %q\nkey_file = %q\n", certs.CertFile, certs.KeyFile),
		fmt.Sprintf("\n[web]\nenabled = true\nlisten = %q\n", webAddr))
	e.caFile = certs.CAFile
	e.start()
	waitListen(t, webAddr)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: e.clientTLS()},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	res, err := client.Get("https://" + webAddr + "/pin/setup")
	if err != nil {
		t.Fatalf("HTTPS: %v\n%s", err, e.logs.String())
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("HTTPS page: %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}
	var secure bool
	for _, c := range res.Cookies() {
		secure = secure || (c.Name == "__Host-bindery_csrf" && c.Secure)
	}
	if !secure {
		t.Fatalf("no __Host- Secure CSRF cookie: %v", res.Header["Set-Cookie"])
	}
	res, err = client.Get("https://" + webAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/pin/" {
		t.Fatalf("/ answers %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if strings.Contains(e.logs.String(), "plain HTTP") {
		t.Fatalf("a warning about plain HTTP with TLS on:\n%s", e.logs.String())
	}

	port := webAddr[strings.LastIndex(webAddr, ":")+1:]
	plain := pinEnv(t, "", fmt.Sprintf("\n[web]\nenabled = true\nlisten = \"0.0.0.0:%s\"\n", port))
	e.stop()
	plain.start()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(plain.logs.String(), "plain HTTP on a non-loopback address") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(plain.logs.String(), "plain HTTP on a non-loopback address") {
		t.Fatalf("no warning about plain HTTP on 0.0.0.0:\n%s", plain.logs.String())
	}
}
