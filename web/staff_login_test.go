package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestStaffLogin(t *testing.T) {
	tests := []struct {
		name      string
		form      url.Values
		mod       func(*http.Request)
		down      bool
		status    int
		want      string
		asked     bool   // Login was called
		result    string // the count of action "login"
		auditedAs string // the staff audit action recorded for the ID
	}{
		{name: "counter by category", form: url.Values{"uid": {" JWong "}, "password": {"Jwong-Pass-1"}}, status: 303, asked: true, result: "ok", auditedAs: "staff-login"},
		{name: "admin by group", form: url.Values{"uid": {"mchan"}, "password": {"Mchan-Pass-1"}}, status: 303, asked: true, result: "ok", auditedAs: "staff-login"},
		{name: "wrong password", form: url.Values{"uid": {"jwong"}, "password": {"nope"}}, status: 401,
			want: "The campus login or the password is not right", asked: true, result: "failed", auditedAs: "staff-login-failed"},
		{name: "campus user in no role", form: url.Values{"uid": {"nobody"}, "password": {"Nobody-Pass-1"}}, status: 403,
			want: "you have no role in the staff console", asked: true, result: "norole", auditedAs: "staff-login-refused"},
		{name: "a patron ID never gets in, its PIN unchecked", form: url.Values{"uid": {"cu1234567"}, "password": {"Whatever-2026"}}, status: 403,
			want: "Library card numbers cannot log in", result: "refused", auditedAs: "staff-login-refused"},
		{name: "empty password is never a bind", form: url.Values{"uid": {"jwong"}}, status: 422, want: "Enter your password.", result: "invalid"},
		{name: "directory down", form: url.Values{"uid": {"jwong"}, "password": {"Jwong-Pass-1"}}, down: true, status: 503,
			want: "The campus directory did not answer", asked: true, result: "unavailable"},
		{name: "throttled pair", form: url.Values{"uid": {"slow"}, "password": {"x"}}, status: 429, want: "Wait 5 seconds", asked: true, result: "throttled"},
		{name: "no CSRF token", form: url.Values{"uid": {"jwong"}, "password": {"Jwong-Pass-1"}, "csrf": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, status: 403,
			want: "This form had expired", result: "csrf"},
		{name: "cross-site", form: url.Values{"uid": {"jwong"}, "password": {"Jwong-Pass-1"}}, mod: func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
			status: 403, want: "This form had expired", result: "csrf"},
		{name: "Chinese", form: url.Values{"uid": {"jwong"}, "password": {"nope"}, "lang": {"zh-Hant"}}, status: 401,
			want: "校園登入名稱或密碼不正確", asked: true, result: "failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newStaffFixture(t, true)
			f.down = tc.down
			f.addPatron("CU1234567", "Known-PIN-2026")
			rec := f.loginForm(tc.mod, tc.form)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", rec.Code, tc.status, rec.Body.String())
			}
			if tc.want != "" {
				mustContain(t, rec.Body.String(), tc.want)
			}
			if (f.logins > 0) != tc.asked {
				t.Errorf("the directory was asked %d times, want asked=%v", f.logins, tc.asked)
			}
			if got := f.count("login " + tc.result); got != 1 {
				t.Errorf("login %s counted %d times", tc.result, got)
			}
			var session *http.Cookie
			for _, c := range rec.Result().Cookies() {
				if c.Name == "__Host-bindery_staff" {
					session = c
				}
			}
			if (tc.status == 303) != (session != nil) {
				t.Fatalf("session cookie %+v after status %d", session, tc.status)
			}
			if session != nil && (!session.Secure || !session.HttpOnly || session.Path != "/" || session.SameSite != http.SameSiteStrictMode) {
				t.Errorf("session cookie %+v", session)
			}
			prefixed := strings.Contains(rec.Body.String(), "<title>Error: ") || strings.Contains(rec.Body.String(), "<title>錯誤：")
			if tc.status >= 400 && !prefixed {
				t.Errorf("a refused log-in keeps its plain title")
			}
			if tc.auditedAs != "" {
				id := strings.ToUpper(strings.TrimSpace(tc.form.Get("uid")))
				if !strings.HasPrefix(id, "CU") {
					id = strings.ToLower(id)
				}
				if e := f.lastAudit(id); e.Action != tc.auditedAs || e.Addr != "10.0.0.7" || e.Operator != id {
					t.Errorf("audit row %+v, want %s by %s from 10.0.0.7", e, tc.auditedAs, id)
				}
			}
			if strings.Contains(f.logs.String(), tc.form.Get("password")) && tc.form.Get("password") != "" && tc.form.Get("password") != "x" {
				t.Errorf("the password is in the log")
			}
		})
	}
}

func TestStaffLoginThrottledPerAddress(t *testing.T) {
	f := newStaffFixture(t, false)
	for i := 0; i < 4; i++ {
		if rec := f.loginForm(nil, url.Values{"uid": {"jwong"}, "password": {"wrong"}}); rec.Code != 401 {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
	}
	asked := f.logins
	rec := f.loginForm(nil, url.Values{"uid": {"jwong"}, "password": {"Jwong-Pass-1"}})
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || f.logins != asked {
		t.Fatalf("after 4 failures from one desk: %d, asked again: %v", rec.Code, f.logins != asked)
	}
	f.advance(16 * time.Minute)
	if rec := f.loginForm(nil, url.Values{"uid": {"jwong"}, "password": {"Jwong-Pass-1"}}); rec.Code != 303 {
		t.Fatalf("after the window: %d", rec.Code)
	}
}

// TestStaffSession: the plain-HTTP cookie (loopback only) has no __Host-
// prefix and stays on /staff/; an idle session and an old one end with a
// message; log-out ends it; a reload that takes the role away ends it.
func TestStaffSession(t *testing.T) {
	f := newStaffFixture(t, false)
	c := f.loginAs("jwong", "Jwong-Pass-1")
	if len(c.cookies) != 1 || c.cookies[0].Name != "bindery_staff" || c.cookies[0].Path != "/staff/" || c.cookies[0].Secure {
		t.Fatalf("plain-HTTP session cookie %+v", c.cookies[0])
	}
	if rec := c.get("/staff/"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Logged in as jwong (counter)") {
		t.Fatalf("front page: %d", rec.Code)
	}
	f.advance(14 * time.Minute)
	if rec := c.get("/staff/"); rec.Code != 200 {
		t.Fatalf("14 minutes idle: %d", rec.Code)
	}
	f.advance(15 * time.Minute)
	rec := c.get("/staff/patron?id=CU1")
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("15 minutes idle: %d", rec.Code)
	}
	mustContain(t, rec.Body.String(), "You were logged out after a while without using the console", `name="next" value="/staff/patron?id=CU1"`)
	// A POST on an ended session changes nothing and asks for the log-in.
	f.addPatron("CU1234567", "Known-PIN-2026")
	if rec := c.post("/staff/unlock", url.Values{"id": {"CU1234567"}}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("POST on an ended session: %d", rec.Code)
	}

	// Absolute limit: used every 10 minutes, it still ends after 10 hours.
	c = f.loginAs("jwong", "Jwong-Pass-1")
	for i := 0; i < 59; i++ {
		f.advance(10 * time.Minute)
		if rec := c.get("/staff/"); rec.Code != 200 {
			t.Fatalf("after %d minutes of use: %d", (i+1)*10, rec.Code)
		}
	}
	f.advance(10 * time.Minute)
	if rec := c.get("/staff/"); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "reached its time limit") {
		t.Fatalf("after 10 hours: %d", rec.Code)
	}

	// Log-out: the cookie no longer works, and it is recorded.
	c = f.loginAs("jwong", "Jwong-Pass-1")
	if rec := c.post("/staff/logout", url.Values{}); rec.Code != 200 || !strings.Contains(rec.Body.String(), "You are logged out.") {
		t.Fatalf("log-out: %d", rec.Code)
	}
	if rec := c.get("/staff/"); strings.Contains(rec.Body.String(), "Logged in as") {
		t.Fatal("the session still works after log-out")
	}
	if e := f.lastAudit("jwong"); e.Action != "staff-logout" {
		t.Errorf("log-out not in the audit trail: %+v", e)
	}

	// The role is taken away by a reload: the next request ends the session.
	c = f.loginAs("jwong", "Jwong-Pass-1")
	f.mu.Lock()
	f.roles = map[string][]string{"viewer": {"vlee"}}
	f.mu.Unlock()
	if rec := c.get("/staff/"); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "no role") {
		t.Fatalf("after losing the role: %d", rec.Code)
	}
	if f.h.ss.len() != 0 {
		t.Errorf("%d sessions left", f.h.ss.len())
	}
}

func TestStaffRoles(t *testing.T) {
	roles := map[string][]string{
		"counter": {"category:staff-circ", "JWong"},
		"viewer":  {"group:desk"},
		"admin":   {"group:cn=sysadm,ou=groups,dc=example,dc=org"},
	}
	for _, tc := range []struct {
		uid, category string
		groups        []string
		want          int
	}{
		{"jwong", "", nil, roleCounter},
		{"kchan", "Staff-Circ", nil, roleCounter},
		{"kchan", "staff", []string{"cn=desk,ou=groups,dc=example,dc=org"}, roleViewer},
		{"kchan", "desk", nil, roleViewer}, // bindery's virtual group of the category
		{"kchan", "staff-circ", []string{"CN=SysAdm,OU=Groups,DC=example,DC=org"}, roleAdmin},
		{"kchan", "student", []string{"cn=other,ou=groups"}, roleNone},
		{"category:staff-circ", "", nil, roleNone},
	} {
		if got := roleOf(roles, tc.uid, tc.category, tc.groups); got != tc.want {
			t.Errorf("roleOf(%s, %s, %v) = %d, want %d", tc.uid, tc.category, tc.groups, got, tc.want)
		}
	}
}
