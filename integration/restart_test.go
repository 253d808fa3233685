package integration

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/slapdtest"
)

// servedCert returns the leaf certificate a new StartTLS on addr sees.
func servedCert(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := ldap.DialURL("ldap://"+addr, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	st, ok := c.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		t.Fatal("no TLS state")
	}
	return st.PeerCertificates[0].Raw
}

func leaf(t *testing.T, certFile string) []byte {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, strings.TrimSuffix(certFile, "server.pem")+"server.key")
	if err != nil {
		t.Fatal(err)
	}
	return pair.Certificate[0]
}

func copyInto(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCertificateReload: the certificate files are swapped (as certbot's
// renewal does) and bindery gets SIGHUP: new StartTLS, LDAPS and HTTPS
// handshakes see the new certificate, a connection opened before keeps
// working, the cache is not dropped for it; a bad pair is refused and the
// one in use stays.
func TestCertificateReload(t *testing.T) {
	sl := campusSlapd(t, false)
	dir := t.TempDir()
	live := filepath.Join(dir, "live")
	os.Mkdir(live, 0o700)
	oldPair, err := slapdtest.WriteCerts(live)
	if err != nil {
		t.Fatal(err)
	}
	newDir := filepath.Join(dir, "renewed")
	os.Mkdir(newDir, 0o700)
	newPair, err := slapdtest.WriteCerts(newDir)
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr, webAddr := freeAddr(t), freeAddr(t)
	e := coreEnv(t, sl, fmt.Sprintf(`
[server.tls]
cert_file = %q
key_file = %q
listen_tls = %q

[web]
enabled = true
listen = %q
`, oldPair.CertFile, oldPair.KeyFile, tlsAddr, webAddr))
	e.start()
	oldLeaf, newLeaf := leaf(t, oldPair.CertFile), leaf(t, newPair.CertFile)
	if !bytes.Equal(servedCert(t, e.addr), oldLeaf) {
		t.Fatal("not serving the configured certificate")
	}
	// A connection made before the renewal, StartTLS'd and bound.
	old := e.dial()
	if err := old.StartTLS(&tls.Config{RootCAs: oldPair.Pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := old.Bind(personDN(julacID), julacPIN); err != nil {
		t.Fatal(err)
	}

	// Renewal: the files are replaced in place, then SIGHUP.
	copyInto(t, newPair.CertFile, oldPair.CertFile)
	copyInto(t, newPair.KeyFile, oldPair.KeyFile)
	e.proc.Process.Signal(syscall.SIGHUP)
	waitLog(t, e, "tls: certificate loaded")
	waitLog(t, e, "reload: the configuration and the files it names are unchanged; backends and caches kept")
	if !bytes.Equal(servedCert(t, e.addr), newLeaf) {
		t.Fatal("a new StartTLS after the reload still sees the old certificate")
	}
	lc, err := ldap.DialURL("ldaps://"+tlsAddr, ldap.DialWithTLSConfig(&tls.Config{RootCAs: newPair.Pool, ServerName: "127.0.0.1"}))
	if err != nil {
		t.Fatalf("LDAPS with the renewed CA: %v", err)
	}
	lc.Close()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: newPair.Pool}}}
	resp, err := hc.Get("https://" + webAddr + "/pin/setup")
	if err != nil {
		t.Fatalf("the PIN page with the renewed CA: %v", err)
	}
	resp.Body.Close()
	// The connection from before: still open, still TLS, still binds,
	// and from the cache, which the reload kept.
	if err := old.Bind(personDN(julacID), julacPIN); err != nil {
		t.Fatalf("the connection opened before the renewal: %v", err)
	}
	waitLog(t, e, "id="+julacID+" route=julac backend=pins cache=true") // the only bind from the cache

	// A bad pair (the key of another certificate): refused, the renewed
	// certificate stays in use.
	copyInto(t, oldPair.CAFile, oldPair.CertFile) // a certificate whose key is not there
	e.proc.Process.Signal(syscall.SIGHUP)
	waitLog(t, e, "tls: new certificate refused; still serving the previous one")
	if !bytes.Equal(servedCert(t, e.addr), newLeaf) {
		t.Fatal("a refused pair replaced the certificate in use")
	}
}

// activated starts bindery the way systemd starts a socket-activated
// service: the listening socket on descriptor 3, LISTEN_FDS=1,
// LISTEN_FDNAMES=ldap and LISTEN_PID set to the service's own PID (by a
// shell that then execs bindery, as systemd sets it between fork and
// exec).
func activated(t *testing.T, e *env, sock *os.File, logs *syncBuffer) (*exec.Cmd, chan struct{}) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" --config "$1"`, filepath.Join(binDir, "bindery"), e.cfgPath)
	cmd.ExtraFiles = []*os.File{sock}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=ldap")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, done
}

// TestSocketActivationRestartRefusesNobody: binds in a loop while the
// process is replaced (stop, then start, as `systemctl restart` does with
// bindery.socket holding the listening socket): every bind succeeds, no
// connection is refused or dropped.
func TestSocketActivationRestartRefusesNobody(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // the duplicate in sock keeps listening, as systemd's does
	defer sock.Close()

	e := newEnv(t, "", `
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
`)
	logsA, logsB := &syncBuffer{}, &syncBuffer{}
	a, aDone := activated(t, e, sock, logsA)
	defer func() {
		if t.Failed() {
			t.Logf("first process:\n%s\nsecond process:\n%s", logsA.String(), logsB.String())
		}
	}()

	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				code := bindAt(t, addr, "GUEST-0001", svcPW)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return codes[0] }
	for deadline := time.Now().Add(20 * time.Second); count() < 50; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first process answered no binds")
		}
	}
	// systemctl restart: SIGTERM, wait for the exit, start again.
	before := count()
	a.Process.Signal(syscall.SIGTERM)
	<-aDone
	_, _ = activated(t, e, sock, logsB)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logsB.String(), "listening on a socket passed by systemd") || count() < before+50; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second process answered no binds")
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("bind results across the restart: %v", codes)
	if len(codes) != 1 || codes[0] == 0 {
		t.Fatalf("bind results %v: every bind must succeed (-1: a connection refused or dropped)", codes)
	}
	if !strings.Contains(logsA.String(), "listening on a socket passed by systemd") {
		t.Fatalf("the first process did not use the passed socket:\n%s", logsA.String())
	}
}
