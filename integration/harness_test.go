package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/slapdtest"
)

const suffix = "dc=library,dc=example,dc=edu"

// Service account of every test config.
const (
	svcName = "ils"
	svcDN   = "cn=ils,ou=services," + suffix
	svcPW   = "ils-demo-secret"
	// svcHash is argon2id with 64 KiB and one pass, like the PIN store
	// of every test config: bindery runs with the race detector here, and
	// golang.org/x/crypto/argon2 allocates its work area at every call,
	// which the race detector makes cost 0.6 s at the OWASP defaults
	// (0.05 s for the copy that reused its work area, before issue 12).
	svcHash = "$argon2id$v=19$m=64,t=1,p=1$iMoKbnfkXXRfAobV6rfebw$2kCKM/0RPGF3LyV6bx3qGOjlTvQFtQj7KFJ82AoadvQ"
)

var binDir string

func TestMain(m *testing.M) {
	os.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	dir, err := os.MkdirTemp("", "bindery-it-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-race", "-o", dir+"/", "../cmd/bindery", "../cmd/binderyctl")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func personDN(id string) string { return "uid=" + id + ",ou=people," + suffix }

// requireClients skips (or, in CI, fails) when the OpenLDAP clients are missing.
func requireClients(t *testing.T) {
	t.Helper()
	for _, c := range []string{"ldapwhoami", "ldapsearch", "ldappasswd"} {
		if _, err := exec.LookPath(c); err != nil {
			if os.Getenv("BINDERY_REQUIRE_SLAPD") != "" {
				t.Fatalf("%s not installed (apt-get install ldap-utils)", c)
			}
			t.Skipf("%s not installed", c)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", slapdtest.FreePort(t))
}

// env is one test's bindery with its config file.
type env struct {
	t       *testing.T
	dir     string
	cfgPath string
	addr    string
	tlsAddr string
	caFile  string
	proc    *exec.Cmd
	logs    *syncBuffer
	done    chan struct{}
	// probeFrom, when set, is the local address start's readiness probe
	// dials from (e.g. an address not in proxy_protocol_from).
	probeFrom string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv writes a config whose [server] listens on a free port; body is
// the rest of the file (routes, backends); %DIR% in either is replaced by
// the test folder. It does not start bindery.
func newEnv(t *testing.T, serverExtra, body string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), addr: freeAddr(t)}
	body = strings.ReplaceAll(body, "%DIR%", e.dir)
	serverExtra = strings.ReplaceAll(serverExtra, "%DIR%", e.dir)
	cfg := fmt.Sprintf(`[server]
listen = %q
suffix = %q
upn_suffix = "library.example.edu"
idle_timeout = "30s"
%s

[pin_policy.argon2]
memory_kib = 64
iterations = 1
parallelism = 1

[[service_account]]
name = %q
password_hash = %q
can_search = true
can_reset = true

%s
`, e.addr, suffix, serverExtra, svcName, svcHash, body)
	e.cfgPath = filepath.Join(e.dir, "bindery.toml")
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs bindery and waits until it answers the Root DSE.
func (e *env) start() {
	t := e.t
	t.Helper()
	e.logs = &syncBuffer{}
	e.proc = exec.Command(filepath.Join(binDir, "bindery"), "--config", e.cfgPath)
	e.proc.Stdout, e.proc.Stderr = e.logs, e.logs
	if err := e.proc.Start(); err != nil {
		t.Fatal(err)
	}
	e.done = make(chan struct{})
	go func() { e.proc.Wait(); close(e.done) }()
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("bindery log:\n%s", e.logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			t.Fatalf("bindery exited: %v\n%s", e.proc.ProcessState, e.logs.String())
		default:
		}
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		if e.probeFrom != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(e.probeFrom)}
		}
		c, err := d.Dial("tcp", e.addr)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("bindery did not listen on %s:\n%s", e.addr, e.logs.String())
}

func (e *env) stop() {
	if e.proc == nil || e.proc.Process == nil {
		return
	}
	e.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(15 * time.Second):
		e.proc.Process.Kill()
		<-e.done
	}
}

func (e *env) url() string { return "ldap://" + e.addr }

// ctl runs binderyctl against the test config; stdin may be "".
func (e *env) ctl(stdin string, args ...string) (string, error) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "binderyctl"), append([]string{"--config", e.cfgPath}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (e *env) mustCtl(stdin string, args ...string) string {
	e.t.Helper()
	out, err := e.ctl(stdin, args...)
	if err != nil {
		e.t.Fatalf("binderyctl %v: %v\n%s", args, err, out)
	}
	return out
}

// addPatron creates a patron and sets its PIN with the real CLI.
func (e *env) addPatron(id, name, pin string, extra ...string) {
	e.t.Helper()
	e.mustCtl("", append([]string{"patron", "add", id, "--name", name}, extra...)...)
	if pin != "" {
		e.mustCtl(pin+"\n", "pin", "set", id)
	}
}

// dial opens a go-ldap connection to bindery.
func (e *env) dial() *ldap.Conn {
	e.t.Helper()
	c, err := ldap.DialURL(e.url(), ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		e.t.Fatal(err)
	}
	c.SetTimeout(20 * time.Second)
	e.t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) dialTLS() *ldap.Conn {
	e.t.Helper()
	c, err := ldap.DialURL("ldaps://"+e.tlsAddr, ldap.DialWithTLSConfig(e.clientTLS()))
	if err != nil {
		e.t.Fatal(err)
	}
	c.SetTimeout(20 * time.Second)
	e.t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) clientTLS() *tls.Config {
	pem, err := os.ReadFile(e.caFile)
	if err != nil {
		e.t.Fatal(err)
	}
	pool := x509CertPool(pem)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// ldapCode returns the LDAP result code of err (0 for nil, -1 for a
// non-LDAP error).
func ldapCode(err error) int {
	if err == nil {
		return 0
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		return int(le.ResultCode)
	}
	return -1
}

// client runs an OpenLDAP command-line client with a timeout and returns
// its combined output and exit code.
func client(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), code
}
