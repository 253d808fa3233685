package proxy

import (
	"bytes"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func TestRoutesRoute(t *testing.T) {
	d := &Routes{List: []Route{
		{Name: "julac", Match: regexp.MustCompile(`^CU[0-9]+$`), Case: CaseUpper},
		{Name: "campus", Match: regexp.MustCompile(`^[a-z]+$`), Case: CaseLower},
		{Name: "card", Match: regexp.MustCompile(`^[0-9]{10}$`)},
		{Name: "catch-all", Match: nil},
	}}
	tests := []struct {
		id, route, nid string
	}{
		{"cu123", "julac", "CU123"},
		{"CU123", "julac", "CU123"},
		{"JChan", "campus", "jchan"},
		{"0123456789", "card", "0123456789"},
		{"Mixed-123", "catch-all", "Mixed-123"},
	}
	for _, tc := range tests {
		r, nid, ok := d.Route(tc.id)
		if !ok || r.Name != tc.route || nid != tc.nid {
			t.Errorf("Route(%q) = %v %q %v, want %s %q", tc.id, r, nid, ok, tc.route, tc.nid)
		}
	}
	d.List = d.List[:3]
	if _, _, ok := d.Route("Mixed-123"); ok {
		t.Error("no route expected")
	}
	if _, _, ok := (*Routes)(nil).Route("x"); ok {
		t.Error("nil directory routed")
	}
}

func TestServiceNetworks(t *testing.T) {
	sa := ServiceAccount{Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}}
	for addr, want := range map[string]bool{
		"10.1.2.3:389":        true,
		"[::ffff:10.1.2.3]:1": true,
		"[2001:db8::1]:636":   true,
		"192.168.1.1:389":     false,
		"pipe":                false,
		"[2001:db9::1]:636":   false,
	} {
		if got := sa.allowedFrom(addr); got != want {
			t.Errorf("allowedFrom(%s) = %v", addr, got)
		}
	}
	if !(&ServiceAccount{}).allowedFrom("pipe") {
		t.Error("empty network list must allow any address")
	}
}

func TestSetRoutesTakesEffectOnBoundConnections(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := search(c, testSuffix, ldap.ScopeWholeSubtree, "(uid=CU1234567)"); err != nil {
		t.Fatal(err)
	}
	d := *e.srv.Routes()
	d.ServiceAccounts = nil
	e.srv.SetRoutes(&d)
	if _, err := search(c, testSuffix, ldap.ScopeWholeSubtree, "(uid=CU1234567)"); code(err) != 50 {
		t.Fatalf("search by a removed service account: %v", err)
	}
	if err := c.Bind(serviceDN("ils"), "ils-secret"); code(err) != 49 {
		t.Fatalf("bind as a removed service account: %v", err)
	}
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

func TestLogsNeverHoldPasswords(t *testing.T) {
	var buf syncBuffer
	e := newEnv(t, func(s *Server) {
		s.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := e.dial()
	c.Bind("CU1234567", "Secret-PIN-xyzzy-1")
	c.Bind("CU1234567", "right-pin-123")
	c.PasswordModify(ldap.NewPasswordModifyRequest("", "right-pin-123", "Secret-PIN-plugh-2"))
	c.Bind(serviceDN("ils"), "ils-secret")
	c.Close()
	out := buf.String()
	for _, secret := range []string{"Secret-PIN-xyzzy-1", "right-pin-123", "Secret-PIN-plugh-2", "ils-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a password: %s", out)
		}
	}
	if !strings.Contains(out, "op=bind") || !strings.Contains(out, "route=julac") || !strings.Contains(out, "reason=bad_credentials") || !strings.Contains(out, "cache=false") {
		t.Errorf("bind log lines missing fields:\n%s", out)
	}
}

func TestSlowRequestIsDropped(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.ReadTimeout = 100 * time.Millisecond })
	r := dialRaw(t, e.addr)
	msg := rawWhoAmI(1)
	r.send(msg[:3]) // a message that starts and never ends
	r.expectClosed()
	c := e.dial()
	if _, err := c.WhoAmI(nil); err != nil {
		t.Fatalf("second client: %v", err)
	}
}
