package proxy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

// TestAuthenticate: the console's password check routes, normalises and
// asks the backend like a bind; a wrong password feeds the same (client,
// ID) throttle as LDAP binds, and a throttled attempt comes back at once,
// unchecked, with the wait; an unavailable backend is an error, never a
// wrong password; every attempt is reported to the Observer under the
// caller's op name.
func TestAuthenticate(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	rec := &recordingObserver{}
	e := newEnv(t, func(s *Server) {
		s.ThrottleAfter = 2
		s.throttleNow = clk.Now
		s.Observer = rec
	})
	ctx := context.Background()
	const desk = "10.0.0.7:50000"

	l, ok, err := e.srv.Authenticate(ctx, "staff_login", "JChan", "portal-pw", desk)
	if err != nil || !ok || l.ID != "jchan" || l.Route != "campus" || l.Backend != "campus" || l.Result.Entry == nil || l.Result.Entry.Category != "staff" {
		t.Fatalf("right password: %+v ok=%v err=%v", l, ok, err)
	}
	for _, pw := range []string{"", "nope"} {
		if _, ok, err := e.srv.Authenticate(ctx, "staff_login", "jchan", pw, desk); ok || err != nil {
			t.Fatalf("password %q: ok=%v err=%v", pw, ok, err)
		}
	}
	if l, ok, _ := e.srv.Authenticate(ctx, "staff_login", "!!", "x", desk); ok || l.Route != "" || l.Result.Reason != backend.ReasonNoRoute {
		t.Fatalf("no route: %+v", l)
	}
	// Two failures of one (desk, ID) pair hold it (ThrottleAfter 2), with
	// the same throttle LDAP binds use.
	calls := e.campus.authCalls.Load()
	if _, ok, _ := e.srv.Authenticate(ctx, "staff_login", "jchan", "nope-again", desk); ok {
		t.Fatal("wrong password accepted")
	}
	l, ok, err = e.srv.Authenticate(ctx, "staff_login", "jchan", "portal-pw", desk)
	if ok || err != nil || l.Wait <= 0 {
		t.Fatalf("throttled attempt: %+v ok=%v err=%v", l, ok, err)
	}
	if got := e.campus.authCalls.Load(); got != calls+1 {
		t.Fatalf("a throttled attempt reached the backend (%d calls, want %d)", got, calls+1)
	}
	// Another desk is not held; after the wait the right password works.
	if _, ok, _ := e.srv.Authenticate(ctx, "staff_login", "jchan", "portal-pw", "10.0.0.8:1"); !ok {
		t.Fatal("another client address is held")
	}
	clk.Advance(l.Wait)
	if _, ok, _ := e.srv.Authenticate(ctx, "staff_login", "jchan", "portal-pw", desk); !ok {
		t.Fatal("the right password after the wait")
	}
	e.campus.authErr = backend.ErrUnavailable
	if _, ok, err := e.srv.Authenticate(ctx, "staff_login", "jchan", "portal-pw", desk); ok || !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("unavailable backend: ok=%v err=%v", ok, err)
	}
	evs, _, _ := rec.snapshot()
	var codes []int
	for _, ev := range evs {
		if ev.Op != "staff_login" || ev.Client != desk && ev.Client != "10.0.0.8:1" {
			t.Errorf("event %+v", ev)
		}
		codes = append(codes, ev.Code)
	}
	want := []int{0, 49, 49, 49, 49, 49, 0, 0, ldap.LDAPResultUnavailable}
	if len(codes) != len(want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes %v, want %v", codes, want)
		}
	}
	if evs[5].Throttled <= 0 {
		t.Errorf("the throttled attempt's event has no wait: %+v", evs[5])
	}
	if id, ok := e.srv.PersonID("uid=JChan,ou=people," + testSuffix); !ok || id != "JChan" {
		t.Errorf("PersonID(DN) = %q %v", id, ok)
	}
	if _, ok := e.srv.PersonID(serviceDN("ils")); ok {
		t.Error("PersonID accepts a service account")
	}
}

// TestOnlyAuthenticateAsksForTheEntry: an LDAP bind reads nothing of the
// backend's entry and says so (Credentials.NoEntry, so that the cache does
// not unpack it on a hit); Authenticate hands the entry to its caller (the
// web console) and asks for it.
func TestOnlyAuthenticateAsksForTheEntry(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.dial().Bind("jchan", "portal-pw"); err != nil {
		t.Fatal(err)
	}
	if !e.campus.lastNoEntry.Load() {
		t.Error("an LDAP bind asked the backend for the entry")
	}
	l, ok, err := e.srv.Authenticate(context.Background(), "staff_login", "jchan", "portal-pw", "10.0.0.7:1")
	if !ok || err != nil || l.Result.Entry == nil {
		t.Fatalf("Authenticate: %+v %v %v", l, ok, err)
	}
	if e.campus.lastNoEntry.Load() {
		t.Error("Authenticate told the backend its entry was not needed")
	}
}
