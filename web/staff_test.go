package web

import (
	"context"
	"errors"
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
	"github.com/bindery/bindery/backend/cache"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/config"
	"github.com/bindery/bindery/internal/desk"
	"github.com/bindery/bindery/internal/passhash"
	"github.com/bindery/bindery/proxy"
)

const staffCfg = `
[server]
suffix = "dc=library,dc=example,dc=edu"

[[route]]
name = "julac"
match = '^(CU|BU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[[route]]
name = "campus"
match = '^[a-z][a-z0-9]{1,15}$'
case = "lower"
backend = "campus"

[backend.campus]
type = "ldap"
urls = ["ldap://127.0.0.1:1"]
base_dn = "ou=people,dc=example,dc=org"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "unused"

[http]
listen = "127.0.0.1:9389"

[staff]
enabled = true
roles = { counter = ["category:staff-circ"], viewer = ["vlee"], admin = ["group:library-admins"] }
`

// campusUser is a campus account of the fake directory behind Login.
type campusUser struct {
	password string
	entry    backend.Entry
}

// staffFixture is the console over a real PIN store (behind a real bind
// cache) and a fake campus directory.
type staffFixture struct {
	t       *testing.T
	st      *pinstore.Store
	cached  backend.Authenticator
	h       *Staff
	cfg     *config.Config
	now     time.Time
	mu      sync.Mutex
	campus  map[string]campusUser
	logins  int
	down    bool
	counts  map[string]int
	logs    *syncBuf
	roles   map[string][]string
	cookies map[string]*http.Cookie
}

func newStaffFixture(t *testing.T, secure bool) *staffFixture {
	t.Helper()
	cfg, err := config.Parse([]byte(staffCfg))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := pinstore.Open(context.Background(), pinstore.Options{
		DSN:     filepath.Join(t.TempDir(), "pins.db"),
		Hash:    passhash.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		Lockout: pinstore.Lockout{MaxFailures: 3, Window: time.Hour, Duration: time.Hour},
		Logger:  logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &staffFixture{
		t: t, st: st, cfg: cfg, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), logs: logs,
		cached: cache.New("pins", st, cache.Options{TTL: time.Hour}),
		counts: map[string]int{}, roles: cfg.Staff.Roles, cookies: map[string]*http.Cookie{},
		campus: map[string]campusUser{
			"jwong": {"Jwong-Pass-1", backend.Entry{ID: "jwong", CommonName: "WONG Ka Wai", Category: "staff-circ"}},
			"vlee":  {"Vlee-Pass-1", backend.Entry{ID: "vlee", CommonName: "LEE Viewer", Category: "staff"}},
			"mchan": {"Mchan-Pass-1", backend.Entry{ID: "mchan", CommonName: "CHAN Admin", Category: "staff",
				Extra: map[string][]string{"memberOf": {"cn=library-admins,ou=groups,dc=example,dc=org"}}}},
			"nobody": {"Nobody-Pass-1", backend.Entry{ID: "nobody", CommonName: "HO Student", Category: "student"}},
		},
	}
	d := &desk.Desk{Config: cfg, Store: func(name string) (*pinstore.Store, error) {
		if name != "pins" {
			return nil, errors.New("no such store")
		}
		return st, nil
	}}
	h, err := NewStaff(StaffOptions{
		Config: func() StaffConfig {
			f.mu.Lock()
			defer f.mu.Unlock()
			return StaffConfig{Desk: d, Roles: f.roles, AuditBackend: "pins", SetupCodeTTL: time.Hour,
				PINPageURL: "https://library.example.edu/pin/setup"}
		},
		Login: func(ctx context.Context, id, password, client string) (proxy.Login, bool, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.logins++
			if f.down {
				return proxy.Login{}, false, backend.ErrUnavailable
			}
			nid := strings.ToLower(id)
			l := proxy.Login{ID: nid, Route: "campus", Backend: "campus"}
			if id == "slow" {
				l.Wait = 4 * time.Second
				return l, false, nil
			}
			u, ok := f.campus[nid]
			if !ok || u.password != password {
				l.Result.Reason = backend.ReasonBadCredentials
				return l, false, nil
			}
			e := u.entry
			l.Result.Entry = &e
			return l, true, nil
		},
		Secure:             secure,
		MaxFailuresPerAddr: 4,
		Count:              func(a, r string) { f.mu.Lock(); f.counts[a+" "+r]++; f.mu.Unlock() },
		Logger:             logger,
		Now:                func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

func (f *staffFixture) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

func (f *staffFixture) count(k string) int { f.mu.Lock(); defer f.mu.Unlock(); return f.counts[k] }

// do sends one request with the given cookies and returns the response.
func (f *staffFixture) do(method, target string, body io.Reader, ctype string, cookies []*http.Cookie, mod func(*http.Request)) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = "10.0.0.7:50000"
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	if mod != nil {
		mod(req)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// loginAs logs in and returns the session's cookies and the session's
// CSRF token (from the front page).
type staffClient struct {
	f       *staffFixture
	cookies []*http.Cookie
	csrf    string
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (f *staffFixture) loginForm(mod func(*http.Request), form url.Values) *httptest.ResponseRecorder {
	f.t.Helper()
	rec := f.do("GET", "/staff/login", nil, "", nil, nil)
	m := csrfRE.FindStringSubmatch(rec.Body.String())
	if m == nil {
		f.t.Fatalf("no CSRF token on the log-in page:\n%s", rec.Body.String())
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", m[1])
	}
	return f.do("POST", "/staff/login", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", rec.Result().Cookies(), mod)
}

func (f *staffFixture) loginAs(uid, password string) *staffClient {
	f.t.Helper()
	rec := f.loginForm(nil, url.Values{"uid": {uid}, "password": {password}})
	if rec.Code != http.StatusSeeOther {
		f.t.Fatalf("log-in as %s: %d\n%s", uid, rec.Code, rec.Body.String())
	}
	c := &staffClient{f: f, cookies: rec.Result().Cookies()}
	page := c.get("/staff/")
	m := csrfRE.FindStringSubmatch(page.Body.String())
	if m == nil {
		f.t.Fatalf("no session token on the front page:\n%s", page.Body.String())
	}
	c.csrf = m[1]
	return c
}

func (c *staffClient) get(target string) *httptest.ResponseRecorder {
	c.f.t.Helper()
	return c.f.do("GET", target, nil, "", c.cookies, nil)
}

var nonceRE = regexp.MustCompile(`name="nonce" value="([^"]+)"`)

// post submits a form with the session's token and a fresh nonce.
func (c *staffClient) post(target string, form url.Values) *httptest.ResponseRecorder {
	c.f.t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", c.csrf)
	}
	if form.Get("nonce") == "" {
		form.Set("nonce", newToken()[:22])
	}
	return c.f.do("POST", target, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", c.cookies, nil)
}

func (f *staffFixture) addPatron(id, pin string) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.st.AddPatron(ctx, pinstore.Patron{ID: id, Name: "CHAN Tai Man", Category: "julac"}, "alice"); err != nil {
		f.t.Fatal(err)
	}
	if pin != "" {
		if err := f.st.SetPIN(ctx, id, pin, "alice"); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *staffFixture) bind(id, pin string) bool {
	f.t.Helper()
	_, ok, err := f.cached.Authenticate(context.Background(), backend.Credentials{ID: id, Password: pin, ClientAddr: "192.0.2.1"})
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

// lastAudit is the newest staff audit row of id.
func (f *staffFixture) lastAudit(id string) pinstore.AuditEntry {
	f.t.Helper()
	log, err := f.st.AuditLog(context.Background(), id, 1)
	if err != nil || len(log) == 0 {
		f.t.Fatalf("no audit row for %s: %v", id, err)
	}
	return log[0]
}

func mustContain(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("body lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("body:\n%s", body)
	}
}
