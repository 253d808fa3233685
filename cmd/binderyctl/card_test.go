package main

import (
	"testing"
)

func TestCardReplace(t *testing.T) {
	e := newEnv(t)
	e.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming", "--category", "julac")
	e.ok("Julac-PIN-2026\n", "pin", "set", "CU1234567")
	e.ok("", "patron", "add", "CU5555555", "--name", "Other")

	r := e.ok("", "card", "replace", "cu1234567", "CU7654321")
	mustContain(t, "replace", r.out, "CU1234567 -> CU7654321", "CU1234567 no longer works")
	s := e.store()
	res, ok := e.auth(s, "CU7654321", "Julac-PIN-2026")
	if !ok || res.Entry.Category != "julac" {
		t.Fatalf("new card: ok=%v entry=%+v reason=%s", ok, res.Entry, res.Reason)
	}
	if res, ok := e.auth(s, "CU1234567", "Julac-PIN-2026"); ok || res.Reason != "superseded" {
		t.Errorf("old card: ok=%v reason=%s", ok, res.Reason)
	}
	r = e.ok("", "audit", "CU7654321")
	mustContain(t, "audit new card", r.out, "replace-card", "old=CU1234567")

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"old again", []string{"card", "replace", "CU1234567", "CU9999999"}, 1, "CU1234567 was replaced by card CU7654321"},
		{"pin on old", []string{"pin", "reset", "CU1234567"}, 1, "CU1234567 was replaced by card CU7654321"},
		{"new taken", []string{"card", "replace", "CU7654321", "CU5555555"}, 1, "CU5555555 is already in the PIN store"},
		{"new is campus", []string{"card", "replace", "CU7654321", "jchan"}, 1, "jchan is a campus login"},
		{"same", []string{"card", "replace", "CU7654321", "cu7654321"}, 2, "the same"},
		{"unknown old", []string{"card", "replace", "CU1111111", "CU2222222"}, 1, "CU1111111 is not in the PIN store"},
		{"one arg", []string{"card", "replace", "CU1111111"}, 2, "missing NEW"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.fail(tc.code, "", tc.args...)
			mustContain(t, tc.name, r.err, tc.want)
		})
	}
}
