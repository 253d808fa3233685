package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPatronAddShow(t *testing.T) {
	e := newEnv(t)
	r := e.ok("", "patron", "add", "cu1234567", "--name", "Wong Siu Ming", "--email", "x@y.edu", "--category", "julac")
	mustContain(t, "add", r.out, "Added CU1234567", "The Chinese University of Hong Kong", "pin set CU1234567")
	// Flags before the ID work too.
	e.ok("", "patron", "add", "--name", "Lee Ka Yan", "--category=alumni", "20231234")

	r = e.ok("", "patron", "show", "CU1234567")
	mustContain(t, "show before PIN", r.out, "CU1234567", "Wong Siu Ming", "x@y.edu", "julac", "Has PIN", " no\n")
	e.ok("Julac-PIN-2026\n", "pin", "set", "CU1234567")
	for _, args := range [][]string{{"patron", "show", "cu1234567"}, {"--json", "patron", "show", "CU1234567"}} {
		r = e.ok("", args...)
		mustNotContain(t, "show", r.out+r.err, "argon2", "Julac-PIN-2026", "$")
	}
	r = e.ok("", "patron", "show", "CU1234567")
	mustContain(t, "show after PIN", r.out, "Has PIN", "yes")

	r = e.ok("", "--json", "patron", "show", "cu1234567")
	var v map[string]any
	if err := json.Unmarshal([]byte(r.out), &v); err != nil {
		t.Fatalf("show --json: %v\n%s", err, r.out)
	}
	for k, want := range map[string]any{"id": "CU1234567", "name": "Wong Siu Ming", "category": "julac", "has_pin": true,
		"institution": "The Chinese University of Hong Kong", "status": "active"} {
		if v[k] != want {
			t.Errorf("show --json %s = %v, want %v", k, v[k], want)
		}
	}
	if _, ok := v["pin_hash"]; ok {
		t.Error("show --json has a pin_hash")
	}

	r = e.fail(1, "", "patron", "add", "CU1234567", "--name", "Someone Else")
	mustContain(t, "duplicate", r.err, "binderyctl: CU1234567 is already in the PIN store")
}

func TestPatronAddArgs(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no name", []string{"patron", "add", "CU1111111"}, 2, "--name"},
		{"no ID", []string{"patron", "add", "--name", "X"}, 2, "missing ID"},
		{"two IDs", []string{"patron", "add", "CU1111111", "CU2222222", "--name", "X"}, 2, "unexpected argument"},
		{"bad date", []string{"patron", "add", "CU1111111", "--name", "X", "--expires", "31/12/2026"}, 2, "YYYY-MM-DD"},
		{"unknown flag", []string{"patron", "add", "CU1111111", "--name", "X", "--colour", "red"}, 2, "colour"},
		{"no route", []string{"patron", "add", "CU-12", "--name", "X"}, 1, "CU-12 matches no route: check the number on the card"},
		{"campus", []string{"patron", "add", "jchan", "--name", "X"}, 1, "jchan is a campus login: its password is managed by the campus directory, not bindery"},
		{"dates", []string{"patron", "add", "CU3333333", "--name", "X", "--active-from", "2020-01-01", "--expires", "2099-12-31"}, 0, "Added CU3333333"},
		{"institution", []string{"patron", "add", "CU4444444", "--name", "X", "--institution", "Visiting"}, 0, "Visiting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.fail(tc.code, "", tc.args...)
			mustContain(t, tc.name, r.out+r.err, tc.want)
			if tc.code != 0 && !strings.HasPrefix(r.err, "binderyctl: ") {
				t.Errorf("error not prefixed: %q", r.err)
			}
		})
	}
	r := e.ok("", "--json", "patron", "show", "CU3333333")
	var v struct{ ActiveFrom, Expires time.Time }
	if err := json.Unmarshal([]byte(strings.NewReplacer("active_from", "ActiveFrom", "expires", "Expires").Replace(r.out)), &v); err != nil {
		t.Fatal(err)
	}
	if got := v.Expires.Local().Format(time.DateOnly); got != "2099-12-31" {
		t.Errorf("expires = %s", got)
	}
	if got := v.ActiveFrom.Local().Format(time.DateOnly); got != "2020-01-01" {
		t.Errorf("active_from = %s", got)
	}
}

func TestPatronList(t *testing.T) {
	e := newEnv(t)
	e.ok("", "patron", "add", "CU1000001", "--name", "A", "--category", "julac")
	e.ok("", "patron", "add", "CU1000002", "--name", "B", "--category", "julac")
	e.ok("", "patron", "add", "20230001", "--name", "C", "--category", "alumni")
	e.ok("", "patron", "suspend", "CU1000002", "--reason", "unpaid fines")
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{"20230001", "CU1000001", "CU1000002"}},
		{[]string{"--category", "julac"}, []string{"CU1000001", "CU1000002"}},
		{[]string{"--status", "suspended"}, []string{"CU1000002"}},
		{[]string{"--prefix", "2023"}, []string{"20230001"}},
		{[]string{"--limit", "1"}, []string{"20230001"}},
	}
	for _, tc := range tests {
		r := e.ok("", append([]string{"--json", "patron", "list"}, tc.args...)...)
		var list []patronView
		if err := json.Unmarshal([]byte(r.out), &list); err != nil {
			t.Fatalf("list %v: %v\n%s", tc.args, err, r.out)
		}
		var ids []string
		for _, p := range list {
			ids = append(ids, p.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
			t.Errorf("list %v = %v, want %v", tc.args, ids, tc.want)
		}
	}
	r := e.ok("", "patron", "list", "--category", "julac")
	mustContain(t, "list text", r.out, "ID", "STATUS", "CU1000002", "suspended", "2 patron(s)")
	e.fail(2, "", "patron", "list", "--status", "gone")
}

func TestPatronStatusCommands(t *testing.T) {
	e := newEnv(t)
	e.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming")
	e.ok("Julac-PIN-2026\n", "pin", "set", "CU1234567")
	s := e.store()

	e.fail(2, "", "patron", "suspend", "CU1234567")
	e.ok("", "patron", "suspend", "CU1234567", "--reason", "lost card reported")
	if res, ok := e.auth(s, "CU1234567", "Julac-PIN-2026"); ok || res.Reason != "suspended" {
		t.Errorf("suspended: ok=%v reason=%s", ok, res.Reason)
	}
	e.ok("", "patron", "resume", "CU1234567")
	if _, ok := e.auth(s, "CU1234567", "Julac-PIN-2026"); !ok {
		t.Error("resumed account does not authenticate")
	}
	r := e.fail(1, "", "patron", "resume", "CU1234567")
	mustContain(t, "resume active", r.err, "not suspended")

	e.ok("", "patron", "expire", "CU1234567")
	if res, ok := e.auth(s, "CU1234567", "Julac-PIN-2026"); ok || res.Reason != "expired" {
		t.Errorf("expired: ok=%v reason=%s", ok, res.Reason)
	}
	r = e.fail(1, "", "patron", "resume", "CU1234567")
	mustContain(t, "resume expired", r.err, "patron update CU1234567 --expires")
	e.ok("", "patron", "update", "CU1234567", "--expires", "none", "--email", "w@example.edu")
	if _, ok := e.auth(s, "CU1234567", "Julac-PIN-2026"); !ok {
		t.Error("renewed account does not authenticate")
	}
	r = e.ok("", "--json", "patron", "show", "CU1234567")
	mustContain(t, "updated", r.out, `"email": "w@example.edu"`)
	e.fail(2, "", "patron", "update", "CU1234567")

	r = e.ok("", "audit", "CU1234567")
	mustContain(t, "audit", r.out, "tester", "suspend", "lost card reported", "resume", "expire", "update", "set-pin", "add")
	r = e.ok("", "--json", "audit", "CU1234567", "--limit", "2")
	var entries []map[string]any
	if err := json.Unmarshal([]byte(r.out), &entries); err != nil || len(entries) != 2 {
		t.Fatalf("audit --json --limit 2: %v %d\n%s", err, len(entries), r.out)
	}
	if entries[0]["action"] != "update" {
		t.Errorf("newest audit entry = %v", entries[0])
	}
}

func TestPatronDelete(t *testing.T) {
	tests := []struct {
		name    string
		tty     bool
		answer  string
		args    []string
		code    int
		deleted bool
	}{
		{"not a terminal", false, "", nil, 0, true},
		{"terminal, right ID", true, "cu1234567\n", nil, 0, true},
		{"terminal, wrong ID", true, "CU7654321\n", nil, 1, false},
		{"terminal, no answer", true, "", nil, 1, false},
		{"terminal, --yes", true, "", []string{"--yes"}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming")
			var r result
			args := append([]string{"patron", "delete", "CU1234567"}, tc.args...)
			if tc.tty {
				r = e.ctlTTY(tc.answer, nil, args...)
				if len(tc.args) == 0 {
					mustContain(t, "prompt", r.err, "Type the ID to confirm")
				}
			} else {
				r = e.ctl(tc.answer, args...)
			}
			if r.code != tc.code {
				t.Fatalf("want exit %d: %s", tc.code, r)
			}
			show := e.ctl("", "patron", "show", "CU1234567")
			if deleted := show.code != 0; deleted != tc.deleted {
				t.Errorf("deleted = %v, want %v: %s", deleted, tc.deleted, show)
			}
			if tc.deleted {
				mustContain(t, "show deleted", show.err, "CU1234567 is not in the PIN store: add it with `binderyctl patron add CU1234567 --name ...`")
			}
		})
	}
}
