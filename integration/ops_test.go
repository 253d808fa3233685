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

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/slapdtest"
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
	withHTTP := strings.Replace(string(cfg), "[pin_policy.argon2]", fmt.Sprintf("[http]\nlisten = %q\n\n[log]\naudit_file = %q\n\n[lockout]\nthrottle_after = 0\n\n[pin_policy.argon2]", httpAddr, auditPath), 1)
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

	wants := []string{
		`bindery_binds_total{backend="pins",result="success",route="julac"} 1`,
		`bindery_binds_total{backend="pins",result="invalid_credentials",route="julac"} 1`,
		`bindery_binds_total{backend="campus",result="success",route="campus"} 1`,
		`bindery_connections_open 1`,
		`bindery_upstream_up{backend="campus",url="` + sl.URL() + `"} 1`,
		`bindery_cache_entries{backend="pins"} 1`,
		`bindery_hash_queue_depth 0`,
		`bindery_lockouts_total 0`,
	}
	// A bind is counted just after its answer is written: a scrape in
	// between may miss the last one, so the first scrape gets a moment.
	var code int
	var body, missing string
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, body = httpGet(t, "http://"+httpAddr+"/metrics")
		missing = ""
		for _, want := range wants {
			if code != 200 || !strings.Contains(body, want) {
				missing = want
				break
			}
		}
		if missing == "" || time.Now().After(deadline) {
			break
		}
	}
	if missing != "" {
		t.Fatalf("/metrics lacks %s:\n%s", missing, body)
	}
	for _, secret := range []string{julacID, julacPIN, campusID} {
		if strings.Contains(body, secret) {
			t.Fatalf("/metrics carries %q", secret)
		}
	}
	// One version everywhere: --version, the Root DSE, bindery_build_info.
	vout, _ := runBindery(t, "--version")
	ver := strings.TrimSpace(strings.TrimPrefix(vout, "bindery "))
	dse, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"vendorVersion"}, nil))
	if err != nil || len(dse.Entries) != 1 || dse.Entries[0].GetAttributeValue("vendorVersion") != ver || !strings.Contains(ver, "(commit ") {
		t.Fatalf("vendorVersion %v (%v), want --version's %q", dse, err, ver)
	}
	var v, commit, gov string
	fmt.Sscanf(strings.NewReplacer("(", "", ")", "", ",", "").Replace(ver), "%s commit %s %s", &v, &commit, &gov)
	if want := fmt.Sprintf(`bindery_build_info{commit=%q,goversion=%q,version=%q} 1`, commit, gov, v); !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %s", want)
	}
	if !strings.Contains(body, `bindery_upstream_request_duration_seconds_count{backend="campus",op="bind"}`) ||
		!strings.Contains(body, `bindery_upstream_request_duration_seconds_count{backend="campus",op="search"}`) {
		t.Fatalf("/metrics lacks the upstream histogram:\n%s", grep(body, "upstream"))
	}
	// A lockout (5 different wrong PINs) and a cache hit, counted before a reload.
	for i := range 5 {
		if err := e.dial().Bind(personDN(cardID), fmt.Sprintf("Wrong-PIN-%04d", i)); ldapCode(err) != 49 {
			t.Fatalf("wrong PIN %d: %v", i, err)
		}
	}
	if err := c.Bind(personDN(julacID), julacPIN); err != nil {
		t.Fatal(err)
	}
	_, body = httpGet(t, "http://"+httpAddr+"/metrics")
	before := counters(body, "bindery_lockouts_total", `bindery_cache_hits_total{backend="pins"}`)
	if before[0] != 1 || before[1] < 1 {
		t.Fatalf("before the reload: lockouts %v, pins cache hits %v", before[0], before[1])
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
	// Counters never go backwards across a reload.
	_, body = httpGet(t, "http://"+httpAddr+"/metrics")
	after := counters(body, "bindery_lockouts_total", `bindery_cache_hits_total{backend="pins"}`)
	if after[0] < before[0] || after[1] < before[1] {
		t.Fatalf("counters went backwards across SIGHUP: lockouts %v -> %v, cache hits %v -> %v", before[0], after[0], before[1], after[1])
	}
}

// counters reads the values of the named series from a /metrics body
// (-1 when missing).
func counters(body string, series ...string) []float64 {
	out := make([]float64, len(series))
	for i, s := range series {
		out[i] = -1
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, s+" "); ok {
				fmt.Sscan(v, &out[i])
			}
		}
	}
	return out
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

// asNobody runs bindery as the unprivileged user nobody (setpriv), as the
// unit's ExecStartPre runs it as the bindery user.
func asNobody(t *testing.T, args ...string) (string, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run bindery as nobody")
	}
	cmd := exec.Command("setpriv", append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
		filepath.Join(binDir, "bindery")}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestCheckCatchesWhatStartWouldFailOn: each start-time failure the
// operations docs met (a missing certificate, a missing audit folder, a
// password file the service user cannot read, a missing store folder) is
// caught by --check with the key named, and --check --connect reaches a
// dead failover URL.
func TestCheckCatchesWhatStartWouldFailOn(t *testing.T) {
	sl := campusSlapd(t, false)
	dir, err := os.MkdirTemp("", "bindery-check") // t.TempDir's parent is closed to nobody
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	os.Chmod(binDir, 0o755)
	pair, err := slapdtest.WriteCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(pair.KeyFile, 0o644)
	pw := filepath.Join(dir, "campus.pw")
	os.WriteFile(pw, []byte(sl.AdminPassword()+"\n"), 0o644)
	for _, d := range []string{"lib", "log"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
		os.Chmod(filepath.Join(dir, d), 0o777) // writable by nobody whatever the umask
	}
	write := func(edit func(string) string) string {
		cfg := fmt.Sprintf(`[server]
suffix = %q

[server.tls]
cert_file = %q
key_file = %q

[log]
audit_file = %q

[[route]]
name = "campus"
match = '^[a-z]+$'
backend = "campus"

[[route]]
name = "julac"
match = '^CU[0-9]+$'
backend = "pins"

[backend.campus]
type = "ldap"
urls = [%q]
bind_dn = %q
bind_password_file = %q
base_dn = "ou=people,dc=example,dc=org"
timeout = "2s"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = %q
`, suffix, pair.CertFile, pair.KeyFile, filepath.Join(dir, "log", "audit.log"), sl.URL(), sl.AdminDN(), pw, filepath.Join(dir, "lib", "pins.db"))
		path := filepath.Join(dir, fmt.Sprintf("bindery-%d.toml", time.Now().UnixNano()))
		os.WriteFile(path, []byte(edit(cfg)), 0o644)
		return path
	}
	same := func(s string) string { return s }
	if out, code := asNobody(t, "--config", write(same), "--check"); code != 0 || !strings.Contains(out, "configuration OK") {
		t.Fatalf("--check of a good file as nobody: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		name, want string
		edit       func(string) string
		prepare    func()
	}{
		{"missing certificate", "server.tls.cert_file: open " + dir + "/none.pem: no such file",
			func(s string) string { return strings.Replace(s, pair.CertFile, dir+"/none.pem", 1) }, nil},
		{"key of another certificate", "private key does not match public key",
			func(s string) string { return strings.Replace(s, pair.KeyFile, dir+"/other.key", 1) }, func() {
				other := filepath.Join(dir, "other")
				os.Mkdir(other, 0o755)
				p2, _ := slapdtest.WriteCerts(other)
				copyInto(t, p2.KeyFile, dir+"/other.key")
				os.Chmod(dir+"/other.key", 0o644)
			}},
		{"audit folder missing", "log.audit_file: folder " + dir + "/nolog does not exist",
			func(s string) string { return strings.Replace(s, dir+"/log/", dir+"/nolog/", 1) }, nil},
		{"password file unreadable by the service user", "backend.campus.bind_password_file: open " + pw + ": permission denied",
			same, func() { os.Chmod(pw, 0o600) }},
		{"store folder missing", "backend.pins.dsn: folder " + dir + "/nolib does not exist",
			func(s string) string { return strings.Replace(s, dir+"/lib/", dir+"/nolib/", 1) }, func() { os.Chmod(pw, 0o644) }},
		{"store folder not writable", "backend.pins.dsn: folder " + dir + "/ro is not writable",
			func(s string) string { return strings.Replace(s, dir+"/lib/", dir+"/ro/", 1) }, func() { os.Mkdir(dir+"/ro", 0o755) }},
	} {
		if tc.prepare != nil {
			tc.prepare()
		}
		out, code := asNobody(t, "--config", write(tc.edit), "--check")
		if code == 0 || !strings.Contains(out, tc.want) || strings.Contains(out, "configuration OK") {
			t.Errorf("%s: --check exit %d, want a failure naming %q:\n%s", tc.name, code, tc.want, out)
		}
	}

	// A dead failover URL is contacted and reported: exit 1.
	dead := "ldap://" + freeAddr(t)
	failover := write(func(s string) string {
		return strings.Replace(s, fmt.Sprintf("urls = [%q]", sl.URL()), fmt.Sprintf("urls = [%q, %q]", sl.URL(), dead), 1)
	})
	out, code := runBindery(t, "--config", failover, "--check", "--connect")
	if code != 1 || !strings.Contains(out, "FAIL  backend campus (ldap): 1 of 2 URLs did not answer: "+dead) ||
		!strings.Contains(out, sl.URL()+" up") || !strings.Contains(out, dead+" down: ") {
		t.Fatalf("--check --connect with a dead second URL: exit %d\n%s", code, out)
	}
}
