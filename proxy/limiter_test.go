package proxy

import (
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestThrottle(t *testing.T) {
	a := throttleKey("192.0.2.7:5000", "CU1")
	b := throttleKey("192.0.2.7:6000", "CU2")     // same client, other account
	a2 := throttleKey("198.51.100.9:5000", "CU1") // other client, same account
	type step struct {
		advance     time.Duration
		fail, ok    pairKey
		check       pairKey
		wantBlocked bool
	}
	none := pairKey{}
	tests := []struct {
		name  string
		steps []step
	}{
		{"two failures: not yet", []step{
			{fail: a}, {fail: a}, {check: a, wantBlocked: false},
		}},
		{"third failure: 1s, then 2s, 4s", []step{
			{fail: a}, {fail: a}, {fail: a},
			{check: a, wantBlocked: true},
			{check: b, wantBlocked: false},  // never by client alone
			{check: a2, wantBlocked: false}, // nor by account alone
			{advance: 999 * time.Millisecond, check: a, wantBlocked: true},
			{advance: time.Millisecond, check: a, wantBlocked: false},
			{fail: a, check: a, wantBlocked: true},
			{advance: 1999 * time.Millisecond, check: a, wantBlocked: true},
			{advance: time.Millisecond, check: a, wantBlocked: false},
			{fail: a, advance: 0, check: a, wantBlocked: true},
			{advance: 3999 * time.Millisecond, check: a, wantBlocked: true},
			{advance: time.Millisecond, check: a, wantBlocked: false},
		}},
		{"capped at max delay", []step{
			{fail: a}, {fail: a}, {fail: a}, {fail: a}, {fail: a}, {fail: a}, {fail: a}, {fail: a}, {fail: a}, {fail: a},
			{advance: time.Minute - time.Millisecond, check: a, wantBlocked: true},
			{advance: time.Millisecond, check: a, wantBlocked: false},
		}},
		{"success clears", []step{
			{fail: a}, {fail: a}, {fail: a}, {ok: a, check: a, wantBlocked: false},
			{fail: a}, {check: a, wantBlocked: false},
		}},
		{"window restarts the count", []step{
			{fail: a}, {fail: a}, {advance: 16 * time.Minute, fail: a}, {check: a, wantBlocked: false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &testClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
			thr := newThrottle(3, 15*time.Minute, time.Minute, 100, clk.Now)
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				if s.fail != none {
					thr.fail(s.fail)
				}
				if s.ok != none {
					thr.succeed(s.ok)
				}
				if s.check != none {
					if got := thr.wait(s.check) > 0; got != s.wantBlocked {
						t.Fatalf("step %d: wait(%v) > 0 = %v, want %v", i, s.check, got, s.wantBlocked)
					}
				}
			}
		})
	}
}

func TestThrottleBounded(t *testing.T) {
	thr := newThrottle(3, time.Minute, time.Minute, 10, nil)
	for i := range 1000 {
		thr.fail(throttleKey("192.0.2.1:1", string(rune('A'+i%26))+string(rune('a'+i/26))))
	}
	if n := thr.len(); n != 10 {
		t.Fatalf("%d pairs held, want 10", n)
	}
}

// TestThrottleThroughServer: after three wrong PINs the fourth attempt of
// the same (client, account) is held for the backoff, then checked like any
// other: it reaches the backend (so lockout counts stay exact) and the right
// PIN works and clears the pair. Another account from the same client is
// never held.
func TestThrottleThroughServer(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	var srv *Server
	e := newEnv(t, func(s *Server) {
		s.ThrottleAfter = 3
		s.throttleNow = clk.Now
		srv = s
	})
	c := e.dial()
	for range 3 {
		if err := c.Bind(personDN("CU1234567"), "wrong-pin-000"); code(err) != ldap.LDAPResultInvalidCredentials {
			t.Fatalf("wrong PIN: %v", err)
		}
	}
	thr := srv.throttle()
	var held pairKey
	for _, k := range thr.pairs.Keys() {
		if k.id == "CU1234567" {
			held = k
		}
	}
	if thr.wait(held) <= 0 {
		t.Fatalf("after three failures the pair is not held")
	}
	// Another account from the same client is not slowed down.
	if k := (pairKey{addr: held.addr, id: "CITYU5012345"}); thr.wait(k) != 0 {
		t.Fatalf("another account from the same client is held")
	}
	if err := c.Bind(personDN("CITYU5012345"), "other-pin-456"); err != nil {
		t.Fatalf("other account: %v", err)
	}
	calls := e.pin.authCalls.Load()
	if err := c.Bind(personDN("CU1234567"), "right-pin-123"); err != nil {
		t.Fatalf("held bind with the right PIN: %v", err)
	}
	if got := e.pin.authCalls.Load(); got != calls+1 {
		t.Fatalf("held bind did not reach the backend (%d calls, want %d)", got, calls+1)
	}
	if thr.wait(held) != 0 {
		t.Fatalf("a success did not clear the pair")
	}
	if err := c.Bind(personDN("CU1234567"), "wrong-pin-000"); code(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("wrong PIN after success: %v", err)
	}
	if err := c.Bind(personDN("CU1234567"), "right-pin-123"); err != nil {
		t.Fatalf("one failure after a success must not throttle: %v", err)
	}
}

func TestSetThrottleWhileServing(t *testing.T) {
	s := &Server{}
	if s.throttle() != nil {
		t.Fatal("throttle on with ThrottleAfter 0")
	}
	s.SetThrottle(2, time.Minute)
	thr := s.throttle()
	if thr == nil {
		t.Fatal("SetThrottle(2) left the throttle off")
	}
	k := throttleKey("192.0.2.1:5", "CU1")
	thr.fail(k)
	if thr.wait(k) != 0 {
		t.Fatal("held after one failure with after=2")
	}
	thr.fail(k)
	if thr.wait(k) == 0 {
		t.Fatal("not held after two failures with after=2")
	}
	s.SetThrottle(0, 0)
	if s.throttle() != nil {
		t.Fatal("SetThrottle(0) left the throttle on")
	}
}
