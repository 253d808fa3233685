package hashpool

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
)

// blocker occupies workers until released.
type blocker struct {
	release chan struct{}
	wg      sync.WaitGroup
}

// occupy starts n calls that hold their worker until b.stop.
func occupy(t *testing.T, p *Pool, n int) *blocker {
	t.Helper()
	b := &blocker{release: make(chan struct{})}
	started := make(chan struct{}, n)
	for range n {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := p.Do(context.Background(), "192.0.2.99:1", func() { started <- struct{}{}; <-b.release }); err != nil {
				t.Errorf("occupying Do: %v", err)
			}
		}()
	}
	for range n {
		<-started
	}
	return b
}

func (b *blocker) stop() {
	close(b.release)
	b.wg.Wait()
}

// waitFor spins until cond holds (the pool's state is reached by other
// goroutines), failing after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// TestAdmissionByExpectedWait: with one worker busy and calls estimated at
// 100 ms, callers are admitted while (ahead+1) × 100 ms fits in MaxWait
// 250 ms: two wait, the third is refused at once, without running, and
// counted.
func TestAdmissionByExpectedWait(t *testing.T) {
	p := NewWith(Options{Workers: 1, MaxWait: 250 * time.Millisecond, Estimate: 100 * time.Millisecond})
	b := occupy(t, p, 1)
	if got := p.ExpectedWait("10.0.0.1:5"); got != 100*time.Millisecond {
		t.Fatalf("expected wait with the worker busy = %v, want 100ms", got)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- p.Do(context.Background(), "10.0.0.1:5", func() {})
		}()
		waitFor(t, "a waiter", func() bool { return p.Stats().Waiting == i+1 })
	}
	if got := p.ExpectedWait("10.0.0.1:5"); got != 300*time.Millisecond {
		t.Fatalf("expected wait behind two = %v, want 300ms", got)
	}
	if err := p.Admit(context.Background(), "10.0.0.1:5"); !errors.Is(err, backend.ErrBusy) {
		t.Fatalf("Admit = %v, want ErrBusy", err)
	}
	ran := false
	if err := p.Do(context.Background(), "10.0.0.1:5", func() { ran = true }); !errors.Is(err, backend.ErrBusy) || ran {
		t.Fatalf("third Do = %v (ran %v), want ErrBusy without running", err, ran)
	}
	if s := p.Stats(); s.Refused != 2 || s.Waiting != 2 || s.Running != 1 || s.Clients != 1 {
		t.Fatalf("stats = %+v, want 2 refused (Admit and Do), 2 waiting, 1 running, 1 client", s)
	}
	b.stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("admitted Do = %v", err)
		}
	}
	if s := p.Stats(); s.Running != 0 || s.Waiting != 0 || s.Clients != 0 {
		t.Errorf("after: %+v, want nothing running or waiting", s)
	}
}

// TestRoundRobinByClient: callers of a client with a backlog and of a
// newcomer are served in turn, each client's own in order; the
// newcomer's expected wait counts one turn of the backlog, not all of it.
func TestRoundRobinByClient(t *testing.T) {
	p := NewWith(Options{Workers: 1, MaxWait: time.Hour, Estimate: 10 * time.Millisecond})
	b := occupy(t, p, 1)
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	enqueue := func(client, name string) {
		n := p.Stats().Waiting
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Do(context.Background(), client, func() { mu.Lock(); order = append(order, name); mu.Unlock() }); err != nil {
				t.Errorf("Do %s: %v", name, err)
			}
		}()
		waitFor(t, name+" waiting", func() bool { return p.Stats().Waiting == n+1 })
	}
	for _, n := range []string{"a1", "a2", "a3", "a4", "a5"} {
		enqueue("10.0.0.1:40000", n)
	}
	// Five of A wait: B's first call has one of A's turns ahead of it.
	if got := p.ExpectedWait("10.0.0.2:1"); got != 20*time.Millisecond {
		t.Errorf("newcomer's expected wait = %v, want 20ms (one of A's, then its own)", got)
	}
	if got := p.ExpectedWait("10.0.0.1:40001"); got != 60*time.Millisecond {
		t.Errorf("A's next expected wait = %v, want 60ms (its five, then its own)", got)
	}
	enqueue("10.0.0.2:1", "b1")
	enqueue("10.0.0.2:2", "b2")
	enqueue("[2001:db8::1]:389", "c1")
	enqueue("[2001:db8::2]:389", "c2") // the same /64 as c1
	b.stop()
	wg.Wait()
	want := []string{"a1", "b1", "c1", "a2", "b2", "c2", "a3", "a4", "a5"}
	if len(order) != len(want) {
		t.Fatalf("order = %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order = %v, want %v", order, want)
		}
	}
}

func TestNoWaitingWhenMaxWaitNegative(t *testing.T) {
	p := NewWith(Options{Workers: 1, MaxWait: -1})
	b := occupy(t, p, 1)
	defer b.stop()
	if err := p.Do(context.Background(), "", func() { t.Error("ran") }); !errors.Is(err, backend.ErrBusy) {
		t.Fatalf("Do with every worker busy and no waiting = %v, want ErrBusy", err)
	}
}

// TestDeadlines: a call that cannot finish before its context's deadline
// is refused at once; one admitted whose deadline passes while it waits
// gets ErrBusy (hashing was too busy), counted; a cancelled one gets
// ErrUnavailable and Canceled, not counted as refused.
func TestDeadlines(t *testing.T) {
	p := NewWith(Options{Workers: 1, MaxWait: time.Hour, Estimate: 200 * time.Millisecond})
	b := occupy(t, p, 1)
	defer b.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Do(ctx, "", func() {}); !errors.Is(err, backend.ErrBusy) || ctx.Err() != nil {
		t.Fatalf("Do that cannot make its deadline = %v (context: %v), want ErrBusy before the deadline", err, ctx.Err())
	}

	p.Configure(Options{Workers: 1, MaxWait: time.Hour}) // keeps the 200 ms estimate
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if err := p.Do(ctx2, "", func() { t.Error("ran after its deadline") }); !errors.Is(err, backend.ErrBusy) {
		t.Fatalf("Do whose deadline passed while waiting = %v, want ErrBusy", err)
	}
	if got := p.Stats().Refused; got != 2 {
		t.Errorf("Refused = %d, want 2", got)
	}

	ctx3, cancel3 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Do(ctx3, "", func() { t.Error("ran after cancel") }) }()
	waitFor(t, "the waiter", func() bool { return p.Stats().Waiting == 1 })
	cancel3()
	if err := <-done; !errors.Is(err, backend.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Do = %v, want ErrUnavailable and Canceled", err)
	}
	if s := p.Stats(); s.Refused != 2 || s.Waiting != 0 || s.Clients != 0 {
		t.Errorf("after the cancel: %+v, want 2 refused and nobody waiting", s)
	}
}

// TestConfigureAndClose: more workers start waiting callers at once;
// Close refuses the waiting and later callers with ErrUnavailable.
func TestConfigureAndClose(t *testing.T) {
	p := NewWith(Options{Workers: 1, MaxWait: time.Hour})
	b := occupy(t, p, 1)
	started := make(chan struct{})
	release := make(chan struct{})
	second := make(chan error, 1)
	go func() { second <- p.Do(context.Background(), "10.0.0.1:1", func() { close(started); <-release }) }()
	waitFor(t, "the waiter", func() bool { return p.Stats().Waiting == 1 })
	p.Configure(Options{Workers: 2, MaxWait: time.Hour})
	<-started
	if s := p.Stats(); s.Workers != 2 || s.Running != 2 {
		t.Fatalf("after two workers: %+v", s)
	}
	waiter := make(chan error, 1)
	go func() { waiter <- p.Do(context.Background(), "10.0.0.3:1", func() { t.Error("ran after Close") }) }()
	waitFor(t, "the third caller", func() bool { return p.Stats().Waiting == 1 })
	p.Close()
	p.Close()
	if err := <-waiter; !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("waiter at Close = %v, want ErrUnavailable", err)
	}
	if err := p.Do(context.Background(), "", func() { t.Error("ran after Close") }); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Do after Close = %v", err)
	}
	close(release)
	b.stop()
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Running != 0 {
		t.Fatalf("running after everything returned: %d", s.Running)
	}
}

// TestPanicFreesTheWorker: a panicking function reaches its caller and
// its worker is free again.
func TestPanicFreesTheWorker(t *testing.T) {
	p := New(1)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the function's panic", r)
			}
		}()
		_ = p.Do(context.Background(), "", func() { panic("boom") })
		t.Error("Do returned after a panic")
	}()
	if s := p.Stats(); s.Running != 0 {
		t.Fatalf("a panic left %d running", s.Running)
	}
	if err := p.Do(context.Background(), "", func() {}); err != nil {
		t.Fatal(err)
	}
}

// TestEstimateFollowsTheCalls: the estimate moves from the assumed one to
// the median of the measured calls, and one slow call does not move it.
func TestEstimateFollowsTheCalls(t *testing.T) {
	p := NewWith(Options{Workers: 1, Estimate: time.Second})
	for range 40 {
		if err := p.Do(context.Background(), "", func() { time.Sleep(time.Millisecond) }); err != nil {
			t.Fatal(err)
		}
	}
	if est := p.Stats().Estimate; est > 100*time.Millisecond || est < time.Millisecond {
		t.Fatalf("estimate after 40 calls of ~1 ms = %v", est)
	}
	// One slow call (a first touch of a work area, a GC) does not move it.
	if err := p.Do(context.Background(), "", func() { time.Sleep(300 * time.Millisecond) }); err != nil {
		t.Fatal(err)
	}
	if est := p.Stats().Estimate; est > 100*time.Millisecond {
		t.Fatalf("estimate after one slow call = %v, want the median of the recent ones", est)
	}
}

// TestExtraProcs: GOMAXPROCS grows by the workers while the pool is
// open, follows Configure, and is given back by Close.
func TestExtraProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	p := NewWith(Options{Workers: 2, ExtraProcs: true})
	if got := runtime.GOMAXPROCS(0); got != before+2 {
		t.Fatalf("GOMAXPROCS with the pool open = %d, want %d", got, before+2)
	}
	p.Configure(Options{Workers: 3, ExtraProcs: true})
	if got := runtime.GOMAXPROCS(0); got != before+3 {
		t.Fatalf("after Configure(3) = %d, want %d", got, before+3)
	}
	p.Close()
	p.Close()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("after Close = %d, want %d", got, before)
	}
	q := New(2) // without ExtraProcs nothing changes
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("a pool without ExtraProcs changed GOMAXPROCS to %d", got)
	}
	q.Close()
}

func TestNilAndDefaults(t *testing.T) {
	var p *Pool
	ran := false
	if err := p.Do(context.Background(), "", func() { ran = true }); err != nil || !ran {
		t.Fatalf("nil pool: %v, ran %v", err, ran)
	}
	if err := p.Admit(context.Background(), ""); err != nil {
		t.Fatalf("nil pool Admit: %v", err)
	}
	p.Close()
	p.Configure(Options{})
	s := New(0).Stats()
	if s.Workers != runtime.NumCPU() || s.MaxWait != DefaultMaxWait || s.Estimate != DefaultEstimate {
		t.Fatalf("defaults: %+v", s)
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.0.7:51234", "10.0.0.7"},
		{"10.0.0.7", "10.0.0.7"},
		{"[::ffff:10.0.0.7]:389", "10.0.0.7"},
		{"[2001:db8:1:2:3:4:5:6]:389", "2001:db8:1:2::"},
		{"2001:db8:1:2::9", "2001:db8:1:2::"},
		{"2001:db8:1:2::/64", "2001:db8:1:2::"},
		{"pipe", "invalid IP"},
		{"", "invalid IP"},
	}
	for _, tc := range tests {
		if got := ClientKey(tc.in).String(); got != tc.want {
			t.Errorf("ClientKey(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if ClientKey("pipe") != (netip.Addr{}) {
		t.Error("an unparsable address must give the zero key")
	}
}
