package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/pires/go-proxyproto"
)

// ppBody: a static route (no store to share), a service account that may
// bind from 127.0.0.3 only, the throttle after 2 failures, an audit file
// and the metrics listener of one instance.
func ppBody(httpAddr string) string {
	return fmt.Sprintf(`
[[service_account]]
name = "gateway"
password_hash = %q
networks = ["127.0.0.3/32"]

[[route]]
name = "guests"
match = '^GUEST-[0-9]{4}$'
backend = "guests"

[backend.guests]
type = "static"

[[backend.guests.user]]
id = "GUEST-0001"
password_hash = %q
name = "A Guest"

[lockout]
throttle_after = 2

[log]
audit_file = "%%DIR%%/audit.log"

[http]
listen = %q
`, svcHash, svcHash, httpAddr)
}

// dialFrom opens an LDAP connection to addr from the loopback address
// src, optionally writing a PROXY v2 header claiming claim first.
func dialFrom(t *testing.T, src, addr, claim string) (*ldap.Conn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if claim != "" {
		h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP(claim), Port: 40000}, nc.RemoteAddr())
		if _, err := h.WriteTo(nc); err != nil {
			nc.Close()
			return nil, err
		}
	}
	c := ldap.NewConn(nc, false)
	c.Start()
	c.SetTimeout(20 * time.Second)
	return c, nil
}

// bindFrom binds on a new connection from src and returns the LDAP code
// (-1: no LDAP answer) and how long the bind took.
func bindFrom(t *testing.T, src, addr, claim, dn, pw string) (int, time.Duration) {
	t.Helper()
	c, err := dialFrom(t, src, addr, claim)
	if err != nil {
		return -1, 0
	}
	defer c.Close()
	start := time.Now()
	err = c.Bind(dn, pw)
	took := time.Since(start)
	if code := ldapCode(err); code < 0 || code >= 200 { // go-ldap's own codes: no LDAP answer
		return -1, took
	}
	return ldapCode(err), took
}

// haproxySendProxy is haproxyConfig with send-proxy-v2 on every server,
// and health checks that send a header too (docs/scaling.md).
func haproxySendProxy(listen string, nodes []*env) string {
	cfg := haproxyConfig(listen, nodes)
	for _, e := range nodes {
		cfg = strings.Replace(cfg, " "+e.addr+"\n", " "+e.addr+" send-proxy-v2 check check-send-proxy inter 300ms\n", 1)
	}
	return cfg
}

// TestProxyProtocolBehindHAProxy: two instances behind a real HAProxy
// that sends PROXY v2; clients on 127.0.0.2 and 127.0.0.3 are told apart
// by the audit trail, the throttle and a service account's networks.
func TestProxyProtocolBehindHAProxy(t *testing.T) {
	haproxy := requireHAProxy(t)
	var nodes []*env
	var metricsAddr []string
	for range 2 {
		h := freeAddr(t)
		e := newEnv(t, `proxy_protocol_from = ["127.0.0.1/32"]`, ppBody(h))
		e.probeFrom = "127.0.0.9" // not the trusted balancer: the readiness probe sends no header
		e.start()
		nodes = append(nodes, e)
		metricsAddr = append(metricsAddr, h)
	}
	lb := startHAProxyConfig(t, haproxy, haproxySendProxy, nodes)
	guest := personDN("GUEST-0001")
	gateway := "cn=gateway,ou=services," + suffix

	t.Run("service account networks", func(t *testing.T) {
		for i := range 2 { // both instances (round robin)
			if code, _ := bindFrom(t, "127.0.0.3", lb, "", gateway, svcPW); code != 0 {
				t.Fatalf("gateway from 127.0.0.3 (%d): %d, want 0", i, code)
			}
			if code, _ := bindFrom(t, "127.0.0.2", lb, "", gateway, svcPW); code != 49 {
				t.Fatalf("gateway from 127.0.0.2 (%d): %d, want 49", i, code)
			}
		}
	})

	t.Run("throttle per client", func(t *testing.T) {
		// 127.0.0.2 guesses: two failures on each instance arm the throttle.
		for i := range 4 {
			if code, _ := bindFrom(t, "127.0.0.2", lb, "", guest, fmt.Sprintf("wrong-%d", i)); code != 49 {
				t.Fatalf("wrong password %d: %d", i, code)
			}
		}
		// 127.0.0.3, same account, same balancer, right after: not held.
		for i := range 2 {
			code, took := bindFrom(t, "127.0.0.3", lb, "", guest, svcPW)
			if code != 0 || took > 400*time.Millisecond {
				t.Fatalf("127.0.0.3 (%d): code %d in %v, want 0 at once", i, code, took)
			}
		}
		// 127.0.0.2's next attempt is held (about 1 s after its last failure).
		code, took := bindFrom(t, "127.0.0.2", lb, "", guest, svcPW)
		if code != 0 || took < 500*time.Millisecond {
			t.Fatalf("127.0.0.2 after 4 failures: code %d in %v, want 0 after the throttle's wait", code, took)
		}
	})

	t.Run("refused without or with a forged header", func(t *testing.T) {
		for _, e := range nodes {
			// The balancer's own address, no header.
			if code, _ := bindFrom(t, "127.0.0.1", e.addr, "", guest, svcPW); code != -1 {
				t.Fatalf("direct from the trusted 127.0.0.1 without a header: %d, want the connection closed", code)
			}
			// An untrusted address claiming to be the gateway's client.
			if code, _ := bindFrom(t, "127.0.0.2", e.addr, "127.0.0.3", gateway, svcPW); code != -1 {
				t.Fatalf("forged header from 127.0.0.2: %d, want the connection closed", code)
			}
			// A plain client from an untrusted address is served.
			if code, _ := bindFrom(t, "127.0.0.2", e.addr, "", guest, svcPW); code != 0 {
				t.Fatalf("plain client from 127.0.0.2: %d", code)
			}
		}
		for i, h := range metricsAddr {
			_, body := httpGet(t, "http://"+h+"/metrics")
			if !strings.Contains(body, `bindery_connections_rejected_total{reason="proxy_header"} 2`) {
				t.Fatalf("instance %d: proxy_header rejections not counted:\n%s", i, grep(body, "rejected"))
			}
		}
		waitLog(t, nodes[0], "connection refused: PROXY header")
	})

	t.Run("audit trail shows each client", func(t *testing.T) {
		seen := map[string]int{}
		for _, e := range nodes {
			for _, line := range auditLines(t, e) {
				var rec struct{ Client, ID, Service string }
				json.Unmarshal([]byte(line), &rec)
				host, _, _ := net.SplitHostPort(rec.Client)
				seen[host]++
			}
		}
		if seen["127.0.0.2"] < 7 || seen["127.0.0.3"] < 4 || seen["127.0.0.1"] != 0 {
			t.Fatalf("audit clients %v: want 127.0.0.2 and 127.0.0.3, never the balancer", seen)
		}
	})
}

func grep(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// auditLines reads an instance's audit file once its lines are written.
func auditLines(t *testing.T, e *env) []string {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // the audit writer is asynchronous
	data, err := os.ReadFile(filepath.Join(e.dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// startHAProxyConfig is startHAProxy with a config of the caller's.
func startHAProxyConfig(t *testing.T, bin string, config func(string, []*env) string, nodes []*env) string {
	t.Helper()
	addr := freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(config(addr, nodes)), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "-f", cfg, "-db")
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
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("haproxy log:\n%s", logs.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-done:
			t.Fatalf("haproxy exited: %s", logs.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return addr
		}
	}
	t.Fatalf("haproxy did not listen on %s: %s", addr, logs.String())
	return ""
}

// webPost posts the set-up form (without its CSRF token: bindery answers
// 403 and logs the attempt with the client address) from the loopback
// address src; header, when set, is written before the request.
func webPost(t *testing.T, webAddr, src string, header []byte, xff string) (int, error) {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, network, addr)
		if err == nil && header != nil {
			_, err = c.Write(header)
		}
		return c, err
	}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", "http://"+webAddr+"/pin/setup", strings.NewReader("card=CU7000001&code=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// TestWebClientAddressBehindProxies: the PIN page's listener takes PROXY
// headers from [server] proxy_protocol_from and forwarding headers from
// [web] trusted_proxies, and the page logs (and throttles) that address.
func TestWebClientAddressBehindProxies(t *testing.T) {
	webAddr := freeAddr(t)
	e := pinEnv(t, `proxy_protocol_from = ["127.0.0.4/32"]`,
		fmt.Sprintf("\n[web]\nenabled = true\nlisten = %q\ntrusted_proxies = [\"127.0.0.6\"]\n", webAddr))
	e.start()
	waitListen(t, webAddr)
	v1 := func(claim string) []byte { return []byte("PROXY TCP4 " + claim + " 127.0.0.1 40000 8080\r\n") }

	for _, tc := range []struct {
		name, src string
		header    []byte
		xff, want string
	}{
		{"PROXY header from the balancer", "127.0.0.4", v1("192.0.2.77"), "", "addr=192.0.2.77 "},
		{"X-Forwarded-For from the trusted proxy", "127.0.0.6", nil, "6.6.6.6, 192.0.2.88", "addr=192.0.2.88 "},
		{"X-Forwarded-For from anyone else", "127.0.0.3", nil, "192.0.2.99", "addr=127.0.0.3 "},
	} {
		code, err := webPost(t, webAddr, tc.src, tc.header, tc.xff)
		if err != nil || code != http.StatusForbidden {
			t.Fatalf("%s: %d %v, want the 403 of a missing CSRF token", tc.name, code, err)
		}
		waitLog(t, e, `msg="web: pin setup" card=CU7000001 `+tc.want)
	}
	for _, tc := range []struct {
		name, src string
		header    []byte
	}{
		{"the balancer without a header", "127.0.0.4", nil},
		{"a forged header from anyone else", "127.0.0.3", v1("192.0.2.66")},
	} {
		if code, err := webPost(t, webAddr, tc.src, tc.header, ""); err == nil {
			t.Fatalf("%s: answered %d, want the connection closed", tc.name, code)
		}
	}
	waitLog(t, e, `msg="web: connection refused: PROXY header" peer=127.0.0.4:`)
	waitLog(t, e, `msg="web: connection refused: PROXY header" peer=127.0.0.3:`)
	if strings.Contains(e.logs.String(), "192.0.2.66") {
		t.Fatal("the forged address was used")
	}
}
