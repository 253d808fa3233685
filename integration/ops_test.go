package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runBindery(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "bindery"), args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestCheckAndConnect(t *testing.T) {
	sl := campusSlapd(t, false)
	e := coreEnv(t, sl, "")
	out, code := runBindery(t, "--config", e.cfgPath, "--check")
	if code != 0 || !strings.Contains(out, "configuration OK") {
		t.Fatalf("--check: exit %d\n%s", code, out)
	}
	out, code = runBindery(t, "--config", e.cfgPath, "--check", "--connect")
	if code != 0 || !strings.Contains(out, "ok    backend campus (ldap)") || !strings.Contains(out, "ok    backend pins (pinstore sqlite)") {
		t.Fatalf("--check --connect with everything up: exit %d\n%s", code, out)
	}
	sl.Stop()
	out, code = runBindery(t, "--config", e.cfgPath, "--check", "--connect")
	if code != 1 || !strings.Contains(out, "FAIL  backend campus (ldap)") {
		t.Fatalf("--check --connect with the campus directory down: exit %d\n%s", code, out)
	}

	// A broken file: every problem at once, each naming its key.
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte(`[server]
suffix = "dc=x"
idle_timeout = "soon"
[[route]]
name = "r"
match = "^(x$"
backend = "nope"
colour = "red"
`), 0o600)
	out, code = runBindery(t, "--config", bad, "--check")
	for _, want := range []string{"server.idle_timeout", "route[0].match", "route[0].backend", "colour"} {
		if code == 0 || !strings.Contains(out, want) {
			t.Fatalf("--check of a broken file: exit %d, missing %q\n%s", code, want, out)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsHealthAuditAndReload(t *testing.T) {
	sl := campusSlapd(t, false)
	httpAddr := freeAddr(t)
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	e := coreEnv(t, sl, "")
	cfg, _ := os.ReadFile(e.cfgPath)
	withHTTP := strings.Replace(string(cfg), "[pin_policy.argon2]", fmt.Sprintf("[http]\nlisten = %q\n\n[log]\naudit_file = %q\n\n[pin_policy.argon2]", httpAddr, auditPath), 1)
	os.WriteFile(e.cfgPath, []byte(withHTTP), 0o600)
	e.start()

	c := e.dial()
	if err := c.Bind(svcDN, svcPW); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(personDN(julacID), "Wrong-PIN-2026"); ldapCode(err) != 49 {
		t.Fatalf("wrong PIN: %v", err)
	}
	if err := c.Bind(personDN(julacID), julacPIN); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(personDN(campusID), campusPW); err != nil {
		t.Fatal(err)
	}

	code, body := httpGet(t, "http://"+httpAddr+"/metrics")
	for _, want := range []string{
		`bindery_binds_total{backend="pins",result="success",route="julac"} 1`,
		`bindery_binds_total{backend="pins",result="invalid_credentials",route="julac"} 1`,
		`bindery_binds_total{backend="campus",result="success",route="campus"} 1`,
		`bindery_connections_open 1`,
		`bindery_upstream_up{backend="campus",url="` + sl.URL() + `"} 1`,
		`bindery_cache_entries{backend="pins"} 1`,
		`bindery_hash_queue_depth 0`,
		`bindery_lockouts_total 0`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, body)
		}
	}
	for _, secret := range []string{julacID, julacPIN, campusID} {
		if strings.Contains(body, secret) {
			t.Fatalf("/metrics carries %q", secret)
		}
	}
	if code, body := httpGet(t, "http://"+httpAddr+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	code, body = httpGet(t, "http://"+httpAddr+"/readyz")
	if code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	sl.Stop()
	var ready struct {
		Ready bool
	}
	for i := 0; i < 100; i++ {
		code, body = httpGet(t, "http://"+httpAddr+"/readyz")
		json.Unmarshal([]byte(body), &ready)
		if code == 503 && !ready.Ready {
			break
		}
		// The health check notices within its interval; a bind speeds it up.
		e.dial().Bind(personDN("u3551234"), "Student-Pass-1")
		time.Sleep(200 * time.Millisecond)
	}
	if code != 503 || !strings.Contains(body, "upstream campus") {
		t.Fatalf("/readyz with the campus directory down: %d %s", code, body)
	}
	sl.Start()

	// The audit trail: one JSON line per bind, no password.
	var lines []string
	for i := 0; i < 50; i++ {
		data, _ := os.ReadFile(auditPath)
		lines = strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) >= 4 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(lines) < 4 {
		t.Fatalf("audit has %d lines", len(lines))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["id"] != julacID || rec["service"] != svcName || rec["result"] != "failure" || rec["route"] != "julac" {
		t.Fatalf("audit line for the wrong PIN: %v", rec)
	}
	data, _ := os.ReadFile(auditPath)
	if strings.Contains(string(data), julacPIN) || strings.Contains(string(data), "Wrong-PIN-2026") {
		t.Fatalf("the audit trail holds a PIN")
	}

	// SIGHUP with a broken file: refused, the old configuration keeps serving.
	good, _ := os.ReadFile(e.cfgPath)
	os.WriteFile(e.cfgPath, []byte(string(good)+"\n[[route]]\nname = \"bad\"\nmatch = \"^(\"\nbackend = \"nope\"\n"), 0o600)
	e.proc.Process.Signal(syscall.SIGHUP)
	waitLog(t, e, "reload refused")
	if err := c.Bind(personDN(julacID), julacPIN); err != nil {
		t.Fatalf("bind after a refused reload: %v", err)
	}
	// SIGHUP with a new route on the same connection: it takes effect.
	os.WriteFile(e.cfgPath, []byte(strings.Replace(string(good), `name = "library-card"`, `name = "library-card"`+"\n", 1)+`
[[route]]
name = "guests"
match = '^GUEST-[0-9]{4}$'
backend = "guests"

[backend.guests]
type = "static"

[[backend.guests.user]]
id = "GUEST-0001"
password_hash = "`+svcHash+`"
name = "A Guest"
`), 0o600)
	e.proc.Process.Signal(syscall.SIGHUP)
	waitLog(t, e, "reload: new configuration in use")
	if err := c.Bind(personDN("GUEST-0001"), svcPW); err != nil {
		t.Fatalf("bind through a route added by reload, on a connection opened before it: %v", err)
	}
}

func waitLog(t *testing.T, e *env, text string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if strings.Contains(e.logs.String(), text) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("log never said %q:\n%s", text, e.logs.String())
}
