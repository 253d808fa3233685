package web

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend/pinstore"
)

var (
	slipPINRE  = regexp.MustCompile(`id="slip-pin">([^<]+)<`)
	slipCodeRE = regexp.MustCompile(`id="slip-code">([^<]+)<`)
)

// lockOut makes id locked with wrong PINs from a client.
func (f *staffFixture) lockOut(id string) {
	f.t.Helper()
	for i := 0; i < 3; i++ {
		f.bind(id, "Wrong-PIN-202"+string(rune('0'+i))) // distinct: the negative cache counts a repeat once
	}
	if p, _ := f.st.GetPatron(context.Background(), id); p.LockedUntil.IsZero() {
		f.t.Fatalf("%s is not locked", id)
	}
}

// TestStaffActions runs every counter action through the handler against
// a real store behind a real bind cache: each one is the store's own call,
// recorded with the clerk's UID and the desk's address, and a bind sees
// the change at once.
func TestStaffActions(t *testing.T) {
	ctx := context.Background()
	f := newStaffFixture(t, true)
	c := f.loginAs("jwong", "Jwong-Pass-1")
	audited := func(id, action string) {
		t.Helper()
		e := f.lastAudit(id)
		if e.Action != action || e.Operator != "jwong" || e.Addr != "10.0.0.7" {
			t.Errorf("audit row of %s: %+v, want %s by jwong from 10.0.0.7", id, e, action)
		}
	}

	t.Run("look-up as scanned", func(t *testing.T) {
		f.addPatron("CU1000001", "Known-PIN-2026")
		f.lockOut("CU1000001")
		rec := c.get("/staff/patron?id=" + url.QueryEscape(" cu1000001\r\n"))
		if rec.Code != 200 {
			t.Fatalf("look-up: %d", rec.Code)
		}
		mustContain(t, rec.Body.String(), "State: locked", "after 3 failed attempts; the last one came from 192.0.2.1",
			"Check the patron&#39;s ID card, then unlock", `id="unlock" class="primary"`, "typed as cu1000001")
	})
	t.Run("unlock", func(t *testing.T) {
		if f.bind("CU1000001", "Known-PIN-2026") {
			t.Fatal("a locked account binds")
		}
		rec := c.post("/staff/unlock", url.Values{"id": {"cu1000001"}})
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/staff/patron?done=unlock&id=CU1000001" {
			t.Fatalf("unlock: %d %q", rec.Code, rec.Header().Get("Location"))
		}
		if !f.bind("CU1000001", "Known-PIN-2026") {
			t.Fatal("the unlocked account does not bind")
		}
		audited("CU1000001", "unlock")
		if page := c.get(rec.Header().Get("Location")); !strings.Contains(page.Body.String(), "Unlocked: the patron can log in again.") {
			t.Error("no notice after the redirect")
		}
	})
	t.Run("reset PIN onto a slip", func(t *testing.T) {
		if !f.bind("CU1000001", "Known-PIN-2026") { // cached now
			t.Fatal("bind before reset")
		}
		rec := c.post("/staff/reset", url.Values{"id": {"CU1000001"}, "slip_lang": {"zh-Hant"}})
		if rec.Code != 200 {
			t.Fatalf("reset: %d\n%s", rec.Code, rec.Body.String())
		}
		body := rec.Body.String()
		pin, code := slipPINRE.FindStringSubmatch(body), slipCodeRE.FindStringSubmatch(body)
		if pin == nil || code == nil {
			t.Fatalf("the slip shows no PIN or code:\n%s", body)
		}
		mustContain(t, body, `<section class="slip" lang="zh-Hant"`, "你的圖書館密碼", "https://library.example.edu/pin/setup",
			"This is shown only once") // the console stays in the clerk's language
		if f.bind("CU1000001", "Known-PIN-2026") {
			t.Fatal("the old PIN still binds (from the cache) after the reset")
		}
		if !f.bind("CU1000001", pin[1]) {
			t.Fatal("the one-time PIN does not bind")
		}
		audited("CU1000001", "issue-setup-code")
		log, _ := f.st.AuditLog(ctx, "CU1000001", 2)
		if log[1].Action != "reset-pin" || log[1].Operator != "jwong" || log[1].Addr != "10.0.0.7" {
			t.Errorf("reset row %+v", log[1])
		}
		// The set-up code works on the PIN page's store call.
		if err := f.st.UseSetupCode(ctx, "CU1000001", code[1], "Chosen-PIN-2026", "192.0.2.9"); err != nil {
			t.Fatalf("the slip's set-up code: %v", err)
		}
		// Never retrievable again: the patron page does not show it.
		if page := c.get("/staff/patron?id=CU1000001").Body.String(); strings.Contains(page, pin[1]) || strings.Contains(page, code[1]) {
			t.Fatal("the patron page shows the one-time PIN or code")
		}
		if strings.Contains(f.logs.String(), pin[1]) || strings.Contains(f.logs.String(), code[1]) {
			t.Fatal("the one-time PIN or code is in the log")
		}
	})
	t.Run("set-up code for a new patron", func(t *testing.T) {
		f.addPatron("CU1000002", "")
		rec := c.post("/staff/setup-code", url.Values{"id": {"CU1000002"}})
		code := slipCodeRE.FindStringSubmatch(rec.Body.String())
		if rec.Code != 200 || code == nil || slipPINRE.MatchString(rec.Body.String()) {
			t.Fatalf("setup-code: %d\n%s", rec.Code, rec.Body.String())
		}
		audited("CU1000002", "issue-setup-code")
		if err := f.st.UseSetupCode(ctx, "CU1000002", code[1], "Chosen-PIN-2026", ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("card replacement asks first", func(t *testing.T) {
		f.addPatron("CU1000003", "Card-PIN-2026")
		rec := c.post("/staff/replace", url.Values{"id": {"CU1000003"}, "new": {" cu1000004 "}})
		if rec.Code != 200 {
			t.Fatalf("replace, first step: %d", rec.Code)
		}
		mustContain(t, rec.Body.String(), "Replace card CU1000003 (CHAN Tai Man) with the new card CU1000004?",
			`name="confirm" value="yes"`, `name="new" value="CU1000004"`)
		if !f.bind("CU1000003", "Card-PIN-2026") {
			t.Fatal("the first step replaced the card")
		}
		form := url.Values{"id": {"CU1000003"}, "new": {"CU1000004"}, "confirm": {"yes"}}
		rec = c.post("/staff/replace", form)
		if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "id=CU1000004") {
			t.Fatalf("replace: %d %q", rec.Code, rec.Header().Get("Location"))
		}
		if f.bind("CU1000003", "Card-PIN-2026") || !f.bind("CU1000004", "Card-PIN-2026") {
			t.Fatal("after the replacement the old card must fail and the new one bind")
		}
		audited("CU1000004", "replace-card")
		page := c.get("/staff/patron?id=CU1000003").Body.String()
		mustContain(t, page, "State: card replaced", "This card was replaced by CU1000004", "The patron must use the new card number CU1000004.")
		if strings.Contains(page, `action="/staff/reset"`) {
			t.Error("a replaced card offers a PIN reset")
		}
		form.Del("nonce")
		if rec := c.post("/staff/replace", form); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "was replaced by card CU1000004") {
			t.Errorf("replacing a replaced card: %d", rec.Code)
		}
	})
	t.Run("add a patron with a slip", func(t *testing.T) {
		page := c.get("/staff/patron?id=cu1000005").Body.String()
		mustContain(t, page, "Not in the PIN store", `action="/staff/add"`)
		rec := c.post("/staff/add", url.Values{"id": {"CU1000005"}, "name": {""}, "expires": {"2027-13-01"}})
		if rec.Code != http.StatusUnprocessableEntity {
			t.Fatalf("add without a name: %d", rec.Code)
		}
		mustContain(t, rec.Body.String(), "Enter the patron&#39;s name.", "Write the date as YYYY-MM-DD.", `id="error-summary"`, "<title>Error: ")
		rec = c.post("/staff/add", url.Values{"id": {"CU1000005"}, "name": {"LAM Mei"}, "category": {"julac"},
			"expires": {"2027-08-31"}, "setup_code": {"yes"}, "slip_lang": {"en"}})
		if rec.Code != 200 || !slipCodeRE.MatchString(rec.Body.String()) {
			t.Fatalf("add with a code: %d\n%s", rec.Code, rec.Body.String())
		}
		p, err := f.st.GetPatron(ctx, "CU1000005")
		if err != nil || p.Name != "LAM Mei" || p.Institution != "The Chinese University of Hong Kong" || p.Expires.IsZero() {
			t.Fatalf("added: %+v %v", p, err)
		}
		log, _ := f.st.AuditLog(ctx, "CU1000005", 5)
		if len(log) != 2 || log[1].Action != "add" || log[1].Operator != "jwong" {
			t.Errorf("audit %+v", log)
		}
	})
	t.Run("dates", func(t *testing.T) {
		f.addPatron("CU1000006", "Dates-PIN-2026")
		tomorrow := f.now.Add(48 * time.Hour).Local().Format("2006-01-02")
		if rec := c.post("/staff/dates", url.Values{"id": {"CU1000006"}, "active_from": {tomorrow}}); rec.Code != http.StatusSeeOther {
			t.Fatalf("dates: %d", rec.Code)
		}
		audited("CU1000006", "update")
		p, _ := f.st.GetPatron(ctx, "CU1000006")
		if p.ActiveFrom.Local().Format("2006-01-02") != tomorrow {
			t.Fatalf("active_from %v", p.ActiveFrom)
		}
		if rec := c.post("/staff/dates", url.Values{"id": {"CU1000006"}, "active_from": {""}}); rec.Code != http.StatusSeeOther {
			t.Fatalf("clearing: %d", rec.Code)
		}
		if p, _ := f.st.GetPatron(ctx, "CU1000006"); !p.ActiveFrom.IsZero() {
			t.Fatalf("active_from not cleared: %v", p.ActiveFrom)
		}
	})
	t.Run("suspend asks first, then resume", func(t *testing.T) {
		f.addPatron("CU1000007", "Susp-PIN-2026")
		if rec := c.post("/staff/suspend", url.Values{"id": {"CU1000007"}}); rec.Code != 422 || !strings.Contains(rec.Body.String(), "Say why") {
			t.Fatalf("suspend without a reason: %d", rec.Code)
		}
		rec := c.post("/staff/suspend", url.Values{"id": {"CU1000007"}, "reason": {"card reported stolen"}})
		mustContain(t, rec.Body.String(), "Suspend CU1000007 (CHAN Tai Man)?", "card reported stolen", `name="confirm" value="yes"`)
		if !f.bind("CU1000007", "Susp-PIN-2026") {
			t.Fatal("the first step suspended")
		}
		rec = c.post("/staff/suspend", url.Values{"id": {"CU1000007"}, "reason": {"card reported stolen"}, "confirm": {"yes"}})
		if rec.Code != http.StatusSeeOther || f.bind("CU1000007", "Susp-PIN-2026") {
			t.Fatalf("suspend: %d, or it still binds", rec.Code)
		}
		audited("CU1000007", "suspend")
		mustContain(t, c.get("/staff/patron?id=CU1000007").Body.String(), "Suspended by jwong", "Reason: card reported stolen", `action="/staff/resume"`)
		if rec := c.post("/staff/resume", url.Values{"id": {"CU1000007"}}); rec.Code != http.StatusSeeOther || !f.bind("CU1000007", "Susp-PIN-2026") {
			t.Fatalf("resume: %d", rec.Code)
		}
		audited("CU1000007", "resume")
		if rec := c.post("/staff/resume", url.Values{"id": {"CU1000007"}}); rec.Code != http.StatusConflict {
			t.Errorf("resuming an active account: %d", rec.Code)
		}
	})
	for _, a := range []string{"unlock", "reset", "setup_code", "replace_card", "add", "dates", "suspend", "resume", "lookup"} {
		if f.count(a+" ok") == 0 {
			t.Errorf("%s ok was never counted", a)
		}
	}
}

// TestStaffViewer: a viewer sees no action, and a forged POST gets 403 and
// changes nothing.
func TestStaffViewer(t *testing.T) {
	f := newStaffFixture(t, false)
	f.addPatron("CU2000001", "View-PIN-2026")
	f.lockOut("CU2000001")
	c := f.loginAs("vlee", "Vlee-Pass-1")
	page := c.get("/staff/patron?id=CU2000001").Body.String()
	mustContain(t, page, "State: locked", "Logged in as vlee (view only)")
	for _, action := range []string{"/staff/unlock", "/staff/reset", "/staff/setup-code", "/staff/replace", "/staff/dates", "/staff/suspend", "/staff/add", "/staff/import", "/staff/export"} {
		if strings.Contains(page, `action="`+action+`"`) {
			t.Errorf("a viewer is offered %s", action)
		}
		rec := c.post(action, url.Values{"id": {"CU2000001"}, "new": {"CU2000002"}, "reason": {"x"}, "confirm": {"yes"}, "name": {"x"}})
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "Your role does not allow this") {
			t.Errorf("viewer POST %s: %d", action, rec.Code)
		}
	}
	if p, _ := f.st.GetPatron(context.Background(), "CU2000001"); p.LockedUntil.IsZero() || p.Status != pinstore.StatusActive {
		t.Fatal("a viewer's forged POST changed the account")
	}
	if f.count("unlock denied") != 1 {
		t.Errorf("denied not counted")
	}
	// A counter clerk cannot reach the admin pages either.
	cc := f.loginAs("jwong", "Jwong-Pass-1")
	if rec := cc.get("/staff/import"); rec.Code != http.StatusForbidden {
		t.Errorf("counter GET import: %d", rec.Code)
	}
}

// TestStaffCSRF: every POST needs the session's token and the same origin.
func TestStaffCSRF(t *testing.T) {
	f := newStaffFixture(t, true)
	f.addPatron("CU3000001", "Csrf-PIN-2026")
	f.lockOut("CU3000001")
	c := f.loginAs("jwong", "Jwong-Pass-1")
	other := f.loginAs("mchan", "Mchan-Pass-1")
	for _, tc := range []struct {
		name string
		form func(url.Values)      // changes to the form
		req  func(r *http.Request) // changes to the request
	}{
		{"no token", func(v url.Values) { v.Del("csrf") }, nil},
		{"another session's token", func(v url.Values) { v.Set("csrf", other.csrf) }, nil},
		{"cross-site origin", nil, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }},
		{"cross-site fetch", nil, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{"id": {"CU3000001"}, "csrf": {c.csrf}, "nonce": {newToken()[:22]}}
			if tc.form != nil {
				tc.form(v)
			}
			rec := f.do("POST", "/staff/unlock", strings.NewReader(v.Encode()), "application/x-www-form-urlencoded", c.cookies, tc.req)
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "This form had expired") {
				t.Fatalf("status %d", rec.Code)
			}
			if p, _ := f.st.GetPatron(context.Background(), "CU3000001"); p.LockedUntil.IsZero() {
				t.Fatal("unlocked despite the CSRF failure")
			}
		})
	}
	// The same request with the right token does unlock: the refusals
	// above were the token's and the origin's doing.
	if rec := c.post("/staff/unlock", url.Values{"id": {"CU3000001"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("with the right token: %d", rec.Code)
	}
}

// TestStaffRepeatedForm: a double click or a reload of the slip does not
// reset the PIN a second time.
func TestStaffRepeatedForm(t *testing.T) {
	f := newStaffFixture(t, false)
	f.addPatron("CU4000001", "Rep-PIN-2026")
	c := f.loginAs("jwong", "Jwong-Pass-1")
	form := url.Values{"id": {"CU4000001"}, "nonce": {"nonce-one"}}
	first := c.post("/staff/reset", form)
	pin := slipPINRE.FindStringSubmatch(first.Body.String())
	if first.Code != 200 || pin == nil {
		t.Fatalf("reset: %d", first.Code)
	}
	again := c.post("/staff/reset", form)
	if again.Code != http.StatusConflict || !strings.Contains(again.Body.String(), "This form was already sent") {
		t.Fatalf("the same form again: %d", again.Code)
	}
	if !f.bind("CU4000001", pin[1]) {
		t.Fatal("the first slip's PIN no longer works: the form acted twice")
	}
}

// TestStaffErrors: a clear answer for every error, never a stack trace.
func TestStaffErrors(t *testing.T) {
	f := newStaffFixture(t, false)
	c := f.loginAs("jwong", "Jwong-Pass-1")
	for _, tc := range []struct {
		name, path string
		form       url.Values
		status     int
		want       string
	}{
		{"unknown ID", "/staff/unlock", url.Values{"id": {"CU9999999"}}, 404, "CU9999999 is not in the PIN store. Nothing was changed."},
		{"no route", "/staff/unlock", url.Values{"id": {"X-1"}}, 404, "No kind of account looks like X-1"},
		{"campus login", "/staff/reset", url.Values{"id": {"JWong"}}, 409, "jwong is a campus login: its password belongs to the campus directory"},
		{"no ID", "/staff/unlock", url.Values{}, 422, "No card number or login was given."},
		{"replace onto a campus login", "/staff/replace", url.Values{"id": {"CU5000001"}, "new": {"jwong"}}, 422, "jwong is not a library card number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "replace onto a campus login" {
				f.addPatron("CU5000001", "")
			}
			rec := c.post(tc.path, tc.form)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d\n%s", rec.Code, tc.status, rec.Body.String())
			}
			mustContain(t, rec.Body.String(), tc.want, "<title>Error: ")
		})
	}
	t.Run("look-ups", func(t *testing.T) {
		mustContain(t, c.get("/staff/patron?id=zz-1").Body.String(), "No such kind of ID", "Check the number on the card")
		page := c.get("/staff/patron?id=JWONG").Body.String()
		mustContain(t, page, "Campus login", "campus IT owns the password", "send the patron to the campus IT help desk", "ldap://127.0.0.1:1")
		if strings.Contains(page, `action="/staff/reset"`) {
			t.Error("a campus login offers a PIN reset")
		}
		zh := c.get("/staff/patron?id=CU9999999&lang=zh-Hant").Body.String()
		mustContain(t, zh, `<html lang="zh-Hant">`, "不在密碼資料庫", "加入 CU9999999")
	})
	t.Run("store unavailable", func(t *testing.T) {
		f.addPatron("CU5000002", "")
		f.st.Close()
		rec := c.post("/staff/unlock", url.Values{"id": {"CU5000002"}})
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("closed store: %d %q\n%s", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
		}
		mustContain(t, rec.Body.String(), "The PIN store is busy or unavailable, so nothing was changed")
		for _, leak := range []string{"goroutine", "sql:", "pinstore:", ".go:"} {
			if strings.Contains(rec.Body.String(), leak) {
				t.Errorf("the page shows %q", leak)
			}
		}
		if rec := c.get("/staff/patron?id=CU5000002"); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("look-up on a closed store: %d", rec.Code)
		}
	})
}

// TestStaffAdmin: import with the line-numbered report, export without
// hashes, and the staff activity page.
func TestStaffAdmin(t *testing.T) {
	f := newStaffFixture(t, false)
	f.addPatron("CU6000001", "Admin-PIN-2026")
	c := f.loginAs("mchan", "Mchan-Pass-1")
	upload := func(csv string, strict bool) *http.Response {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		w.WriteField("csrf", c.csrf)
		w.WriteField("nonce", newToken()[:22])
		if strict {
			w.WriteField("strict", "yes")
		}
		fw, _ := w.CreateFormFile("file", "patrons.csv")
		fw.Write([]byte(csv))
		w.Close()
		return f.do("POST", "/staff/import", &buf, w.FormDataContentType(), c.cookies, nil).Result()
	}
	res := upload("id,name,expires\nCU6000002,HO Ka Ming,2027-01-01\nCU6000009,X,31/12/2027\nCU6000003,YIP Wai,\n", false)
	body, _ := readAll(res)
	if res.StatusCode != 200 {
		t.Fatalf("import: %d\n%s", res.StatusCode, body)
	}
	mustContain(t, body, "Created 2, updated 0, skipped 0, 1 bad.", "line 3: ")
	if _, err := f.st.GetPatron(context.Background(), "CU6000003"); err != nil {
		t.Fatal("the good rows were not loaded")
	}
	if e := f.lastAudit("CU6000002"); e.Operator != "mchan" || e.Action != "import-create" || e.Addr != "10.0.0.7" {
		t.Errorf("import audit %+v", e)
	}
	res = upload("name,colour\nX,red\n", false)
	body, _ = readAll(res)
	mustContain(t, body, "line 1: ", "Nothing was loaded")

	rec := c.post("/staff/export", url.Values{})
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(rec.Header().Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", rec.Code, rec.Header())
	}
	if !strings.Contains(rec.Body.String(), "CU6000001") || strings.Contains(rec.Body.String(), "$argon2id$") {
		t.Fatalf("export holds no patron, or a hash:\n%s", rec.Body.String())
	}
	page := c.get("/staff/activity?operator=MChan").Body.String()
	mustContain(t, page, "import-create", "CU6000002", "export", "staff-login")
}

func readAll(res *http.Response) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(res.Body)
	return b.String(), err
}
