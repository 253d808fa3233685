package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/config"
)

// jchanHash is the demo campus password hash (Campus-Pass-2026).
const jchanHash = "$argon2id$v=19$m=19456,t=2,p=1$Uri/3Ei8XF8qijl4hItvXg$X+IWaG9Y9PMH19i1X8fw20zXAikNOEqBSX4eWFhs67g"

// testConfig is the demo's routes with a PIN store in %DIR% and cheap
// argon2id; %CAMPUS% is extra keys of the campus route.
const testConfig = `
[server]
suffix = "dc=library,dc=example,dc=edu"

[pin_policy.argon2]
memory_kib = 64
iterations = 1
parallelism = 1

[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[[route]]
name = "campus"
match = '^[a-z][a-z0-9]{1,15}$'
case = "lower"
backend = "campus"
%CAMPUS%

[[route]]
name = "library-card"
match = '^[0-9]{6,14}$'
backend = "pins"

[backend.campus]
type = "static"

[[backend.campus.user]]
id = "jchan"
password_hash = "` + jchanHash + `"
name = "Chan Tai Man"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "%DIR%/pins.db"
`

// env is one test's configuration.
type env struct {
	t   *testing.T
	dir string
	cfg string // path of the config file
}

func newEnv(t *testing.T) *env { return newEnvWith(t, "") }

// newEnvWith writes the test config with campusExtra added to the campus route.
func newEnvWith(t *testing.T, campusExtra string) *env {
	t.Helper()
	dir := t.TempDir()
	text := strings.ReplaceAll(testConfig, "%DIR%", dir)
	text = strings.ReplaceAll(text, "%CAMPUS%", campusExtra)
	path := filepath.Join(dir, "bindery.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, cfg: path}
}

// result is one binderyctl run.
type result struct {
	out, err string
	code     int
	asked    int // secrets read from the (fake) terminal
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.out, r.err)
}

// ctl runs binderyctl in-process with the env's config.
func (e *env) ctl(stdin string, args ...string) result {
	e.t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"--config", e.cfg, "--operator", "tester"}, args...), strings.NewReader(stdin), &out, &errb)
	return result{out: out.String(), err: errb.String(), code: code}
}

// ctlTTY runs binderyctl as if standard input were a terminal: secrets
// come from passwords (no echo), lines from stdin.
func (e *env) ctlTTY(stdin string, passwords []string, args ...string) result {
	e.t.Helper()
	var out, errb bytes.Buffer
	a := newApp(strings.NewReader(stdin), &out, &errb)
	a.stdinTTY = true
	asked := 0
	a.readPassword = func() (string, error) {
		if asked >= len(passwords) {
			return "", io.EOF
		}
		asked++
		return passwords[asked-1], nil
	}
	code := a.main(append([]string{"--config", e.cfg, "--operator", "tester"}, args...))
	a.close()
	return result{out.String(), errb.String(), code, asked}
}

// ok runs binderyctl and fails the test unless it exits 0.
func (e *env) ok(stdin string, args ...string) result {
	e.t.Helper()
	r := e.ctl(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("binderyctl %v: %s", args, r)
	}
	return r
}

// fail runs binderyctl and fails the test unless it exits with code.
func (e *env) fail(code int, stdin string, args ...string) result {
	e.t.Helper()
	r := e.ctl(stdin, args...)
	if r.code != code {
		e.t.Fatalf("binderyctl %v: want exit %d, got %s", args, code, r)
	}
	return r
}

// store opens the env's PIN store directly, as the server would.
func (e *env) store() *pinstore.Store {
	e.t.Helper()
	cfg, err := config.Load(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := config.OpenStore(context.Background(), cfg, "pins", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

// auth tries a bind against the store.
func (e *env) auth(s *pinstore.Store, id, pin string) (backend.Result, bool) {
	e.t.Helper()
	res, ok, err := s.Authenticate(context.Background(), backend.Credentials{ID: id, Password: pin, ClientAddr: "10.0.0.7"})
	if err != nil {
		e.t.Fatal(err)
	}
	return res, ok
}

func mustContain(t *testing.T, where, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s: want %q in:\n%s", where, w, got)
		}
	}
}

func mustNotContain(t *testing.T, where, got string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(got, b) {
			t.Errorf("%s: %q must not appear in:\n%s", where, b, got)
		}
	}
}
