// Package slapdtest starts a throwaway OpenLDAP slapd for integration
// tests, on its own loopback port and directory, with an LDIF fixture and
// optional TLS. Without slapd the test is skipped, unless
// BINDERY_REQUIRE_SLAPD is set (CI). See README.md.
package slapdtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// RequireEnv is the environment variable that turns a missing slapd from a
// skip into a failure.
const RequireEnv = "BINDERY_REQUIRE_SLAPD"

// Timing of start and stop.
const (
	readyPoll    = 100 * time.Millisecond
	readyTimeout = 10 * time.Second
	stopGrace    = 3 * time.Second
)

// Options configure one test server. The zero value is a plain-LDAP server
// with only the suffix entry dc=example,dc=org.
type Options struct {
	// LDIF is loaded with slapadd after the suffix entry (which is always
	// created), before the first start. See PeopleLDIF, OULDIF, UserLDIF.
	LDIF string
	// TLS generates a CA and a server certificate for 127.0.0.1 and
	// localhost, enables StartTLS on the plain port and opens an LDAPS port.
	TLS bool
	// AdminPassword is the rootpw of cn=admin,dc=example,dc=org;
	// default "admin-secret".
	AdminPassword string
	// ExtraGlobal is appended to the global section of slapd.conf (e.g.
	// "moduleload ppolicy").
	ExtraGlobal string
	// ExtraDatabase is appended to the database section (e.g. "overlay
	// ppolicy" and its settings).
	ExtraDatabase string
}

// Server is one running (or stopped) slapd. Its methods fail the test that
// started it on error; call them from that test's goroutine.
type Server struct {
	t        testing.TB
	slapd    string
	dir      string
	conf     string
	port     int
	tlsPort  int // 0 without TLS
	adminPwd string
	certs    *CertFiles

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	output *syncBuffer
}

// Start creates, loads and starts a slapd for t; t.Cleanup stops it. It
// returns once a real bind as the admin succeeds.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	slapd := requireBinary(t, "slapd")
	slapadd := requireBinary(t, "slapadd")
	for _, p := range append([]string{moduleDir + "/back_mdb.so"}, schemaFiles()...) {
		if _, err := os.Stat(p); err != nil {
			missing(t, fmt.Sprintf("slapdtest: %s not usable: %v", p, err))
		}
	}

	s := &Server{
		t:        t,
		slapd:    slapd,
		dir:      t.TempDir(),
		port:     FreePort(t),
		adminPwd: opts.AdminPassword,
	}
	if s.adminPwd == "" {
		s.adminPwd = defaultPwd
	}
	if err := os.Mkdir(filepath.Join(s.dir, "db"), 0o700); err != nil {
		t.Fatalf("slapdtest: %v", err)
	}
	p := confParams{
		dir:           s.dir,
		rootPWHash:    SSHA(s.adminPwd),
		extraGlobal:   opts.ExtraGlobal,
		extraDatabase: opts.ExtraDatabase,
	}
	if opts.TLS {
		certs, err := WriteCerts(s.dir)
		if err != nil {
			t.Fatal(err)
		}
		s.certs = certs
		s.tlsPort = FreePort(t)
		p.certFile, p.keyFile = certs.CertFile, certs.KeyFile
	}
	s.conf = filepath.Join(s.dir, "slapd.conf")
	if err := os.WriteFile(s.conf, []byte(slapdConf(p)), 0o600); err != nil {
		t.Fatalf("slapdtest: write slapd.conf: %v", err)
	}
	ldifPath := filepath.Join(s.dir, "data.ldif")
	if err := os.WriteFile(ldifPath, []byte(baseLDIF()+opts.LDIF), 0o600); err != nil {
		t.Fatalf("slapdtest: write ldif: %v", err)
	}
	out, err := exec.Command(slapadd, "-q", "-f", s.conf, "-l", ldifPath).CombinedOutput()
	if err != nil {
		t.Fatalf("slapdtest: slapadd: %v\n%s", err, out)
	}

	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Start starts the server again after Stop or Kill, on the same ports and
// with the same database. It fails the test if the server is running.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatalf("slapdtest: start: already running")
	}
	urls := "ldap://127.0.0.1:" + strconv.Itoa(s.port) + "/"
	if s.tlsPort != 0 {
		urls += " ldaps://127.0.0.1:" + strconv.Itoa(s.tlsPort) + "/"
	}
	// -d 0 keeps slapd in the foreground (no fork), so that the test owns
	// the process, knows when it exits, and Pdeathsig kills it should the
	// test binary die.
	cmd := exec.Command(s.slapd, "-f", s.conf, "-h", urls, "-d", "0")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("slapdtest: start slapd: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done, s.output = cmd, done, out

	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for {
		select {
		case <-done:
			s.cmd = nil
			s.t.Fatalf("slapdtest: slapd exited during start-up: %v\n%s", cmd.ProcessState, out.String())
		default:
		}
		if lastErr = s.tryBind(); lastErr == nil {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(readyPoll)
	}
	s.stopLocked()
	s.t.Fatalf("slapdtest: slapd not ready after %v: %v\n%s", readyTimeout, lastErr, out.String())
}

// tryBind binds as the admin once.
func (s *Server) tryBind() error {
	c, err := ldap.DialURL(s.URL(), ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(time.Second)
	return c.Bind(adminDN, s.adminPwd)
}

// Stop stops the server: SIGTERM, SIGKILL after 3 s, then waits until the
// port is closed. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopGrace):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.afterExit()
}

// Kill ends the server with SIGKILL at once (a crash, not a shutdown).
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.afterExit()
}

// afterExit waits for the ports to close and forgets the process.
func (s *Server) afterExit() {
	s.cmd = nil
	addrs := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))}
	if s.tlsPort != 0 {
		addrs = append(addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tlsPort)))
	}
	deadline := time.Now().Add(stopGrace)
	for _, a := range addrs {
		for !portClosed(a) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Restart stops the server and starts it again on the same ports.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// Running reports whether the slapd process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// PID is the slapd process's ID, 0 when it is not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// URL is the plain LDAP URL, e.g. "ldap://127.0.0.1:40123".
func (s *Server) URL() string { return "ldap://127.0.0.1:" + strconv.Itoa(s.port) }

// LDAPSURL is the LDAPS URL, or "" when the server was started without TLS.
func (s *Server) LDAPSURL() string {
	if s.tlsPort == 0 {
		return ""
	}
	return "ldaps://127.0.0.1:" + strconv.Itoa(s.tlsPort)
}

// Port is the plain LDAP port.
func (s *Server) Port() int { return s.port }

// Dir is the server's directory (slapd.conf, db/, certificates).
func (s *Server) Dir() string { return s.dir }

// AdminDN is the rootdn, cn=admin,dc=example,dc=org.
func (s *Server) AdminDN() string { return adminDN }

// AdminPassword is the rootdn's password.
func (s *Server) AdminPassword() string { return s.adminPwd }

// BaseDN is the suffix, dc=example,dc=org.
func (s *Server) BaseDN() string { return BaseDN }

// CAFile is the path of the generated CA certificate (PEM), or "" without TLS.
func (s *Server) CAFile() string {
	if s.certs == nil {
		return ""
	}
	return s.certs.CAFile
}

// CAPEM is the generated CA certificate in PEM, or nil without TLS.
func (s *Server) CAPEM() []byte {
	if s.certs == nil {
		return nil
	}
	return s.certs.CAPEM
}

// CertPool holds the generated CA, or is nil without TLS.
func (s *Server) CertPool() *x509.CertPool {
	if s.certs == nil {
		return nil
	}
	return s.certs.Pool
}

// TLSConfig is a client configuration that trusts the generated CA, or nil
// without TLS.
func (s *Server) TLSConfig() *tls.Config {
	if s.certs == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.certs.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// Output is what slapd printed (to stdout and stderr) since its last start.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.output == nil {
		return ""
	}
	return s.output.String()
}

// schemaFiles lists the schema files slapd.conf includes.
func schemaFiles() []string {
	out := make([]string, len(schemas))
	for i, s := range schemas {
		out[i] = schemaDir + "/" + s + ".schema"
	}
	return out
}

// sbinDirs are searched after PATH: CI shells often lack /usr/sbin.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// findBinary looks name up in PATH, then in sbinDirs.
func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or %v: %w", name, sbinDirs, exec.ErrNotFound)
}

// requireBinary finds name or skips/fails the test (see RequireEnv).
func requireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := findBinary(name)
	if err != nil {
		missing(t, "slapdtest: "+err.Error())
	}
	return p
}

// missing skips the test, or fails it when RequireEnv is set.
func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s (%s is set: slapd is required)", msg, RequireEnv)
		return
	}
	t.Skipf("%s (set %s to make this a failure)", msg, RequireEnv)
}

// syncBuffer is a bytes.Buffer safe for the writer goroutines of exec.Cmd.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
