package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/passhash"
)

const (
	card      = "CU1234567"
	newPIN    = "Fresh-PIN-2026"
	currPIN   = "Known-PIN-2026"
	knownCard = "CU7654321"
)

// syncBuf is a goroutine-safe log sink.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a real PIN store with two patrons: card (no PIN, a set-up
// code) and knownCard (currPIN), served by a Handler.
type fixture struct {
	t     *testing.T
	st    *pinstore.Store
	h     *Handler
	code  string
	logs  *syncBuf
	dummy int
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	logs := &syncBuf{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := pinstore.Open(ctx, pinstore.Options{
		DSN:     filepath.Join(t.TempDir(), "pins.db"),
		Hash:    passhash.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		Lockout: pinstore.Lockout{MaxFailures: 5, Window: time.Hour, Duration: time.Hour},
		Logger:  logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, id := range []string{card, knownCard, "CU1111111"} {
		if err := st.AddPatron(ctx, pinstore.Patron{ID: id, Name: "Chan"}, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetPIN(ctx, knownCard, currPIN, "alice"); err != nil {
		t.Fatal(err)
	}
	code, _, err := st.IssueSetupCode(ctx, card, time.Hour, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Suspend(ctx, "CU1111111", "test", "alice"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, code: code, logs: logs}
	o := Options{
		Resolve: func(c string) (Store, string, bool) {
			c = strings.ToUpper(c)
			if !strings.HasPrefix(c, "CU") {
				return nil, "", false
			}
			return st, c, true
		},
		DummyVerify: func(context.Context, string, string) { f.dummy++ },
		Logger:      logger,
	}
	if mod != nil {
		mod(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// get fetches path and returns the response and the CSRF cookie and token.
func (f *fixture) get(path string, hdr map[string]string) (*http.Response, string) {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.String()
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// token GETs a form page and returns its CSRF cookie and field value.
func (f *fixture) token(path string) (*http.Cookie, string) {
	f.t.Helper()
	res, body := f.get(path, nil)
	m := tokenRE.FindStringSubmatch(body)
	if m == nil || len(res.Cookies()) == 0 {
		f.t.Fatalf("no CSRF token on %s", path)
	}
	return res.Cookies()[0], m[1]
}

// post submits a form with a fresh CSRF cookie and token.
func (f *fixture) post(path, remote string, form url.Values, mod func(*http.Request)) (int, string, http.Header) {
	f.t.Helper()
	cookie, tok := f.token(path)
	v := url.Values{}
	for k, vs := range form {
		v[k] = vs
	}
	v.Set("csrf", tok)
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	if remote != "" {
		req.RemoteAddr = remote
	}
	if mod != nil {
		mod(req)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func (f *fixture) bind(id, pin string) bool {
	f.t.Helper()
	_, ok, err := f.st.Authenticate(context.Background(), backend.Credentials{ID: id, Password: pin})
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

func TestSetupForm(t *testing.T) {
	tests := []struct {
		name       string
		form       func(f *fixture) url.Values
		wantStatus int
		want       []string // in the body
		invalid    []string // fields marked aria-invalid="true"
		wantBind   bool     // card binds with newPIN afterwards
	}{
		{"success", func(f *fixture) url.Values {
			return form("card", "cu1234567", "code", strings.ToLower(f.code), "new", newPIN, "confirm", newPIN)
		}, 200, []string{"Your PIN is set"}, nil, true},
		{"success in Chinese", func(f *fixture) url.Values {
			return form("lang", "zh-Hant", "card", card, "code", f.code, "new", newPIN, "confirm", newPIN)
		}, 200, []string{"你的密碼已設定", `lang="zh-Hant"`}, nil, true},
		{"all empty", func(f *fixture) url.Values { return form() }, 422,
			[]string{"Enter your library card number.", "Enter the set-up code", "Choose a new PIN.", "Type the new PIN a second time."},
			[]string{"card", "code", "new", "confirm"}, false},
		{"mismatch", func(f *fixture) url.Values {
			return form("card", card, "code", f.code, "new", newPIN, "confirm", newPIN+"x")
		}, 422, []string{"The two new PINs are not the same."}, []string{"confirm"}, false},
		{"too short and one class", func(f *fixture) url.Values {
			return form("card", card, "code", f.code, "new", "abc", "confirm", "abc")
		}, 422, []string{"Too short: use at least 10 characters.", "Mix at least 2 kinds of characters"}, []string{"new"}, false},
		{"too short in Chinese", func(f *fixture) url.Values {
			return form("lang", "zh-Hant", "card", card, "code", f.code, "new", "abc", "confirm", "abc")
		}, 422, []string{"太短：最少要有 10 個字元。", "請混合最少 2 類字元"}, []string{"new"}, false},
		{"space and non-ASCII", func(f *fixture) url.Values {
			return form("card", card, "code", f.code, "new", "Lib rary2026é", "confirm", "Lib rary2026é")
		}, 422, []string{"Character number 4 is not allowed", "Character number 13 is not allowed"}, []string{"new"}, false},
		{"too long", func(f *fixture) url.Values {
			p := strings.Repeat("a1", 11)
			return form("card", card, "code", f.code, "new", p, "confirm", p)
		}, 422, []string{"Too long: use at most 20 characters."}, []string{"new"}, false},
		{"wrong code", func(f *fixture) url.Values {
			return form("card", card, "code", "AAAA-BBBB-CCCC-DDDD", "new", newPIN, "confirm", newPIN)
		}, 401, []string{"The card number or the set-up code is not right."}, []string{"card", "code"}, false},
		{"unknown card: same answer", func(f *fixture) url.Values {
			return form("card", "CU0000001", "code", f.code, "new", newPIN, "confirm", newPIN)
		}, 401, []string{"The card number or the set-up code is not right."}, []string{"card", "code"}, false},
		{"card no store owns: same answer", func(f *fixture) url.Values {
			return form("card", "jchan", "code", f.code, "new", newPIN, "confirm", newPIN)
		}, 401, []string{"The card number or the set-up code is not right."}, []string{"card", "code"}, false},
		{"wrong code in Chinese", func(f *fixture) url.Values {
			return form("lang", "zh-Hant", "card", card, "code", "AAAA", "new", newPIN, "confirm", newPIN)
		}, 401, []string{"圖書證號碼或設定碼不正確"}, []string{"card", "code"}, false},
		{"suspended with its code", func(f *fixture) url.Values {
			code, _, err := f.st.IssueSetupCode(context.Background(), "CU1111111", time.Hour, "alice")
			if err != nil {
				f.t.Fatal(err)
			}
			return form("card", "CU1111111", "code", code, "new", newPIN, "confirm", newPIN)
		}, 403, []string{"This card cannot set its PIN online."}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			values := tc.form(f)
			code, body, _ := f.post("/pin/setup", "", values, nil)
			if code != tc.wantStatus {
				t.Fatalf("status %d, want %d\n%s", code, tc.wantStatus, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q", w)
				}
			}
			for _, field := range tc.invalid {
				if !regexp.MustCompile(`id="` + field + `"[^>]*aria-invalid="true"`).MatchString(body) {
					t.Errorf("field %s is not marked invalid", field)
				}
				if !regexp.MustCompile(`id="` + field + `"[^>]*aria-describedby="[^"]*-error`).MatchString(body) {
					t.Errorf("field %s is not described by its error", field)
				}
			}
			for _, secret := range []string{values.Get("new"), values.Get("confirm"), f.code} {
				if secret != "" && len(secret) > 3 && strings.Contains(body, secret) {
					t.Errorf("the page shows a secret %q", secret)
				}
			}
			if got := f.bind(card, newPIN); got != tc.wantBind {
				t.Errorf("bind with the new PIN: %v, want %v", got, tc.wantBind)
			}
		})
	}
}

func TestSetupWithOneTimePIN(t *testing.T) {
	f := newFixture(t, nil)
	otp, err := f.st.ResetPIN(context.Background(), knownCard, "alice")
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := f.post("/pin/setup", "", form("card", knownCard, "code", otp, "new", otp, "confirm", otp), nil)
	if code != 422 || !strings.Contains(body, "must be different from your current PIN") {
		t.Fatalf("reusing the one-time PIN: %d\n%s", code, body)
	}
	code, body, _ = f.post("/pin/setup", "", form("card", knownCard, "code", otp, "new", newPIN, "confirm", newPIN), nil)
	if code != 200 {
		t.Fatalf("set-up with the one-time PIN: %d\n%s", code, body)
	}
	if !f.bind(knownCard, newPIN) || f.bind(knownCard, otp) {
		t.Fatal("after set-up the new PIN must work and the one-time PIN must not")
	}
}

func TestChangeForm(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		want       string
		changed    bool
	}{
		{"success", form("card", knownCard, "current", currPIN, "new", newPIN, "confirm", newPIN), 200, "Your PIN is changed", true},
		{"success in Chinese", form("lang", "zh-Hant", "card", knownCard, "current", currPIN, "new", newPIN, "confirm", newPIN), 200, "你的密碼已更改", true},
		{"wrong current PIN", form("card", knownCard, "current", "Wrong-PIN-2026", "new", newPIN, "confirm", newPIN), 401, "The card number or the current PIN is not right", false},
		{"unknown card", form("card", "CU0000002", "current", currPIN, "new", newPIN, "confirm", newPIN), 401, "The card number or the current PIN is not right", false},
		{"suspended card", form("card", "CU1111111", "current", currPIN, "new", newPIN, "confirm", newPIN), 401, "The card number or the current PIN is not right", false},
		{"same as current", form("card", knownCard, "current", currPIN, "new", currPIN, "confirm", currPIN), 422, "must be different from your current PIN", false},
		{"same as current in Chinese", form("lang", "zh-Hant", "card", knownCard, "current", currPIN, "new", currPIN, "confirm", currPIN), 422, "新密碼必須與現有密碼不同", false},
		{"current missing", form("card", knownCard, "new", newPIN, "confirm", newPIN), 422, "Enter your current PIN.", false},
		{"wrong current in Chinese", form("lang", "zh-Hant", "card", knownCard, "current", "x", "new", newPIN, "confirm", newPIN), 401, "圖書證號碼或現有密碼不正確", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			code, body, _ := f.post("/pin/change", "", tc.form, nil)
			if code != tc.wantStatus || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d (want %d), body without %q:\n%s", code, tc.wantStatus, tc.want, body)
			}
			if got := f.bind(knownCard, newPIN); got != tc.changed {
				t.Errorf("new PIN works: %v, want %v", got, tc.changed)
			}
			if got := f.bind(knownCard, currPIN); got == tc.changed && tc.form.Get("new") != currPIN {
				t.Errorf("old PIN works: %v, want %v", got, !tc.changed)
			}
		})
	}
	t.Run("unknown card costs a dummy verification", func(t *testing.T) {
		f := newFixture(t, nil)
		f.post("/pin/change", "", form("card", "jchan", "current", currPIN, "new", newPIN, "confirm", newPIN), nil)
		f.post("/pin/change", "", form("card", "CU0000009", "current", currPIN, "new", newPIN, "confirm", newPIN), nil)
		if f.dummy != 2 {
			t.Fatalf("dummy verifications: %d, want 2", f.dummy)
		}
	})
}

func TestCSRF(t *testing.T) {
	good := func(f *fixture) url.Values {
		return form("card", card, "code", f.code, "new", newPIN, "confirm", newPIN)
	}
	tests := []struct {
		name string
		mod  func(f *fixture, v url.Values, r *http.Request)
	}{
		{"no token field", func(f *fixture, v url.Values, r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(encodeWithout(v, "csrf")))
		}},
		{"wrong token", func(f *fixture, v url.Values, r *http.Request) {
			v.Set("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
			r.Body = io.NopCloser(strings.NewReader(v.Encode()))
		}},
		{"no cookie", func(f *fixture, v url.Values, r *http.Request) { r.Header.Del("Cookie") }},
		{"cross-site origin", func(f *fixture, v url.Values, r *http.Request) { r.Header.Set("Origin", "https://evil.example") }},
		{"cross-site fetch", func(f *fixture, v url.Values, r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			v := good(f)
			cookie, tok := f.token("/pin/setup")
			v.Set("csrf", tok)
			req := httptest.NewRequest(http.MethodPost, "/pin/setup", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(cookie)
			tc.mod(f, v, req)
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "This form had expired") {
				t.Fatalf("status %d\n%s", rec.Code, rec.Body.String())
			}
			if f.bind(card, newPIN) {
				t.Fatal("the PIN was set despite the CSRF failure")
			}
		})
	}
	for _, origin := range []string{"http://example.com", "null"} {
		// "null": what browsers send on a same-origin POST from a page
		// with Referrer-Policy no-referrer.
		t.Run("origin "+origin+" accepted", func(t *testing.T) {
			f := newFixture(t, nil)
			code, body, _ := f.post("/pin/setup", "", good(f), func(r *http.Request) {
				r.Header.Set("Origin", origin)
				r.Header.Set("Sec-Fetch-Site", "same-origin")
			})
			if code != 200 {
				t.Fatalf("status %d\n%s", code, body)
			}
		})
	}
}

func encodeWithout(v url.Values, key string) string {
	c := url.Values{}
	for k, vs := range v {
		if k != key {
			c[k] = vs
		}
	}
	return c.Encode()
}

func TestThrottlePerAddress(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxFailuresPerAddr = 3 })
	bad := form("card", "CU0000003", "code", "AAAA", "new", newPIN, "confirm", newPIN)
	for i := 0; i < 3; i++ {
		if code, body, _ := f.post("/pin/setup", "192.0.2.9:4000", bad, nil); code != 401 {
			t.Fatalf("attempt %d: %d\n%s", i, code, body)
		}
	}
	// The right code from the same address is refused now, in either language.
	for _, lang := range []string{LangEnglish, LangChinese} {
		v := form("lang", lang, "card", card, "code", f.code, "new", newPIN, "confirm", newPIN)
		code, body, hdr := f.post("/pin/setup", "192.0.2.9:4001", v, nil)
		want := map[string]string{LangEnglish: "Too many attempts from this device", LangChinese: "此裝置嘗試次數過多"}[lang]
		if code != http.StatusTooManyRequests || !strings.Contains(body, want) || hdr.Get("Retry-After") == "" {
			t.Fatalf("%s: status %d Retry-After %q\n%s", lang, code, hdr.Get("Retry-After"), body)
		}
	}
	if f.bind(card, newPIN) {
		t.Fatal("a throttled address set the PIN")
	}
	// Another address is not affected.
	v := form("card", card, "code", f.code, "new", newPIN, "confirm", newPIN)
	if code, body, _ := f.post("/pin/setup", "198.51.100.4:4000", v, nil); code != 200 {
		t.Fatalf("another address: %d\n%s", code, body)
	}
}

func TestThrottlePerCard(t *testing.T) {
	// Wrong codes from many addresses lock the card (the store's lockout
	// counters, shared with LDAP): then even the right code is refused.
	f := newFixture(t, nil)
	for i := 0; i < 5; i++ {
		v := form("card", card, "code", "AAAA-BBBB", "new", newPIN, "confirm", newPIN)
		if code, _, _ := f.post("/pin/setup", "203.0.113."+string(rune('1'+i))+":1", v, nil); code != 401 {
			t.Fatalf("attempt %d: %d", i, code)
		}
	}
	p, _ := f.st.GetPatron(context.Background(), card)
	if p.LockedUntil.IsZero() {
		t.Fatalf("five wrong codes did not lock the card: %d failures", p.FailureCount)
	}
	v := form("card", card, "code", f.code, "new", newPIN, "confirm", newPIN)
	code, lockedBody, _ := f.post("/pin/setup", "198.51.100.7:1", v, nil)
	if code != 401 {
		t.Fatalf("right code on a locked card: %d", code)
	}
	// The page tells a locked card from no card at all by nothing.
	unknown := form("card", "CU9999998", "code", f.code, "new", newPIN, "confirm", newPIN)
	code, unknownBody, _ := f.post("/pin/setup", "198.51.100.8:1", unknown, nil)
	if code != 401 || stripToken(unknownBody) != stripToken(lockedBody) {
		t.Fatalf("unknown card: %d\n%s\nlocked card:\n%s", code, unknownBody, lockedBody)
	}
}

// stripToken blanks the per-response CSRF token and the typed card
// number, the only parts of two refusals that may differ.
func stripToken(body string) string {
	body = csrfValueRE.ReplaceAllString(body, `value="TOKEN"`)
	return strings.NewReplacer("CU9999998", "CARD", card, "CARD").Replace(body)
}

var csrfValueRE = regexp.MustCompile(`name="csrf" value="[^"]*"`)

func TestLimiterBounded(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(2, time.Minute, 100, func() time.Time { return now })
	for i := 0; i < 1000; i++ {
		l.fail(string(rune(i)))
	}
	if l.size() > 100 {
		t.Fatalf("limiter holds %d addresses, cap 100", l.size())
	}
	l.fail("x")
	l.fail("x")
	if b, _ := l.blocked("x"); !b {
		t.Fatal("x not blocked after 2 failures")
	}
	now = now.Add(time.Minute)
	if b, _ := l.blocked("x"); b {
		t.Fatal("x still blocked after the window")
	}
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1:5", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:80", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
	} {
		if got := addrKey(tc.in); got != tc.want {
			t.Errorf("addrKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPagesAndHeaders(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Secure = true })
	tests := []struct {
		path, accept string
		status       int
		want         []string
	}{
		{"/pin/", "", 200, []string{`<html lang="en">`, "Your library PIN", `href="/pin/setup"`}},
		{"/pin/setup", "zh-HK,zh;q=0.9,en;q=0.8", 200, []string{`<html lang="zh-Hant">`, "設定圖書館密碼", `method="post"`, `data-min="10"`, `autocomplete="new-password"`}},
		{"/pin/change", "en-GB", 200, []string{"Change your library PIN", `<label for="current">`, "be different from your current PIN"}},
		{"/pin/change?lang=zh-Hant", "en", 200, []string{`<html lang="zh-Hant">`, "更改圖書館密碼", `href="/pin/change?lang=en"`}},
		{"/pin/nope", "", 404, []string{"There is no such page."}},
		{"/pin/static/app.js", "", 200, []string{"data-classes"}},
		{"/pin/static/style.css", "", 200, []string{"@media"}},
		{"/pin/static/", "", 404, []string{"There is no such page."}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			res, body := f.get(tc.path, map[string]string{"Accept-Language": tc.accept})
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q", w)
				}
			}
			for k, v := range map[string]string{
				"Content-Security-Policy":   "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
				"X-Content-Type-Options":    "nosniff",
				"Referrer-Policy":           "no-referrer",
				"X-Frame-Options":           "DENY",
				"Cache-Control":             "no-store",
				"Strict-Transport-Security": "max-age=31536000",
			} {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, c := range res.Cookies() {
				if c.Name == "__Host-bindery_csrf" && (!c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/") {
					t.Errorf("CSRF cookie %+v", c)
				}
			}
		})
	}
	t.Run("language switch sets a cookie", func(t *testing.T) {
		res, _ := f.get("/pin/setup?lang=zh-Hant", nil)
		var lang *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == langCookie {
				lang = c
			}
		}
		if lang == nil || lang.Value != LangChinese || lang.SameSite != http.SameSiteStrictMode {
			t.Fatalf("language cookie %+v", lang)
		}
		req := httptest.NewRequest(http.MethodGet, "/pin/setup", nil)
		req.AddCookie(lang)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), `<html lang="zh-Hant">`) {
			t.Fatal("the cookie did not keep the language")
		}
	})
	t.Run("GET with a PIN in the URL changes nothing", func(t *testing.T) {
		res, _ := f.get("/pin/setup?card="+card+"&code="+url.QueryEscape(f.code)+"&new="+newPIN+"&confirm="+newPIN, nil)
		if res.StatusCode != 200 || f.bind(card, newPIN) {
			t.Fatal("a GET must only show the form")
		}
	})
	t.Run("method not allowed", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPut, "/pin/setup", nil)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") == "" {
			t.Fatalf("PUT: %d", rec.Code)
		}
	})
}

func TestNoSecretInLogs(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxFailuresPerAddr = 2 })
	secrets := []string{newPIN, currPIN, f.code, pinstore.NormalizeSetupCode(f.code), "Wrong-PIN-2026", "Short1"}
	posts := []struct {
		path string
		v    url.Values
	}{
		{"/pin/setup", form("card", card, "code", "Wrong-PIN-2026", "new", newPIN, "confirm", newPIN)},
		{"/pin/setup", form("card", card, "code", f.code, "new", "Short1", "confirm", "Short1")},
		{"/pin/setup", form("card", card, "code", f.code, "new", newPIN, "confirm", newPIN)},
		{"/pin/change", form("card", knownCard, "current", "Wrong-PIN-2026", "new", newPIN, "confirm", newPIN)},
		{"/pin/change", form("card", knownCard, "current", currPIN, "new", newPIN, "confirm", newPIN)},
		{"/pin/change", form("card", knownCard, "current", currPIN, "new", newPIN, "confirm", newPIN)}, // throttled
	}
	// A PIN typed into the card field (no route takes it) is logged by
	// its length only; from another address, so the throttle does not
	// answer first.
	secrets = append(secrets, "Typed-PIN-2026")
	posts = append(posts, struct {
		path string
		v    url.Values
	}{"/pin/change", form("card", "Typed-PIN-2026", "current", "Typed-PIN-2026", "new", newPIN, "confirm", newPIN)})
	for i, p := range posts {
		addr := "192.0.2.50:1"
		if i == len(posts)-1 {
			addr = "192.0.2.51:1"
		}
		_, _, hdr := f.post(p.path, addr, p.v, nil)
		if loc := hdr.Get("Location"); loc != "" {
			t.Errorf("redirect %q after a POST", loc)
		}
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "outcome=ok") || !strings.Contains(logs, "outcome=throttled") || !strings.Contains(logs, "card_len=14 route=none") {
		t.Fatalf("the attempts were not logged:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log contains the secret %q:\n%s", s, logs)
		}
	}
}

func TestCatalogue(t *testing.T) {
	for key := range messages[LangEnglish] {
		if _, ok := messages[LangChinese][key]; !ok {
			t.Errorf("zh-Hant lacks %q", key)
		}
	}
	for key := range messages[LangChinese] {
		if _, ok := messages[LangEnglish][key]; !ok {
			t.Errorf("en lacks %q", key)
		}
	}
	// Every rule problem code of pinstore.Policy.Check has its own message.
	for _, code := range []string{"too_short", "too_long", "too_few_classes", "bad_char", "same_as_old"} {
		if _, ok := messages[LangEnglish]["err."+code]; !ok {
			t.Errorf("no message for problem code %s", code)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", LangEnglish},
		{"fr", LangEnglish},
		{"zh-TW", LangChinese},
		{"zh-Hant-HK", LangChinese},
		{"en;q=0.5, zh-HK;q=0.9", LangChinese},
		{"zh;q=0, en", LangEnglish},
		{"de, en-US;q=0.8, zh;q=0.7", LangEnglish},
	} {
		if got := fromAcceptLanguage(tc.in); got != tc.want {
			t.Errorf("fromAcceptLanguage(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestPINPageAccessibility: what a screen reader and a password manager
// read from the markup: the "Error: " title of a refused form, the rules
// as attributes, each rule's state not hidden, and a confirmation that
// survives the language switch for the browser that succeeded only.
func TestPINPageAccessibility(t *testing.T) {
	f := newFixture(t, nil)
	code, body, _ := f.post("/pin/setup", "", form("card", card, "code", f.code, "new", "abc", "confirm", "abc"), nil)
	if code != 422 || !strings.Contains(body, "<title>Error: Set up your library PIN") {
		t.Fatalf("refused form: %d, title %q", code, regexp.MustCompile(`<title>[^<]*`).FindString(body))
	}
	_, body, _ = f.post("/pin/setup", "", form("lang", "zh-Hant", "card", card, "code", "AAAA", "new", newPIN, "confirm", newPIN), nil)
	if !strings.Contains(body, "<title>錯誤：設定圖書館密碼") {
		t.Errorf("Chinese title %q", regexp.MustCompile(`<title>[^<]*`).FindString(body))
	}
	_, page := f.get("/pin/setup", nil)
	if strings.Contains(page, "<title>Error") {
		t.Error("a fresh form has the error title")
	}
	for _, want := range []string{
		`id="new" name="new" type="password" autocomplete="new-password" minlength="10" maxlength="20" passwordrules="minlength: 10; maxlength: 20; required: lower, upper; required: digit; allowed: lower, upper, digit, [-!#$%&amp;*&#43;=?@^_~];"`,
		`id="confirm" name="confirm" type="password" autocomplete="new-password" minlength="10" maxlength="20"`,
		`<span class="state"></span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	if strings.Contains(page, `aria-hidden`) {
		t.Error("part of the form is hidden from screen readers")
	}

	// The language switch on the success page keeps the confirmation.
	cookie, tok := f.token("/pin/setup")
	v := form("card", card, "code", f.code, "new", newPIN, "confirm", newPIN, "csrf", tok)
	req := httptest.NewRequest(http.MethodPost, "/pin/setup", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `href="/pin/setup/done?lang=zh-Hant"`) {
		t.Fatalf("success page: %d, language switch not to the confirmation\n%s", rec.Code, rec.Body.String())
	}
	var done *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == doneCookie {
			done = c
		}
	}
	req = httptest.NewRequest(http.MethodGet, "/pin/setup/done?lang=zh-Hant", nil)
	req.AddCookie(done)
	rec = httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "你的密碼已設定") {
		t.Fatalf("switched confirmation: %d\n%s", rec.Code, rec.Body.String())
	}
	// Without the cookie (a link someone sent) it is the form, not a claim.
	res, _ := f.get("/pin/setup/done", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/pin/setup" {
		t.Fatalf("done page without the cookie: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
