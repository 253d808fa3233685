package proxy

import (
	"fmt"
	"testing"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

// TestServiceVerifyBusy: a service account whose verification is refused
// by a full hashing pool gets 51 busy, not 80.
func TestServiceVerifyBusy(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		d := s.Directory()
		d.ServiceAccounts = append(d.ServiceAccounts, ServiceAccount{Name: "busy",
			Verify: func(string) (bool, error) { return false, fmt.Errorf("hashpool: %w", backend.ErrBusy) }})
	})
	c := e.dial()
	if err := c.Bind(serviceDN("busy"), "whatever"); code(err) != ldap.LDAPResultBusy {
		t.Fatalf("bind: %v, want 51", err)
	}
}
