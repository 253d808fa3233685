package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

var printedCode = regexp.MustCompile(`Set-up code for (\S+): (\S{4}-\S{4}-\S{4}-\S{4}) \(single use, valid until \d{4}-\d\d-\d\d \d\d:\d\d\)`)

func TestSetupCode(t *testing.T) {
	e := newEnv(t)
	r := e.ok("", "patron", "add", "cu1234567", "--name", "Wong Siu Ming", "--setup-code")
	m := printedCode.FindStringSubmatch(r.out)
	if m == nil || m[1] != "CU1234567" {
		t.Fatalf("patron add --setup-code: %s", r)
	}
	mustContain(t, "patron add --setup-code", r.out+r.err, "/pin/setup", "[web] enabled is not set")

	r2 := e.ok("", "setup-code", "CU1234567")
	m2 := printedCode.FindStringSubmatch(r2.out)
	if m2 == nil || m2[2] == m[2] {
		t.Fatalf("setup-code: %s", r2)
	}
	s := e.store()
	ctx := context.Background()
	// The first code was replaced by the second.
	if err := s.UseSetupCode(ctx, "CU1234567", m[2], "Fresh-PIN-2026", ""); err == nil {
		t.Fatal("the replaced code still works")
	}
	if err := s.UseSetupCode(ctx, "CU1234567", m2[2], "Fresh-PIN-2026", ""); err != nil {
		t.Fatalf("the printed code does not work: %v", err)
	}
	audit := e.ok("", "audit", "CU1234567")
	mustContain(t, "audit", audit.out, "issue-setup-code", "setup-pin")
	mustNotContain(t, "audit", audit.out, m2[2])

	var v map[string]any
	r3 := e.ok("", "--json", "setup-code", "CU1234567")
	if err := json.Unmarshal([]byte(r3.out), &v); err != nil || !strings.Contains(v["setup_code"].(string), "-") || v["expires"] == nil {
		t.Fatalf("--json setup-code: %v %s", err, r3)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"setup-code", "CU7777777"}, 1, "not in the PIN store"},
		{[]string{"setup-code", "jchan"}, 1, "managed by the campus directory"},
		{[]string{"setup-code"}, 2, "usage"},
	} {
		r := e.fail(tc.code, "", tc.args...)
		mustContain(t, strings.Join(tc.args, " "), r.out+r.err, tc.want)
	}
}
