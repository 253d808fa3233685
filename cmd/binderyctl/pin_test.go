package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestPinSet(t *testing.T) {
	e := newEnv(t)
	e.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming")
	r := e.ok("Julac-PIN-2026\n", "pin", "set", "cu1234567")
	mustNotContain(t, "pin set", r.out+r.err, "Julac-PIN-2026")
	s := e.store()
	res, ok := e.auth(s, "CU1234567", "Julac-PIN-2026")
	if !ok || res.MustChange {
		t.Fatalf("after pin set: ok=%v must_change=%v reason=%s", ok, res.MustChange, res.Reason)
	}
	if _, ok := e.auth(s, "CU1234567", "Julac-PIN-2027"); ok {
		t.Fatal("a wrong PIN authenticates")
	}
	// CRLF input and a missing final newline are both one line.
	e.ok("Other-PIN-2026\r\n", "pin", "set", "CU1234567")
	if _, ok := e.auth(s, "CU1234567", "Other-PIN-2026"); !ok {
		t.Error("PIN from a CRLF line does not authenticate")
	}
	e.ok("Third-PIN-2026", "pin", "set", "CU1234567")
	if _, ok := e.auth(s, "CU1234567", "Third-PIN-2026"); !ok {
		t.Error("PIN without a newline does not authenticate")
	}
	r = e.fail(1, "", "pin", "set", "CU1234567")
	mustContain(t, "empty stdin", r.err, "no new PIN for CU1234567 on standard input")
}

func TestPinSetPolicy(t *testing.T) {
	e := newEnv(t)
	e.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming")
	e.ok("Julac-PIN-2026\n", "pin", "set", "CU1234567")
	s := e.store()
	tests := []struct {
		pin  string
		want []string
		not  []string
	}{
		{"abc", []string{"PIN must be 10 to 20 characters long", "PIN must use at least 2 of"}, []string{"at most"}},
		{"abcdefghijklmn", []string{"PIN must use at least 2 of: letters, digits, special characters"}, []string{"characters long"}},
		{"Julac PIN 2026", []string{"character 6 is not allowed", "character 10 is not allowed"}, []string{"at least 10", "mix"}},
		{"Aa1" + strings.Repeat("x", 30), []string{"PIN must be 10 to 20 characters long"}, []string{"use at least"}},
	}
	for _, tc := range tests {
		t.Run(tc.pin, func(t *testing.T) {
			r := e.fail(1, tc.pin+"\n", "pin", "set", "CU1234567")
			mustContain(t, "stderr", r.err, append([]string{"binderyctl: the PIN for CU1234567 was not set"}, tc.want...)...)
			mustNotContain(t, "output", r.out+r.err, append([]string{tc.pin}, tc.not...)...)
			if n := strings.Count(r.err, "\n  - "); n != len(tc.want) {
				t.Errorf("%d problem lines, want %d:\n%s", n, len(tc.want), r.err)
			}
			if _, ok := e.auth(s, "CU1234567", "Julac-PIN-2026"); !ok {
				t.Error("the old PIN stopped working after a rejected pin set")
			}
		})
	}
	r := e.fail(1, "abc\n", "--json", "pin", "set", "CU1234567")
	var v struct {
		Error    string
		Problems []struct{ Code string }
	}
	if err := json.Unmarshal([]byte(r.out), &v); err != nil || v.Error != "pin_policy" || len(v.Problems) != 2 {
		t.Errorf("--json policy failure: %v %+v\n%s", err, v, r.out)
	}
}

func TestPinSetTerminal(t *testing.T) {
	e := newEnv(t)
	e.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming")
	s := e.store()
	tests := []struct {
		name      string
		passwords []string
		code      int
		asked     int
		want      string
	}{
		{"differ", []string{"Julac-PIN-2026", "Julac-PIN-2027"}, 1, 2, "the two entries differ"},
		{"bad first entry", []string{"short", "short"}, 1, 1, "PIN must be 10 to 20 characters long"},
		{"nothing typed", []string{""}, 1, 1, "no new PIN for CU1234567 entered"},
		{"match", []string{"Julac-PIN-2026", "Julac-PIN-2026"}, 0, 2, "PIN set for CU1234567"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.ctlTTY("", tc.passwords, "pin", "set", "CU1234567")
			if r.code != tc.code || r.asked != tc.asked {
				t.Fatalf("want exit %d after %d entries, got %d entries: %s", tc.code, tc.asked, r.asked, r)
			}
			mustContain(t, tc.name, r.out+r.err, tc.want)
			mustNotContain(t, tc.name, r.out+r.err, "Julac-PIN")
		})
	}
	if _, ok := e.auth(s, "CU1234567", "Julac-PIN-2026"); !ok {
		t.Error("PIN typed twice on the terminal does not authenticate")
	}
}

var oneTimeRE = regexp.MustCompile(`^One-time PIN for CU1234567: (\S+) — the patron must change it at next login\n$`)

func TestPinReset(t *testing.T) {
	e := newEnv(t)
	e.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming")
	r := e.ok("", "pin", "reset", "CU1234567")
	m := oneTimeRE.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("pin reset output: %q", r.out)
	}
	s := e.store()
	res, ok := e.auth(s, "CU1234567", m[1])
	if !ok || !res.MustChange {
		t.Fatalf("one-time PIN: ok=%v must_change=%v reason=%s", ok, res.MustChange, res.Reason)
	}
	r = e.ok("", "--json", "pin", "reset", "CU1234567")
	var v struct {
		OneTimePIN string `json:"one_time_pin"`
		MustChange bool   `json:"must_change"`
	}
	if err := json.Unmarshal([]byte(r.out), &v); err != nil || v.OneTimePIN == "" || !v.MustChange {
		t.Fatalf("pin reset --json: %v %s", err, r.out)
	}
	if _, ok := e.auth(s, "CU1234567", m[1]); ok {
		t.Error("the first one-time PIN still works after a second reset")
	}
}

func TestUnlock(t *testing.T) {
	e := newEnv(t)
	e.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming")
	e.ok("Julac-PIN-2026\n", "pin", "set", "CU1234567")
	s := e.store()
	for range 5 {
		e.auth(s, "CU1234567", "Wrong-PIN-0000")
	}
	if res, ok := e.auth(s, "CU1234567", "Julac-PIN-2026"); ok || res.Reason != "locked" {
		t.Fatalf("not locked: ok=%v reason=%s", ok, res.Reason)
	}
	r := e.ok("", "unlock", "cu1234567")
	mustContain(t, "unlock", r.out, "Unlocked CU1234567: 5 failure(s) cleared")
	if _, ok := e.auth(s, "CU1234567", "Julac-PIN-2026"); !ok {
		t.Error("unlocked account does not authenticate")
	}
	r = e.ok("", "unlock", "CU1234567")
	mustContain(t, "unlock again", r.out, "was not locked")
}

func TestPinCommandErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown patron", []string{"pin", "set", "CU7654321"}, "binderyctl: CU7654321 is not in the PIN store: add it with `binderyctl patron add CU7654321 --name ...`"},
		{"unknown reset", []string{"pin", "reset", "20239999"}, "20239999 is not in the PIN store"},
		{"unknown unlock", []string{"unlock", "CU7654321"}, "CU7654321 is not in the PIN store"},
		{"campus", []string{"pin", "set", "JChan"}, "JChan is a campus login: its password is managed by the campus directory, not bindery"},
		{"campus reset", []string{"pin", "reset", "jchan"}, "jchan is a campus login"},
		{"no route", []string{"pin", "reset", "CU-12"}, "CU-12 matches no route: check the number on the card"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.fail(1, "Julac-PIN-2026\n", tc.args...)
			mustContain(t, tc.name, r.err, tc.want)
		})
	}
}
