package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/passhash"
)

func TestHash(t *testing.T) {
	e := newEnv(t)
	missing := filepath.Join(t.TempDir(), "none.toml")
	tests := []struct {
		name   string
		args   []string
		params string
		warn   bool
	}{
		{"with config", []string{"--config", e.cfg, "hash"}, "m=64,t=1,p=1", false},
		{"missing config", []string{"--config", missing, "hash"}, "m=19456,t=2,p=1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, strings.NewReader("ils-secret\n"), &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			h := strings.TrimSpace(out.String())
			if !strings.Contains(h, "$"+tc.params+"$") {
				t.Errorf("hash %q is not made with %s", h, tc.params)
			}
			if ok, _, err := passhash.Verify(h, "ils-secret"); !ok || err != nil {
				t.Errorf("hash does not verify: %v %v", ok, err)
			}
			if ok, _, _ := passhash.Verify(h, "ils-secret\n"); ok {
				t.Error("the newline became part of the secret")
			}
			if got := errb.String() != ""; got != tc.warn {
				t.Errorf("warning = %q", errb.String())
			}
		})
	}
	r := e.fail(1, "", "hash")
	mustContain(t, "empty", r.err, "no secret on standard input")
	r = e.ctlTTY("", []string{"s3cret-Pass", "s3cret-Pass"}, "--json", "hash")
	if r.code != 0 || !strings.Contains(r.out, `"hash": "$argon2id$`) || r.asked != 2 {
		t.Errorf("hash on a terminal: %s", r)
	}
	mustNotContain(t, "terminal", r.out+r.err, "s3cret-Pass")
}

// TestHashBrokenConfig: a config that does not validate (its service
// account still lacks the hash being made) still gives its argon2 cost.
func TestHashBrokenConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "b.toml", "[server]\nsuffix = \"dc=x\"\n[pin_policy.argon2]\nmemory_kib = 64\niterations = 1\nparallelism = 1\n[[service_account]]\nname = \"ils\"\n")
	var out, errb bytes.Buffer
	if code := run([]string{"--config", cfg, "hash"}, strings.NewReader("x\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "$m=64,t=1,p=1$") {
		t.Errorf("hash %q", out.String())
	}
	mustContain(t, "warning", errb.String(), "does not load yet")
}
