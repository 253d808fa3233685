package proxy

import (
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults of the throttle's zero values.
const (
	DefaultThrottleWindow   = 15 * time.Minute
	DefaultThrottleMaxDelay = time.Minute
	DefaultThrottlePairs    = 100000
)

// throttle slows down guessing by one client at one account. It is keyed by
// (client address, normalised ID), never by the client address alone:
// EZproxy and the ILS send every patron's bind from one address. After
// `after` failures of a pair within `window`, the pair must wait 1s, 2s,
// 4s... (at most maxDelay) after each further failure: an attempt during
// the wait is held until the wait is over and then checked as usual, like
// slapo-ppolicy's pwdMinDelay. Holding rather than refusing keeps the
// lockout count exact (every attempt reaches the store) while a guesser
// gets ever fewer tries per minute. A success clears the pair. Memory is
// bounded by an LRU of pairs; the held attempts are bounded by the
// connections, since a bind holds its connection.
type throttle struct {
	after    int
	window   time.Duration
	maxDelay time.Duration
	now      func() time.Time

	mu    sync.Mutex
	pairs *simplelru.LRU[pairKey, *pairState]
}

type pairKey struct {
	addr netip.Addr
	id   string
}

type pairState struct {
	failures int
	first    time.Time // first failure of the current window
	until    time.Time // attempts before this are refused
}

func newThrottle(after int, window, maxDelay time.Duration, pairs int, now func() time.Time) *throttle {
	if window <= 0 {
		window = DefaultThrottleWindow
	}
	if maxDelay <= 0 {
		maxDelay = DefaultThrottleMaxDelay
	}
	if pairs <= 0 {
		pairs = DefaultThrottlePairs
	}
	if now == nil {
		now = time.Now
	}
	l, _ := simplelru.NewLRU[pairKey, *pairState](pairs, nil) // only fails for size <= 0
	return &throttle{after: after, window: window, maxDelay: maxDelay, now: now, pairs: l}
}

// key makes the pair key; client is "host:port" (or a bare address).
func throttleKey(client, id string) pairKey {
	if ap, err := netip.ParseAddrPort(client); err == nil {
		return pairKey{addr: ap.Addr().Unmap(), id: id}
	}
	a, _ := netip.ParseAddr(client) // the zero Addr when unparsable (pipes in tests)
	return pairKey{addr: a.Unmap(), id: id}
}

// set changes the threshold (0: off) and, when window > 0, the window.
func (t *throttle) set(after int, window time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.after = after
	if window > 0 {
		t.window = window
	}
}

// off reports whether the throttle is turned off.
func (t *throttle) off() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.after <= 0
}

// wait returns how long the pair must still wait (0: go ahead).
func (t *throttle) wait(k pairKey) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.pairs.Peek(k)
	if !ok {
		return 0
	}
	if now.Sub(st.first) > t.window {
		t.pairs.Remove(k)
		return 0
	}
	if now.Before(st.until) {
		return st.until.Sub(now)
	}
	return 0
}

// fail counts a failed bind of the pair.
func (t *throttle) fail(k pairKey) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.pairs.Get(k)
	if !ok || now.Sub(st.first) > t.window {
		st = &pairState{first: now}
		t.pairs.Add(k, st)
	}
	st.failures++
	if n := st.failures - t.after; n >= 0 {
		delay := t.maxDelay
		if n < 30 {
			delay = min(time.Second<<n, t.maxDelay)
		}
		st.until = now.Add(delay)
	}
}

// succeed clears the pair.
func (t *throttle) succeed(k pairKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pairs.Remove(k)
}

// len is the number of pairs held (tests).
func (t *throttle) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pairs.Len()
}
