package ldapbackend

import (
	"context"
	"testing"
	"time"
)

// TestHealthCheck: the health check fills both pools to MinIdle, keeps
// State current through an outage, and a bind uses a warm connection.
func TestHealthCheck(t *testing.T) {
	s := startSlapd(t, false)
	b := newBackend(t, Config{URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW,
		HealthInterval: 20 * time.Millisecond, MinIdle: ptr(2), PoolSize: 4})
	waitFor(t, "both pools warm", func() bool { sv, bd := b.IdleConns(); return sv == 2 && bd == 2 })
	if st := b.State(); !st[0].Up {
		t.Fatalf("State after warm-up: %+v", st)
	}
	if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
		t.Fatalf("bind on a warm pool: ok=%v err=%v", ok, err)
	}
	if _, bd := b.IdleConns(); bd != 2 {
		t.Fatalf("bind pool after a bind: %d idle, want 2 (the warm connection went back)", bd)
	}

	s.Stop()
	waitFor(t, "State down", func() bool { return !b.State()[0].Up })
	s.Start()
	waitFor(t, "State up again and pools refilled", func() bool {
		sv, bd := b.IdleConns()
		return b.State()[0].Up && sv == 2 && bd == 2
	})
	if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
		t.Fatalf("bind after the restart: ok=%v err=%v", ok, err)
	}
}

// TestHealthCheckOffByDefault: without HealthInterval nothing is dialled.
func TestHealthCheckOffByDefault(t *testing.T) {
	b := newBackend(t, Config{URLs: []string{"ldap://127.0.0.1:1"}, MinIdle: ptr(2)})
	if sv, bd := b.IdleConns(); sv != 0 || bd != 0 {
		t.Fatalf("idle %d/%d without a health check", sv, bd)
	}
	if err := b.CheckHealth(context.Background()); err == nil {
		t.Fatal("CheckHealth against a closed port succeeded")
	}
}

// waitFor polls cond, giving up (a hang, not a slow machine) after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	give := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(give) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }
