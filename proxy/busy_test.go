package proxy

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

// TestServiceVerifyBusy: a service account whose verification is refused
// by a full hashing pool gets 51 busy, not 80.
func TestServiceVerifyBusy(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		d := s.Routes()
		d.ServiceAccounts = append(d.ServiceAccounts, ServiceAccount{Name: "busy",
			Verify: func(context.Context, string, string) (bool, error) {
				return false, fmt.Errorf("hashpool: %w", backend.ErrBusy)
			}})
	})
	c := e.dial()
	if err := c.Bind(serviceDN("busy"), "whatever"); code(err) != ldap.LDAPResultBusy {
		t.Fatalf("bind: %v, want 51", err)
	}
}

// busyToggle answers ErrBusy while busy is set, and otherwise asks the
// fake behind it.
type busyToggle struct {
	*fakeBackend
	busy atomic.Bool
}

func (b *busyToggle) Authenticate(ctx context.Context, c backend.Credentials) (backend.Result, bool, error) {
	if b.busy.Load() {
		return backend.Result{}, false, fmt.Errorf("hashpool: %w", backend.ErrBusy)
	}
	return b.fakeBackend.Authenticate(ctx, c)
}

// TestBusyBackoff: after a 51 busy, that connection's next bind is held
// for BusyBackoff (3 s here, ten times what the test waits);
// other connections are served at once, and without a backoff the same
// retry is answered.
func TestBusyBackoff(t *testing.T) {
	for _, backoff := range []time.Duration{0, 3 * time.Second} {
		t.Run(backoff.String(), func(t *testing.T) {
			toggle := &busyToggle{}
			e := newEnv(t, func(s *Server) {
				s.BusyBackoff = backoff
				d := s.Routes()
				toggle.fakeBackend = d.List[0].Backend.(*fakeBackend)
				d.List[0].Backend = toggle
			})
			toggle.busy.Store(true)
			c := e.dial()
			if err := c.Bind(personDN("CU1234567"), "right-pin-123"); code(err) != ldap.LDAPResultBusy {
				t.Fatalf("bind while busy: %v, want 51", err)
			}
			toggle.busy.Store(false)
			if err := e.dial().Bind(personDN("CU1234567"), "right-pin-123"); err != nil {
				t.Fatalf("bind on another connection: %v", err)
			}
			retry := make(chan error, 1)
			go func() { retry <- c.Bind(personDN("CU1234567"), "right-pin-123") }()
			if backoff == 0 {
				if err := <-retry; err != nil {
					t.Fatalf("retry without a backoff: %v", err)
				}
				return
			}
			select {
			case err := <-retry:
				t.Fatalf("retry on the refused connection answered (%v) within its backoff", err)
			case <-time.After(300 * time.Millisecond):
			}
			if err := <-retry; err != nil {
				t.Fatalf("retry after the backoff: %v", err)
			}
		})
	}
}
