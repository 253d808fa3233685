package proxy

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/pires/go-proxyproto"
)

// proxied dials the server from 127.0.0.1 and writes a PROXY v2 header
// naming src, then speaks LDAP over it.
func proxied(t *testing.T, addr, src string) *ldap.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), nc.RemoteAddr())
	if _, err := h.WriteTo(nc); err != nil {
		t.Fatal(err)
	}
	c := ldap.NewConn(nc, false)
	c.Start()
	c.SetTimeout(5 * time.Second)
	t.Cleanup(func() { c.Close() })
	return c
}

func rejections(rec *recordingObserver) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.rejected...)
}

// TestProxyProtocolClientAddress: behind a trusted balancer, the address
// in the header is the client's for the service account's networks and
// the audit event; without a header the balancer's connection is refused
// and counted.
func TestProxyProtocolClientAddress(t *testing.T) {
	rec := &recordingObserver{}
	e := newEnv(t, func(s *Server) {
		s.Observer = Observers{rec}
		s.ProxyProtocolFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		s.ReadTimeout = 500 * time.Millisecond
	})
	// faraway may bind from 192.0.2.0/24 only.
	if err := proxied(t, e.addr, "192.0.2.5:4000").Bind("cn=faraway,ou=services,"+testSuffix, "fa-secret"); err != nil {
		t.Fatalf("faraway from 192.0.2.5 through the balancer: %v", err)
	}
	if err := proxied(t, e.addr, "198.51.100.5:4000").Bind("cn=faraway,ou=services,"+testSuffix, "fa-secret"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("faraway from 198.51.100.5 through the balancer: %v, want 49", err)
	}
	// The answer goes out before the operation is reported: wait for both.
	evs, _, _ := rec.snapshot()
	for deadline := time.Now().Add(5 * time.Second); len(evs) < 2 && time.Now().Before(deadline); evs, _, _ = rec.snapshot() {
		time.Sleep(10 * time.Millisecond)
	}
	got := map[string]int{}
	for _, ev := range evs {
		got[ev.Client] = ev.Code
	}
	if len(evs) != 2 || len(got) != 2 || got["192.0.2.5:4000"] != 0 || got["198.51.100.5:4000"] != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("event clients: %+v", evs)
	}

	// The balancer's address without a header: closed, counted.
	c, err := ldap.DialURL("ldap://"+e.addr, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err == nil {
		c.SetTimeout(5 * time.Second)
		err = c.Bind("cn=ils,ou=services,"+testSuffix, "ils-secret")
		c.Close()
	}
	if err == nil {
		t.Fatal("a trusted sender without a PROXY header was served")
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Join(rejections(rec), ",") != "proxy_header" {
		if time.Now().After(deadline) {
			t.Fatalf("rejections %v, want [proxy_header]", rejections(rec))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProxyProtocolUntrustedHeaderRefused: a header from an address that
// is not listed is refused, whatever it claims.
func TestProxyProtocolUntrustedHeaderRefused(t *testing.T) {
	rec := &recordingObserver{}
	e := newEnv(t, func(s *Server) {
		s.Observer = Observers{rec}
		s.ProxyProtocolFrom = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	if err := proxied(t, e.addr, "192.0.2.5:4000").Bind("cn=faraway,ou=services,"+testSuffix, "fa-secret"); err == nil {
		t.Fatal("a forged header from an untrusted sender was accepted")
	}
	// A plain client from the same untrusted address is served as usual.
	if err := e.dial().Bind("cn=ils,ou=services,"+testSuffix, "ils-secret"); err != nil {
		t.Fatalf("plain client: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Join(rejections(rec), ",") != "proxy_header" {
		if time.Now().After(deadline) {
			t.Fatalf("rejections %v, want [proxy_header]", rejections(rec))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
