package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/slapdtest"
)

// requireProgram returns a program's path; skips without it (fails in CI).
func requireProgram(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("BINDERY_REQUIRE_SERVERS") != "" {
			t.Fatalf("%s not installed (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// rawConn writes b to a new connection to addr and waits until the
// server closes it (or wait passes).
func rawConn(t *testing.T, addr string, b []byte, wait time.Duration) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(b)
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// situation is one entry of deploy/examples/log-lines.txt: a comment and
// the substrings that pick the first real log line for it.
type situation struct {
	comment string // "" continues the previous entry
	has     []string
}

var logSituations = []situation{
	{"start", []string{`msg="bindery serving"`}},
	{"", []string{`msg="bindery serving LDAPS"`}},
	{"", []string{`msg="serving metrics and health"`}},
	{"a service account's bind (the ILS), a patron's, and a wrong PIN (reason is for staff; the client only sees 49)", []string{"msg=bind", "code=0", "service=ils"}},
	{"", []string{"msg=bind", "code=0", "route=julac"}},
	{"", []string{"msg=bind", "code=49", "route=julac", "reason=bad_credentials"}},
	{"a PIN change (RFC 3062 Password Modify)", []string{"msg=passwd", "code=0"}},
	{"a campus login, then the campus directory down: 52 within backend.campus.timeout, never 49", []string{"msg=bind", "code=0", "route=campus"}},
	{"", []string{`msg="ldap upstream failed"`}},
	{"", []string{"msg=bind", "code=52", "route=campus"}},
	{"a hostile or broken client", []string{`msg="malformed request; closing connection"`}},
	{"", []string{`msg="request too large; closing connection"`}},
	{"", []string{`msg="request not read in time; closing connection"`}},
	{"", []string{`msg="connection refused: too many connections"`}},
	{"a connection from a load balancer listed in proxy_protocol_from without a PROXY header", []string{`msg="connection refused: PROXY header"`}},
	{"systemctl reload (SIGHUP): the certificate re-read, a key only a restart applies, the new configuration", []string{`msg="tls: certificate loaded"`, "why=reload"}},
	{"", []string{`msg="reload: these settings changed but take effect only after a restart"`}},
	{"", []string{`msg="reload: new configuration in use"`}},
	{"a reload of a broken file: refused, the running configuration stays", []string{`msg="reload refused`}},
	{"shutdown (systemctl stop)", []string{`msg="shutting down"`}},
}

// normalise turns a real line into the documentation's: an example
// time, client and duration, production addresses and paths.
func normalise(line string, i int) string {
	ts := time.Date(2026, 11, 27, 12, 31, 53, 0, time.UTC).Add(time.Duration(i) * 731 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
	for _, r := range []struct{ re, with string }{
		{`^time=\S+`, "time=" + ts},
		{`client=127\.0\.0\.\d+:\d+`, "client=10.20.0.5:52452"},
		{`peer=127\.0\.0\.\d+:\d+`, "peer=10.20.0.2:40112"},
		{`duration=[0-9.]+(µs|ms|s)`, "duration=38.2ms"},
		{`listen=127\.0\.0\.1:\d+`, "listen=0.0.0.0:389"},
		{`listen_tls=127\.0\.0\.1:\d+`, "listen_tls=0.0.0.0:636"},
		{`http=127\.0\.0\.1:\d+`, "http=127.0.0.1:9389"},
		{`ldap://127\.0\.0\.1:\d+`, "ldaps://ldap1.example.edu"},
		{`(not_after|serving_until)=\S+`, "${1}=2027-02-25T12:00:00Z"},
		{`subject=\S+`, "subject=CN=ldap.library.example.edu"},
		{`version=\S+`, "version=1.0.0"},
		{`dial tcp 127\.0\.0\.1:\d+`, "dial tcp 192.0.2.11:636"},
		{`/tmp/[^ "]*\.toml`, "/etc/bindery/bindery.toml"},
		{`/tmp/[^ "]*\.pem`, "/etc/bindery/server.crt"},
	} {
		line = regexp.MustCompile(r.re).ReplaceAllString(line, r.with)
	}
	return line
}

// TestOpsExamples runs bindery through the situations an operator sees
// and checks deploy/examples against the real thing: log-lines.txt is
// exactly what the log says (BINDERY_UPDATE_EXAMPLES=1 rewrites it),
// bindery.mtail run by the real mtail over the same log gives the series
// /metrics gives, with the same names, labels and counts, and the
// Prometheus files pass promtool (check config, check rules, the rules'
// unit tests) and name only metrics that /metrics has.
func TestOpsExamples(t *testing.T) {
	requireClients(t)
	mtail := requireProgram(t, "mtail", "mtail")
	promtool := requireProgram(t, "promtool", "prometheus")
	examples, _ := filepath.Abs("../deploy/examples")

	sl := campusSlapd(t, false)
	certs, err := slapdtest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, tlsAddr := freeAddr(t), freeAddr(t)
	e := coreEnv(t, sl, fmt.Sprintf(`max_connections = 20
read_timeout = "1s"
max_request_bytes = 65536
proxy_protocol_from = ["127.0.0.5/32"]

[server.tls]
cert_file = %q
key_file = %q
listen_tls = %q

[http]
listen = %q

[log]
audit_file = "%%DIR%%/audit.log"

[lockout]
throttle_after = 0
`, certs.CertFile, certs.KeyFile, tlsAddr, httpAddr))
	e.start()

	c := e.dial()
	if err := c.Bind(svcDN, svcPW); err != nil {
		t.Fatal(err)
	}
	if err := e.dial().Bind(personDN(julacID), "Wrong-PIN-2026"); ldapCode(err) != 49 {
		t.Fatalf("wrong PIN: %v", err)
	}
	p := e.dial()
	if err := p.Bind(personDN(julacID), julacPIN); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PasswordModify(ldap.NewPasswordModifyRequest("", julacPIN, "Julac-PIN-2027")); err != nil {
		t.Fatal(err)
	}
	if err := e.dial().Bind(personDN(campusID), campusPW); err != nil {
		t.Fatal(err)
	}
	rawConn(t, e.addr, []byte{0x30, 0x03, 0x05, 0x01, 0x00}, 5*time.Second)                         // not an LDAP message
	rawConn(t, e.addr, []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01}, 5*time.Second) // 2 GiB announced
	rawConn(t, e.addr, []byte{0x30, 0x10, 0x02}, 5*time.Second)                                     // stalls past read_timeout
	if code, _ := bindFrom(t, "127.0.0.5", e.addr, "", svcDN, svcPW); code != -1 {
		t.Fatalf("a listed balancer without a header: %d", code)
	}
	var idle []net.Conn
	for range 21 { // one more than max_connections (c and p are open too)
		if nc, err := net.Dial("tcp", e.addr); err == nil {
			idle = append(idle, nc)
		}
	}
	waitLog(t, e, "connection refused: too many connections")
	for _, nc := range idle {
		nc.Close()
	}
	sl.Stop()
	if err := e.dial().Bind(personDN("u3551234"), "Student-Pass-1"); ldapCode(err) != 52 {
		t.Fatalf("campus bind with the directory down: %v, want 52", err)
	}

	// A reload with a restart-only change, then a broken file.
	good, _ := os.ReadFile(e.cfgPath)
	os.WriteFile(e.cfgPath, []byte(strings.Replace(string(good), `idle_timeout = "30s"`, `idle_timeout = "1m"`, 1)), 0o600)
	e.proc.Process.Signal(syscall.SIGHUP)
	waitLog(t, e, "reload: new configuration in use")
	os.WriteFile(e.cfgPath, append(good, "\n[server]\n"...), 0o600)
	e.proc.Process.Signal(syscall.SIGHUP)
	waitLog(t, e, "reload refused")

	_, metricsBody := httpGet(t, "http://"+httpAddr+"/metrics")
	e.stop()
	logText := e.logs.String()

	t.Run("log-lines.txt is real", func(t *testing.T) {
		lines := strings.Split(logText, "\n")
		var b strings.Builder
		b.WriteString("# What bindery logs (log.format = \"text\"; one line per event; never a PIN).\n")
		b.WriteString("# Written by integration/examples_test.go from a real run (addresses, times and\n")
		b.WriteString("# durations replaced by examples): BINDERY_UPDATE_EXAMPLES=1 go test -run TestOpsExamples ./integration\n")
		for i, s := range logSituations {
			var found string
			for _, l := range lines {
				ok := true
				for _, h := range s.has {
					ok = ok && strings.Contains(l, h)
				}
				if ok {
					found = l
					break
				}
			}
			if found == "" {
				t.Errorf("no log line for %q (%v)", s.comment, s.has)
				continue
			}
			if s.comment != "" {
				fmt.Fprintf(&b, "\n# %s\n", s.comment)
			}
			b.WriteString(normalise(found, i) + "\n")
		}
		path := filepath.Join(examples, "log-lines.txt")
		if os.Getenv("BINDERY_UPDATE_EXAMPLES") != "" {
			os.WriteFile(path, []byte(b.String()), 0o644)
		}
		want, _ := os.ReadFile(path)
		if string(want) != b.String() {
			t.Fatalf("deploy/examples/log-lines.txt differs from what bindery logs now; "+
				"rewrite it with BINDERY_UPDATE_EXAMPLES=1 go test -run TestOpsExamples ./integration\n--- real:\n%s", b.String())
		}
	})

	t.Run("bindery.mtail gives /metrics' series", func(t *testing.T) {
		logFile := filepath.Join(t.TempDir(), "bindery.log")
		os.WriteFile(logFile, []byte(logText), 0o600)
		out, err := exec.Command(mtail, "--progs", filepath.Join(examples, "bindery.mtail"), "--logs", logFile,
			"--one_shot", "--one_shot_format=prometheus", "--emit_prog_label=false", "--logtostderr=false").Output()
		if err != nil {
			t.Fatalf("mtail: %v\n%s", err, out)
		}
		series := 0
		for _, line := range strings.Split(string(out), "\n") {
			if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "bindery_panics_total") {
				continue
			}
			series++
			if !strings.Contains(metricsBody, line+"\n") {
				t.Errorf("mtail's %s is not in /metrics (same name, labels and count):\n%s", line,
					grep(metricsBody, line[:strings.IndexAny(line, "{ ")]))
			}
		}
		if series < 10 {
			t.Fatalf("mtail gave only %d series:\n%s", series, out)
		}
	})

	t.Run("Prometheus files", func(t *testing.T) {
		for _, args := range [][]string{
			{"check", "config", "prometheus.yml"},
			{"check", "rules", "bindery-alerts.yml"},
			{"test", "rules", "bindery-alerts.test.yml"},
		} {
			cmd := exec.Command(promtool, args...)
			cmd.Dir = examples
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		rules, _ := os.ReadFile(filepath.Join(examples, "bindery-alerts.yml"))
		names := map[string]bool{}
		for _, n := range regexp.MustCompile(`\bbindery_[a-z_]+`).FindAllString(string(rules), -1) {
			names[strings.TrimSuffix(n, "_bucket")] = true
		}
		var missing []string
		for n := range names {
			if !strings.Contains(metricsBody, "# TYPE "+n+" ") {
				missing = append(missing, n)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 || len(names) < 8 {
			t.Fatalf("the alert rules name metrics /metrics does not have: %v (of %d)", missing, len(names))
		}
	})
}
