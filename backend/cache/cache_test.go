package cache

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
)

// step is one action in a scenario: a bind (id, pw) with what it must give,
// or a change made to the backend or the clock before it.
type step struct {
	do         func(f *fakeBackend, clk *fakeClock) // optional, before the bind
	id, pw     string
	wantOK     bool
	wantCached bool
	wantErr    error // errors.Is target
	wantReason backend.Reason
	wantCalls  int64 // backend calls so far, after this step
}

func runSteps(t *testing.T, opts Options, steps []step) {
	t.Helper()
	f := newFake()
	clk := &fakeClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	opts.Now = clk.Now
	c := New("fake", f, opts)
	for i, s := range steps {
		if s.do != nil {
			s.do(f, clk)
		}
		if s.id == "" {
			continue
		}
		res, ok, err := c.Authenticate(context.Background(), backend.Credentials{ID: s.id, Password: s.pw, ClientAddr: "192.0.2.1"})
		switch {
		case s.wantErr != nil && !errors.Is(err, s.wantErr):
			t.Fatalf("step %d (%s): err = %v, want %v", i, s.id, err, s.wantErr)
		case s.wantErr == nil && err != nil:
			t.Fatalf("step %d (%s): err = %v", i, s.id, err)
		case ok != s.wantOK || res.Cached != s.wantCached:
			t.Fatalf("step %d (%s): ok=%v cached=%v, want ok=%v cached=%v (%+v)", i, s.id, ok, res.Cached, s.wantOK, s.wantCached, res)
		case s.wantReason != "" && res.Reason != s.wantReason:
			t.Fatalf("step %d (%s): reason %q, want %q", i, s.id, res.Reason, s.wantReason)
		case f.calls.Load() != s.wantCalls:
			t.Fatalf("step %d (%s): %d backend calls, want %d", i, s.id, f.calls.Load(), s.wantCalls)
		}
	}
}

const (
	right = "Right-pin-1"
	wrong = "Wrong-pin-1"
)

func TestScenarios(t *testing.T) {
	lock := func(f *fakeBackend, _ *fakeClock) {
		f.change("CU1", func() { f.state["CU1"] = backend.ReasonLocked })
	}
	unlock := func(f *fakeBackend, _ *fakeClock) {
		f.change("CU1", func() { delete(f.state, "CU1") })
	}
	pinChange := func(f *fakeBackend, _ *fakeClock) {
		f.change("CU1", func() { f.passwords["CU1"] = "New-pin-2026" })
	}
	advance := func(d time.Duration) func(*fakeBackend, *fakeClock) {
		return func(_ *fakeBackend, clk *fakeClock) { clk.Advance(d) }
	}
	down := func(f *fakeBackend, _ *fakeClock) { f.mu.Lock(); f.down = true; f.mu.Unlock() }
	tests := []struct {
		name  string
		opts  Options
		steps []step
	}{
		{"hit after success", Options{}, []step{
			{id: "CU1", pw: right, wantOK: true, wantCalls: 1},
			{id: "CU1", pw: right, wantOK: true, wantCached: true, wantCalls: 1},
			{id: "CU1", pw: right, wantOK: true, wantCached: true, wantCalls: 1},
		}},
		{"a different password goes to the backend", Options{}, []step{
			{id: "CU1", pw: right, wantOK: true, wantCalls: 1},
			{id: "CU1", pw: wrong, wantReason: backend.ReasonBadCredentials, wantCalls: 2},
			{id: "CU1", pw: right, wantOK: true, wantCached: true, wantCalls: 2},
		}},
		{"a new password the cache has not seen succeeds", Options{}, []step{
			{id: "CU1", pw: right, wantOK: true, wantCalls: 1},
			{do: func(f *fakeBackend, _ *fakeClock) { f.passwords["CU1"] = "Campus-new-1" }}, // upstream change, no invalidation
			{id: "CU1", pw: "Campus-new-1", wantOK: true, wantCalls: 2},
			{id: "CU1", pw: "Campus-new-1", wantOK: true, wantCached: true, wantCalls: 2},
		}},
		{"PIN change invalidates at once", Options{}, []step{
			{id: "CU1", pw: right, wantOK: true, wantCalls: 1},
			{do: pinChange, id: "CU1", pw: right, wantReason: backend.ReasonBadCredentials, wantCalls: 2},
			{id: "CU1", pw: "New-pin-2026", wantOK: true, wantCalls: 3},
		}},
		{"lock invalidates, unlock works", Options{}, []step{
			{id: "CU1", pw: right, wantOK: true, wantCalls: 1},
			{do: lock, id: "CU1", pw: right, wantReason: backend.ReasonLocked, wantCalls: 2},
			// The same PIN again is answered like any repeated failure.
			{id: "CU1", pw: right, wantCached: true, wantReason: backend.ReasonLocked, wantCalls: 2},
			{do: unlock, id: "CU1", pw: right, wantOK: true, wantCalls: 3}, // the unlock dropped the entry
		}},
		{"a state that ends by itself is seen within negative_ttl", Options{NegativeTTL: 30 * time.Second}, []step{
			{do: func(f *fakeBackend, _ *fakeClock) { f.state["CU1"] = backend.ReasonPending }, id: "CU1", pw: right, wantReason: backend.ReasonPending, wantCalls: 1},
			{do: func(f *fakeBackend, _ *fakeClock) { delete(f.state, "CU1") }, id: "CU1", pw: right, wantCached: true, wantReason: backend.ReasonPending, wantCalls: 1},
			{do: advance(31 * time.Second), id: "CU1", pw: right, wantOK: true, wantCalls: 2},
		}},
		{"ttl", Options{TTL: time.Minute}, []step{
			{id: "CU1", pw: right, wantOK: true, wantCalls: 1},
			{do: advance(59 * time.Second), id: "CU1", pw: right, wantOK: true, wantCached: true, wantCalls: 1},
			{do: advance(2 * time.Second), id: "CU1", pw: right, wantOK: true, wantCalls: 2},
		}},
		{"negative cache answers the same wrong password", Options{NegativeTTL: 30 * time.Second}, []step{
			{id: "CU1", pw: wrong, wantReason: backend.ReasonBadCredentials, wantCalls: 1},
			{id: "CU1", pw: wrong, wantCached: true, wantReason: backend.ReasonBadCredentials, wantCalls: 1},
			{id: "CU1", pw: wrong, wantCached: true, wantReason: backend.ReasonBadCredentials, wantCalls: 1},
			{id: "CU1", pw: "Other-wrong1", wantReason: backend.ReasonBadCredentials, wantCalls: 2},
			{id: "CU1", pw: right, wantOK: true, wantCalls: 3}, // the right one bypasses it
			{do: advance(31 * time.Second), id: "CU1", pw: wrong, wantReason: backend.ReasonBadCredentials, wantCalls: 4},
		}},
		{"negative cache for an unknown user", Options{}, []step{
			{id: "NOPE", pw: wrong, wantReason: backend.ReasonUnknownUser, wantCalls: 1},
			{id: "NOPE", pw: wrong, wantCached: true, wantReason: backend.ReasonUnknownUser, wantCalls: 1},
		}},
		{"negative cache cleared by invalidation", Options{}, []step{
			{id: "CU1", pw: "New-pin-2026", wantReason: backend.ReasonBadCredentials, wantCalls: 1},
			{do: pinChange, id: "CU1", pw: "New-pin-2026", wantOK: true, wantCalls: 2},
		}},
		{"negative cache off", Options{NegativeTTL: -1}, []step{
			{id: "CU1", pw: wrong, wantCalls: 1},
			{id: "CU1", pw: wrong, wantCalls: 2},
		}},
		{"serve stale while down", Options{TTL: time.Minute, ServeStaleFor: time.Hour}, []step{
			{id: "CU1", pw: right, wantOK: true, wantCalls: 1},
			{do: advance(10 * time.Minute)},
			{do: down, id: "CU1", pw: right, wantOK: true, wantCached: true, wantCalls: 2},
			{id: "CU1", pw: wrong, wantErr: backend.ErrUnavailable, wantCalls: 3},
			{id: "CU2", pw: "Right-pin-2", wantErr: backend.ErrUnavailable, wantCalls: 4},
			{do: advance(time.Hour), id: "CU1", pw: right, wantErr: backend.ErrUnavailable, wantCalls: 5},
		}},
		{"no stale without serve_stale_for", Options{TTL: time.Minute}, []step{
			{id: "CU1", pw: right, wantOK: true, wantCalls: 1},
			{do: advance(2 * time.Minute)},
			{do: down, id: "CU1", pw: right, wantErr: backend.ErrUnavailable, wantCalls: 2},
		}},
		{"stale entry dropped when its password fails", Options{TTL: time.Minute, ServeStaleFor: time.Hour}, []step{
			{id: "CU1", pw: right, wantOK: true, wantCalls: 1},
			{do: func(f *fakeBackend, clk *fakeClock) {
				clk.Advance(2 * time.Minute)
				f.passwords["CU1"] = "Campus-new-1"
			}},
			{id: "CU1", pw: right, wantReason: backend.ReasonBadCredentials, wantCalls: 2},
			{do: down, id: "CU1", pw: right, wantCached: true, wantReason: backend.ReasonBadCredentials, wantCalls: 2}, // negative hit
			{do: advance(time.Minute), id: "CU1", pw: right, wantErr: backend.ErrUnavailable, wantCalls: 3},
		}},
		{"must change is not cached", Options{}, []step{
			{do: func(f *fakeBackend, _ *fakeClock) { f.mustChg["CU1"] = true }},
			{id: "CU1", pw: right, wantOK: true, wantCalls: 1},
			{id: "CU1", pw: right, wantOK: true, wantCalls: 2},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, tc.opts, tc.steps) })
	}
}

// TestSingleflight: 100 identical concurrent binds make one backend call.
func TestSingleflight(t *testing.T) {
	f := newFake()
	gate := make(chan struct{})
	f.gate = gate
	c := New("fake", f, Options{})
	const n = 100
	var wg sync.WaitGroup
	var okCount, cached int64
	var mu sync.Mutex
	started := make(chan struct{}, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started <- struct{}{}
			res, ok, err := c.Authenticate(context.Background(), backend.Credentials{ID: "CU1", Password: right})
			mu.Lock()
			defer mu.Unlock()
			if err == nil && ok {
				okCount++
			}
			if res.Cached {
				cached++
			}
		}()
	}
	for range n {
		<-started
	}
	// Wait until the one call is in the backend and every other caller
	// has joined it (or, having started late, will hit the cache).
	for f.waiting.Load() < 1 || c.joined.Load() < n {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("%d backend calls for %d identical binds, want 1", got, n)
	}
	if okCount != n {
		t.Fatalf("%d of %d succeeded", okCount, n)
	}
	if s := c.Stats(); s.Coalesced != n-1 {
		t.Errorf("Coalesced = %d, want %d", s.Coalesced, n-1)
	}
}

// TestSingleflightKeepsPasswordsApart: concurrent binds with different
// passwords never share an answer.
func TestSingleflightKeepsPasswordsApart(t *testing.T) {
	f := newFake()
	gate := make(chan struct{})
	f.gate = gate
	c := New("fake", f, Options{})
	type answer struct{ ok bool }
	pws := []string{right, wrong, right, wrong}
	got := make([]answer, len(pws))
	var wg sync.WaitGroup
	for i, pw := range pws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, _ := c.Authenticate(context.Background(), backend.Credentials{ID: "CU1", Password: pw})
			got[i] = answer{ok}
		}()
	}
	for c.joined.Load() < uint64(len(pws)) || f.waiting.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i, pw := range pws {
		if got[i].ok != (pw == right) {
			t.Errorf("bind %d with %q: ok=%v", i, pw, got[i].ok)
		}
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d backend calls, want 2 (one per distinct password)", n)
	}
}

// TestInvalidationDuringCall: an answer that may predate a change is not cached.
func TestInvalidationDuringCall(t *testing.T) {
	f := newFake()
	gate := make(chan struct{})
	f.gate = gate
	c := New("fake", f, Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Authenticate(context.Background(), backend.Credentials{ID: "CU1", Password: right})
	}()
	for f.waiting.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	c.Invalidate("CU1") // e.g. a PIN reset committed while the bind was checking
	close(gate)
	<-done
	f.mu.Lock()
	f.gate = nil
	f.mu.Unlock()
	_, _, _ = c.Authenticate(context.Background(), backend.Credentials{ID: "CU1", Password: right})
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d backend calls, want 2 (the first answer must not have been cached)", n)
	}
}

// TestCallerCancel: a caller whose context ends stops waiting; the shared
// call goes on for the others and is cached. When every caller has gone,
// the call itself is cancelled (a bind queued for hashing leaves the
// queue) and nothing is cached.
func TestCallerCancel(t *testing.T) {
	f := newFake()
	gate := make(chan struct{})
	f.gate = gate
	c := New("fake", f, Options{})
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	errc := make(chan error, 2)
	go func() {
		_, _, err := c.Authenticate(ctx1, backend.Credentials{ID: "CU1", Password: right})
		errc <- err
	}()
	for f.waiting.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	go func() {
		_, ok, err := c.Authenticate(ctx2, backend.Credentials{ID: "CU1", Password: right})
		if !ok && err == nil {
			err = errors.New("not ok")
		}
		errc <- err
	}()
	for c.joined.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel1()
	if err := <-errc; !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("cancelled caller: %v, want ErrUnavailable", err)
	}
	close(gate)
	if err := <-errc; err != nil {
		t.Fatalf("the caller still waiting: %v", err)
	}
	if c.Stats().Entries != 1 || f.calls.Load() != 1 {
		t.Fatalf("entries %d, calls %d: want the shared call cached once", c.Stats().Entries, f.calls.Load())
	}

	// Alone: the caller hangs up while the call waits; the call ends.
	f.mu.Lock()
	f.gate = make(chan struct{}) // never opened
	f.mu.Unlock()
	ctx3, cancel3 := context.WithCancel(context.Background())
	go func() {
		_, _, err := c.Authenticate(ctx3, backend.Credentials{ID: "CU2", Password: "Right-pin-2"})
		errc <- err
	}()
	for f.waiting.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel3()
	if err := <-errc; !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("cancelled caller: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.returned.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the backend call of a caller who left is still waiting")
		}
		time.Sleep(time.Millisecond)
	}
	if n := c.Stats().Entries; n != 1 {
		t.Fatalf("entries %d: the abandoned call must not be cached", n)
	}
}

func TestMaxEntries(t *testing.T) {
	f := newFake()
	for i := range 100 {
		f.passwords[idOf(i)] = right
	}
	c := New("fake", f, Options{MaxEntries: 10})
	for i := range 100 {
		if _, ok, err := c.Authenticate(context.Background(), backend.Credentials{ID: idOf(i), Password: right}); !ok || err != nil {
			t.Fatalf("bind %d: %v %v", i, ok, err)
		}
		if n := c.Stats().Entries; n > 10 {
			t.Fatalf("after %d binds: %d entries, want at most 10", i+1, n)
		}
	}
	if n := c.Stats().Entries; n != 10 {
		t.Fatalf("%d entries, want 10", n)
	}
}

func idOf(i int) string { return "CU" + strings.Repeat("9", 1+i%5) + string(rune('A'+i/5)) }

func TestLookupFromCache(t *testing.T) {
	f := newFake()
	c := New("fake", f, Options{})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "CU1"); err != nil || f.lookups.Load() != 1 {
		t.Fatalf("first lookup: %v, %d backend lookups", err, f.lookups.Load())
	}
	c.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: right})
	e, err := c.Lookup(ctx, "CU1")
	if err != nil || e == nil || e.ID != "CU1" || f.lookups.Load() != 1 {
		t.Fatalf("lookup after bind: %+v, %v, %d backend lookups", e, err, f.lookups.Load())
	}
}

// TestDropEntries: with DropEntries the cache still answers binds, but
// keeps no entry, so Lookup always asks the backend.
func TestDropEntries(t *testing.T) {
	for _, tc := range []struct {
		drop        bool
		wantLookups int64 // backend lookups after bind + Lookup
		wantEntry   bool  // a cached bind's Result carries the entry
	}{
		{false, 0, true},
		{true, 1, false},
	} {
		f := newFake()
		c := New("fake", f, Options{DropEntries: tc.drop})
		ctx := context.Background()
		cr := backend.Credentials{ID: "CU1", Password: right}
		c.Authenticate(ctx, cr)
		res, ok, err := c.Authenticate(ctx, cr)
		if !ok || err != nil || !res.Cached || f.calls.Load() != 1 {
			t.Fatalf("drop=%v: second bind %+v %v %v, %d backend calls", tc.drop, res, ok, err, f.calls.Load())
		}
		if (res.Entry != nil) != tc.wantEntry {
			t.Errorf("drop=%v: cached Result.Entry = %v", tc.drop, res.Entry)
		}
		e, err := c.Lookup(ctx, "CU1")
		if err != nil || e == nil || e.ID != "CU1" || f.lookups.Load() != tc.wantLookups {
			t.Errorf("drop=%v: Lookup = %+v, %v; %d backend lookups, want %d", tc.drop, e, err, f.lookups.Load(), tc.wantLookups)
		}
	}
}

// TestNoEntry: a hit for a caller that reads no entry (an LDAP bind)
// answers as any hit (ok, cached, the generation) without the entry; the
// next caller that wants the entry still gets it, and so does Lookup.
func TestNoEntry(t *testing.T) {
	f := newFake()
	c := New("fake", f, Options{})
	ctx := context.Background()
	cr := backend.Credentials{ID: "CU1", Password: right}
	first, ok, err := c.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: right, NoEntry: true})
	if !ok || err != nil || first.Cached || first.Entry == nil {
		t.Fatalf("first bind (a miss: the backend's answer, entry included): %+v %v %v", first, ok, err)
	}
	res, ok, err := c.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: right, NoEntry: true})
	if !ok || err != nil || !res.Cached || res.Entry != nil || res.Generation != first.Generation || f.calls.Load() != 1 {
		t.Fatalf("NoEntry hit: %+v %v %v, %d backend calls", res, ok, err, f.calls.Load())
	}
	res, ok, err = c.Authenticate(ctx, cr)
	if !ok || err != nil || !res.Cached || res.Entry == nil || res.Entry.ID != "CU1" || res.Entry.CommonName != "Chan" {
		t.Fatalf("hit wanting the entry: %+v %v %v", res, ok, err)
	}
	if _, ok, _ := c.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: wrong, NoEntry: true}); ok {
		t.Fatal("NoEntry: a wrong password succeeded")
	}
	if e, err := c.Lookup(ctx, "CU1"); err != nil || e == nil || e.CommonName != "Chan" || f.lookups.Load() != 0 {
		t.Fatalf("Lookup after NoEntry binds: %+v, %v, %d backend lookups", e, err, f.lookups.Load())
	}
}

// TestAsFindsCapabilitiesBehindTheCache: backend.As reaches the optional
// interfaces of the backend behind the cache, and the cache itself, and
// finds nothing the backend lacks.
func TestAsFindsCapabilitiesBehindTheCache(t *testing.T) {
	tests := []struct {
		name                 string
		next                 backend.Authenticator
		wantChanger, wantChk bool
	}{
		{"both", newFake(), true, true},
		{"neither", plain{newFake()}, false, false},
		{"changer", struct {
			backend.Authenticator
			backend.PasswordChanger
		}{newFake(), newFake()}, true, false},
		{"checker", struct {
			backend.Authenticator
			backend.PatronChecker
		}{newFake(), newFake()}, false, true},
	}
	for _, tc := range tests {
		var a backend.Authenticator = New("x", tc.next, Options{})
		_, isC := backend.As[backend.PasswordChanger](a)
		_, isP := backend.As[backend.PatronChecker](a)
		if isC != tc.wantChanger || isP != tc.wantChk {
			t.Errorf("%s: PasswordChanger %v PatronChecker %v, want %v %v", tc.name, isC, isP, tc.wantChanger, tc.wantChk)
		}
		if c, ok := backend.As[*Cache](a); !ok || c == nil {
			t.Errorf("%s: As found no cache", tc.name)
		}
	}
}

// TestChangePasswordInvalidates: a change through the changer found behind
// the cache drops the entry, because the backend tells the cache
// (backend.Invalidator), as every backend that changes passwords must.
func TestChangePasswordInvalidates(t *testing.T) {
	f := newFake()
	var a backend.Authenticator = New("x", f, Options{})
	ctx := context.Background()
	a.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: right})
	pc, ok := backend.As[backend.PasswordChanger](a)
	if !ok {
		t.Fatal("no PasswordChanger behind the cache")
	}
	if _, err := pc.ChangePassword(ctx, backend.PasswordChange{ID: "CU1", Old: right, New: "New-pin-2026"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: right}); ok {
		t.Fatal("old password still accepted after a change")
	}
}

func TestMACIsHMACSHA256(t *testing.T) {
	k := newMACKey()
	for _, pw := range []string{"", "a", "Library2026", strings.Repeat("x", 64), strings.Repeat("y", inlineMax), strings.Repeat("z", inlineMax+1)} {
		h := hmac.New(sha256.New, k.key[:])
		h.Write([]byte(pw))
		want := h.Sum(nil)
		got := k.sum(pw)
		if !hmac.Equal(got[:], want) {
			t.Errorf("len %d: mismatch", len(pw))
		}
	}
}

// TestInvalidateAll: the ID "" drops every positive and negative entry
// and keeps a call in flight out of the cache.
func TestInvalidateAll(t *testing.T) {
	f := newFake()
	c := New("fake", f, Options{NegativeTTL: time.Minute})
	ctx := context.Background()
	creds := []backend.Credentials{{ID: "CU1", Password: right}, {ID: "CU2", Password: "Right-pin-2"}}
	for _, cr := range creds {
		if _, ok, _ := c.Authenticate(ctx, cr); !ok {
			t.Fatalf("%s: first bind failed", cr.ID)
		}
	}
	c.Authenticate(ctx, backend.Credentials{ID: "CU4", Password: wrong})
	calls := f.calls.Load()
	c.Invalidate("")
	if n := c.Stats().Entries; n != 0 {
		t.Fatalf("%d entries after Invalidate(\"\"), want 0", n)
	}
	for _, cr := range creds {
		if res, ok, _ := c.Authenticate(ctx, cr); !ok || res.Cached {
			t.Fatalf("%s after Invalidate(\"\"): ok=%v cached=%v, want a backend call", cr.ID, ok, res.Cached)
		}
	}
	c.Authenticate(ctx, backend.Credentials{ID: "CU4", Password: wrong})
	if got := f.calls.Load() - calls; got != 3 {
		t.Fatalf("%d backend calls after Invalidate(\"\"), want 3 (negative entry dropped too)", got)
	}

	// A call in flight when everything is dropped is not cached.
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	c.Invalidate("CU1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: right})
	}()
	for f.waiting.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	c.Invalidate("")
	close(gate)
	<-done
	f.mu.Lock()
	f.gate = nil
	f.mu.Unlock()
	if res, _, _ := c.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: right}); res.Cached {
		t.Fatal("the answer of a call in flight during Invalidate(\"\") was cached")
	}
}

// TestRepeatedWrongPINAlikeForEveryState: the same wrong PIN twice is
// answered from the negative cache the second time whatever the account's
// state, with the reason of the first answer: an unknown ID and an active,
// locked, suspended, expired, pending, PIN-less or superseded account cost
// the same backend calls.
func TestRepeatedWrongPINAlikeForEveryState(t *testing.T) {
	states := []backend.Reason{"", backend.ReasonLocked, backend.ReasonSuspended, backend.ReasonExpired,
		backend.ReasonPending, backend.ReasonNoPIN, backend.ReasonSuperseded}
	f := newFake()
	c := New("fake", f, Options{})
	for i, st := range append(states, backend.ReasonUnknownUser) {
		id := fmt.Sprintf("CU%d", 100+i)
		want := st
		switch st {
		case "":
			f.passwords[id], want = "Right-pin-9", backend.ReasonBadCredentials
		case backend.ReasonUnknownUser:
		default:
			f.passwords[id] = "Right-pin-9"
			f.state[id] = st
		}
		before := f.calls.Load()
		for n := range 2 {
			res, ok, err := c.Authenticate(context.Background(), backend.Credentials{ID: id, Password: wrong})
			if ok || err != nil || res.Reason != want || res.Cached != (n == 1) {
				t.Fatalf("%s (%q) attempt %d: ok=%v err=%v %+v, want reason %q, cached the second time", id, st, n+1, ok, err, res, want)
			}
		}
		if got := f.calls.Load() - before; got != 1 {
			t.Fatalf("%s (%q): %d backend calls for the same wrong PIN twice, want 1", id, st, got)
		}
	}
}

// busyAtDeadline waits, like a bind queued for a hashing worker, until
// its context's deadline, then answers ErrBusy.
type busyAtDeadline struct{ *fakeBackend }

func (b busyAtDeadline) Authenticate(ctx context.Context, c backend.Credentials) (backend.Result, bool, error) {
	<-ctx.Done()
	return backend.Result{}, false, fmt.Errorf("hashpool: no hashing worker before the deadline: %w", backend.ErrBusy)
}

// TestDeadlineKeepsTheBackendsReason: a caller whose deadline passes gets
// the backend's own answer for it (51 for a bind still queued for
// hashing), not a generic unavailable.
func TestDeadlineKeepsTheBackendsReason(t *testing.T) {
	c := New("fake", busyAtDeadline{newFake()}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := c.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: right})
	if !errors.Is(err, backend.ErrBusy) || errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("at the deadline: %v, want the backend's ErrBusy", err)
	}
}

// untouchableCtx fails the test when anything waits on it or asks it
// whether it has ended.
type untouchableCtx struct {
	context.Context
	t *testing.T
}

func (c untouchableCtx) Done() <-chan struct{} {
	c.t.Error("a cache hit called ctx.Done")
	return c.Context.Done()
}

func (c untouchableCtx) Err() error {
	c.t.Error("a cache hit called ctx.Err")
	return c.Context.Err()
}

// TestHitLeavesContextAlone: a hit (positive or negative) answers without
// looking at its context. The proxy relies on it (proxy/lazyctx.go): the
// context of a bind's backend call is made real, with its timer, only when
// something waits on it, so a cached bind arms none.
func TestHitLeavesContextAlone(t *testing.T) {
	c := New("pins", newFake(), Options{TTL: time.Hour, NegativeTTL: time.Hour})
	ctx := context.Background()
	for _, pw := range []string{"Right-pin-1", "Wrong-pin-1"} {
		if _, _, err := c.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		pw   string
		good bool
	}{{"Right-pin-1", true}, {"Wrong-pin-1", false}} {
		res, good, err := c.Authenticate(untouchableCtx{ctx, t}, backend.Credentials{ID: "CU1", Password: tt.pw})
		if err != nil || good != tt.good || !res.Cached {
			t.Errorf("%s: good %v cached %v err %v", tt.pw, good, res.Cached, err)
		}
	}
}
