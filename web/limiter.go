package web

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// limiter counts failed attempts per client address (IPv6: per /64) in a
// fixed window. Its memory is bounded: when it holds max addresses, expired
// ones are dropped, and if none has expired the oldest window is evicted.
type limiter struct {
	mu     sync.Mutex
	max    int           // failures allowed per window
	window time.Duration // length of a window
	cap    int           // addresses kept at most
	now    func() time.Time
	m      map[string]*slot
}

type slot struct {
	n     int
	start time.Time
}

func newLimiter(max int, window time.Duration, capacity int, now func() time.Time) *limiter {
	return &limiter{max: max, window: window, cap: capacity, now: now, m: map[string]*slot{}}
}

// addrKey is the throttling key of a RemoteAddr: the IP, or the /64 of an
// IPv6 address (one host usually has a whole /64).
func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// blocked reports whether key has used up its failures, and how long until
// its window ends.
func (l *limiter) blocked(key string) (bool, time.Duration) {
	if l.max <= 0 {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.m[key]
	if !ok {
		return false, 0
	}
	left := s.start.Add(l.window).Sub(l.now())
	if left <= 0 {
		delete(l.m, key)
		return false, 0
	}
	return s.n >= l.max, left
}

// fail counts one failed attempt of key.
func (l *limiter) fail(key string) {
	if l.max <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	s, ok := l.m[key]
	if ok && now.Sub(s.start) >= l.window {
		s.n, s.start = 0, now
	}
	if !ok {
		if len(l.m) >= l.cap {
			l.makeRoom(now)
		}
		s = &slot{start: now}
		l.m[key] = s
	}
	s.n++
}

// makeRoom drops expired entries, or else the oldest one.
func (l *limiter) makeRoom(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, s := range l.m {
		if now.Sub(s.start) >= l.window {
			delete(l.m, k)
			continue
		}
		if oldest == "" || s.start.Before(oldestAt) {
			oldest, oldestAt = k, s.start
		}
	}
	if len(l.m) >= l.cap && oldest != "" {
		delete(l.m, oldest)
	}
}

// size is the number of addresses held (tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
