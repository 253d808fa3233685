package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// explainJSON runs explain --json and decodes it.
func (e *env) explainJSON(id string, code int) explanation {
	e.t.Helper()
	r := e.fail(code, "", "--json", "explain", id)
	var ex explanation
	if err := json.Unmarshal([]byte(r.out), &ex); err != nil {
		e.t.Fatalf("explain --json %s: %v\n%s", id, err, r.out)
	}
	return ex
}

// TestExplainStates walks one patron through its life and checks what
// explain says after each step, in text and JSON.
func TestExplainStates(t *testing.T) {
	e := newEnv(t)
	s := e.store()
	future := time.Now().AddDate(0, 0, 3).Format(time.DateOnly)
	steps := []struct {
		name  string
		do    func()
		id    string
		state string
		want  []string // in the text output
	}{
		{"not in store", func() {}, "CU1234567", "not_found",
			[]string{"not in the PIN store", "patron add CU1234567"}},
		{"added, no PIN", func() { e.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming") }, "cu1234567", "no_pin",
			[]string{"CU1234567 (typed as cu1234567)", "julac", "pins (pinstore)", "no PIN set", "reset the PIN"}},
		{"PIN set", func() { e.ok("Julac-PIN-2026\n", "pin", "set", "CU1234567") }, "CU1234567", "active",
			[]string{"works with the right PIN", "nothing to do"}},
		{"failures", func() { e.auth(s, "CU1234567", "Wrong-PIN-0000"); e.auth(s, "CU1234567", "Wrong-PIN-0000") }, "CU1234567", "active",
			[]string{"Recent failures", "2, last", "from 10.0.0.7"}},
		{"locked", func() {
			for range 3 {
				e.auth(s, "CU1234567", "Wrong-PIN-0000")
			}
		}, "CU1234567", "locked", []string{"locked until", "5 failures", "Locked until", "unlock"}},
		{"unlocked", func() { e.ok("", "unlock", "CU1234567") }, "CU1234567", "active", []string{"Recent failures  0"}},
		{"success", func() { e.auth(s, "CU1234567", "Julac-PIN-2026") }, "CU1234567", "active", []string{"Last success"}},
		{"reset", func() { e.ok("", "pin", "reset", "CU1234567") }, "CU1234567", "must_change",
			[]string{"only to change the PIN", "one-time PIN"}},
		{"suspended", func() { e.ok("", "patron", "suspend", "CU1234567", "--reason", "unpaid fines") }, "CU1234567", "suspended",
			[]string{"suspended by tester", "unpaid fines", "fails even with the right PIN (suspended)"}},
		{"resumed", func() { e.ok("", "patron", "resume", "CU1234567") }, "CU1234567", "must_change", nil},
		{"expired", func() { e.ok("", "patron", "expire", "CU1234567") }, "CU1234567", "expired",
			[]string{"expired on", "renew"}},
		{"renewed", func() { e.ok("", "patron", "update", "CU1234567", "--expires", "2099-01-01") }, "CU1234567", "must_change",
			[]string{"Expires          2099-01-01"}},
		{"replaced", func() { e.ok("", "card", "replace", "CU1234567", "CU7654321") }, "CU1234567", "superseded",
			[]string{"card replaced by CU7654321", "CU1234567 -> CU7654321", "new card number CU7654321"}},
		{"new card", func() {}, "CU7654321", "must_change", []string{"CU1234567 -> CU7654321"}},
		{"pending", func() {
			e.ok("", "patron", "add", "20231234", "--name", "Lee Ka Yan", "--active-from", future)
			e.ok("Card-PIN-2026\n", "pin", "set", "20231234")
		}, "20231234", "pending", []string{"library-card", "pending until " + future, "opens on " + future}},
	}
	for _, st := range steps {
		st.do()
		code := 0
		if st.state == "not_found" {
			code = 1
		}
		ex := e.explainJSON(st.id, code)
		if ex.State != st.state {
			t.Errorf("%s: state %q, want %q (%s)", st.name, ex.State, st.state, ex.Text)
		}
		if ex.NextStep == "" || ex.Text == "" {
			t.Errorf("%s: empty text or next step: %+v", st.name, ex)
		}
		if st.state != "not_found" && (ex.Account == nil || ex.Account.State != st.state) {
			t.Errorf("%s: account = %+v", st.name, ex.Account)
		}
		r := e.fail(code, "", "explain", st.id)
		mustContain(t, st.name, r.out, append([]string{"State", "Next step"}, st.want...)...)
		mustNotContain(t, st.name, r.out, "argon2", "Julac-PIN-2026")
	}
}

func TestExplainRoutes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		id    string
		code  int
		state string
		want  []string
	}{
		{"jchan", 0, "campus", []string{"campus (static)", "checked by the campus directory (backend campus", "In the list", "yes", "not required", "campus IT help desk"}},
		{"JCHAN", 0, "campus", []string{"jchan (typed as JCHAN)"}},
		{"nobody", 1, "campus", []string{"In the list", "no", "check the login name"}},
		{"CU-1234567", 1, "no_route", []string{"Route", "none matches", "check the number on the card"}},
		{"12345", 1, "no_route", []string{"none matches"}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			r := e.fail(tc.code, "", "explain", tc.id)
			mustContain(t, tc.id, r.out, tc.want...)
			if ex := e.explainJSON(tc.id, tc.code); ex.State != tc.state {
				t.Errorf("state %q, want %q", ex.State, tc.state)
			}
		})
	}
}

func TestExplainRequirePatron(t *testing.T) {
	e := newEnvWith(t, "require_patron = true")
	r := e.ok("", "explain", "jchan")
	mustContain(t, "no record", r.out, "none in pins (required by this route)", "patron add jchan")
	if ex := e.explainJSON("jchan", 0); ex.Reason != "no_patron" && ex.Campus.PatronReason != "no_patron" {
		t.Errorf("no record: %+v %+v", ex, ex.Campus)
	}

	// The library record of a campus login lives in the patron backend.
	e.ok("", "patron", "add", "JChan", "--name", "Chan Tai Man", "--category", "staff")
	r = e.ok("", "explain", "jchan")
	mustContain(t, "active record", r.out, "active in pins (required by this route)")
	ex := e.explainJSON("jchan", 0)
	if !ex.Campus.PatronOK || ex.Reason != "" {
		t.Errorf("active record: %+v %+v", ex, ex.Campus)
	}

	e.ok("", "patron", "suspend", "jchan", "--reason", "left the university")
	r = e.ok("", "explain", "jchan")
	mustContain(t, "suspended record", r.out, "suspended in pins", "left the university", "resume the account only when")
	if ex := e.explainJSON("jchan", 0); ex.Reason != "suspended" || ex.Campus.PatronOK {
		t.Errorf("suspended record: %+v", ex)
	}
	// The campus password is still not bindery's.
	r = e.fail(1, "Julac-PIN-2026\n", "pin", "set", "jchan")
	mustContain(t, "pin set", r.err, "jchan is a campus login")
}

func TestExplainLDAPCampus(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "ldap.toml", `
[server]
suffix = "dc=library,dc=example,dc=edu"

[[route]]
name = "campus"
match = '^[a-z][a-z0-9]{1,15}$'
case = "lower"
backend = "campus"
require_patron = true

[backend.campus]
type = "ldap"
urls = ["ldap://dir1.example.edu", "ldaps://dir2.example.edu"]
bind_dn = "cn=bindery,dc=example,dc=edu"
bind_password = "Very-Secret-Bind"
base_dn = "ou=people,dc=example,dc=edu"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "`+dir+`/pins.db"
`)
	e := &env{t: t, dir: dir, cfg: cfg}
	r := e.ok("", "explain", "JChan")
	mustContain(t, "ldap", r.out, "campus (ldap)", "checked by the campus directory (backend campus, ldap://dir1.example.edu, ldaps://dir2.example.edu)",
		"none in pins (required by this route)")
	mustNotContain(t, "ldap", r.out, "Very-Secret-Bind", "In the list")
	ex := e.explainJSON("jchan", 0)
	if ex.Campus == nil || len(ex.Campus.URLs) != 2 || ex.Campus.PatronBackend != "pins" {
		t.Errorf("json: %+v", ex.Campus)
	}
}

// TestExplainCampusStateAsTheREADMESays: the README's table of what
// explain says has a "campus login" row; explain of a campus ID prints
// that on its State line.
func TestExplainCampusStateAsTheREADMESays(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (campus login) \| (.+) \|$`).FindSubmatch(readme)
	if row == nil {
		t.Fatal("the README's explain table has no campus login row")
	}
	r := newEnv(t).ok("", "explain", "jchan")
	state := regexp.MustCompile(`(?m)^State\s+(.*)$`).FindStringSubmatch(r.out)
	if state == nil || !strings.HasPrefix(state[1], string(row[1])) {
		t.Fatalf("explain jchan prints State %q, want it to begin with the README's %q:\n%s", state, row[1], r.out)
	}
}
