// Package hashpool bounds the CPU and memory that password hashing may
// use and decides, for each call, whether it may wait for a worker.
//
// At most Workers functions run at once (each on its caller's goroutine),
// so memory is bounded by the workers: a caller that waits holds a
// goroutine, not an argon2id work area. A caller is admitted to wait while
// its expected wait, computed from the callers ahead of it and the
// measured time of recent calls, fits in MaxWait; past that it is refused
// at once with an error wrapping backend.ErrBusy (LDAP 51 busy). Waiting
// callers are served round-robin by client address (an IPv4 address, or
// the /64 of an IPv6 one), so that a storm of wrong PINs from one address
// cannot push other addresses' logins past MaxWait.
//
// A nil *Pool runs every function inline, without a bound. See README.md.
package hashpool

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/backend"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxWait is the longest expected wait admitted. Net::LDAP,
	// Apache mod_ldap and JNDI wait 60 s or more for an answer by default;
	// 10 s keeps well inside that and inside what a patron at a login
	// page puts up with.
	DefaultMaxWait = 10 * time.Second
	// DefaultEstimate is the time of one call assumed before any call was
	// measured (about one argon2id verification with the OWASP minimum
	// parameters on a slow core). NewWith's callers usually measure one.
	DefaultEstimate = 50 * time.Millisecond
)

// Options configure NewWith. Zero values take the defaults.
type Options struct {
	// Workers is the most functions that run at once; 0 or less:
	// runtime.NumCPU().
	Workers int
	// MaxWait is the longest expected wait for which a caller is admitted
	// to wait for a worker; 0: DefaultMaxWait; less than 0: no waiting
	// (refuse as soon as every worker is busy).
	MaxWait time.Duration
	// Estimate is the time one call is assumed to take until a call has
	// been measured; 0: DefaultEstimate.
	Estimate time.Duration
	// ExtraProcs raises GOMAXPROCS by Workers while the pool is open (and
	// follows Configure). A goroutine running argon2id keeps its
	// processor for up to the Go scheduler's 10 ms time slice; with as
	// many processors again as workers, hashing never holds all of them,
	// the rest of the server runs on the others, and the kernel shares
	// the cores between the threads (docs/benchmarks.md: it halved the
	// p99 of cached binds under a storm on 2 cores).
	ExtraProcs bool
}

// Pool runs hashing functions with bounded concurrency, admitting waiting
// callers by their expected wait and serving them round-robin by client.
// It is safe for concurrent use.
type Pool struct {
	refused  atomic.Uint64
	maxWaitA atomic.Int64 // maxWait, for MaxWait without the lock

	mu      sync.Mutex
	workers int
	maxWait time.Duration // < 0: no waiting
	est     time.Duration // a low quantile of recent calls' durations (measured)
	recent  [estimateOver]time.Duration
	nRecent int  // calls measured so far, counting the start estimate as estimateOver of them
	procs   int  // processors this pool added to GOMAXPROCS (ExtraProcs)
	extra   bool // ExtraProcs
	running int
	waiting int                     // live waiters
	clients map[netip.Addr]*clientQ // clients with live waiters
	ring    []*clientQ              // round-robin order of clients with waiters
	closed  bool
}

// waiter is one caller waiting for a worker.
type waiter struct {
	ready    chan struct{} // closed when granted (or the pool closed)
	granted  bool          // under Pool.mu
	gone     bool          // left before it was granted, under Pool.mu
	closedBy bool          // woken by Close, under Pool.mu
}

// clientQ is one client's waiting callers, oldest first.
type clientQ struct {
	key  netip.Addr
	q    []*waiter
	live int // waiters in q that have not left
}

// New returns a pool of workers (0 or less: runtime.NumCPU()) with the
// default MaxWait and Estimate.
func New(workers int) *Pool {
	return NewWith(Options{Workers: workers})
}

// NewWith returns a pool configured by o.
func NewWith(o Options) *Pool {
	p := &Pool{clients: map[netip.Addr]*clientQ{}, est: o.Estimate}
	if p.est <= 0 {
		p.est = DefaultEstimate
	}
	// The estimate counts as every recent call until calls replace it: a
	// freshly started server's first calls run while its first burst is
	// still arriving, and must not stand for the rest on their own.
	for i := range p.recent {
		p.recent[i] = p.est
	}
	p.nRecent = estimateOver
	p.workers, p.maxWait = settings(o)
	p.maxWaitA.Store(int64(p.maxWait))
	if o.ExtraProcs {
		p.extra, p.procs = true, p.workers
		addProcs(p.procs)
	}
	return p
}

// gomaxprocs tracks the processors the open pools added to GOMAXPROCS.
var gomaxprocs struct {
	sync.Mutex
	base, added int
}

func addProcs(n int) {
	gomaxprocs.Lock()
	defer gomaxprocs.Unlock()
	if gomaxprocs.added == 0 {
		gomaxprocs.base = runtime.GOMAXPROCS(0)
	}
	gomaxprocs.added += n
	runtime.GOMAXPROCS(gomaxprocs.base + gomaxprocs.added)
}

func settings(o Options) (workers int, maxWait time.Duration) {
	workers, maxWait = o.Workers, o.MaxWait
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if maxWait == 0 {
		maxWait = DefaultMaxWait
	}
	return workers, maxWait
}

// Configure applies new Workers and MaxWait (zero values: the defaults;
// Estimate is ignored: the measured average stays). More workers start
// waiting callers at once; fewer let the running calls finish. Callers
// already waiting keep their place.
func (p *Pool) Configure(o Options) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.workers, p.maxWait = settings(o)
	p.maxWaitA.Store(int64(p.maxWait))
	if p.extra && !p.closed && p.procs != p.workers {
		addProcs(p.workers - p.procs)
		p.procs = p.workers
	}
	p.grant()
}

// MaxWait is the longest expected wait admitted now (0 for a nil pool or
// when callers never wait).
func (p *Pool) MaxWait() time.Duration {
	if p == nil {
		return 0
	}
	return max(time.Duration(p.maxWaitA.Load()), 0)
}

// errClosed is returned by Do after Close.
var errClosed = errors.New("hashing pool closed")

// Close refuses every waiting and later caller with an error wrapping
// backend.ErrUnavailable; calls already running finish.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.procs > 0 {
		addProcs(-p.procs)
		p.procs = 0
	}
	for _, c := range p.ring {
		for _, w := range c.q {
			if !w.gone && !w.granted {
				w.closedBy = true
				close(w.ready)
			}
		}
	}
	p.ring, p.waiting = nil, 0
	clear(p.clients)
}

// ClientKey is the fairness key of a client address ("host:port", a bare
// address or a prefix): the IPv4 address, or the /64 of an IPv6 address
// (one site's hosts share it, as one attacker's would). Unparsable
// addresses share the zero key.
func ClientKey(addr string) netip.Addr {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		if ap, err2 := netip.ParseAddrPort(addr); err2 == nil {
			a = ap.Addr()
		} else if pfx, err3 := netip.ParsePrefix(addr); err3 == nil {
			a = pfx.Addr()
		} else {
			return netip.Addr{}
		}
	}
	a = a.Unmap()
	if a.Is6() {
		if pfx, err := a.Prefix(64); err == nil {
			return pfx.Addr()
		}
	}
	return a
}

// Do runs fn on the caller's goroutine once a worker is free. client is
// the address the call is made for (Credentials.ClientAddr; "" for none):
// waiting callers are served round-robin by ClientKey(client).
//
// When every worker is busy, the caller waits if its expected wait fits in
// MaxWait and, when ctx has a deadline, if the call can still finish before
// it; otherwise Do returns an error wrapping backend.ErrBusy at once,
// without running fn. A caller whose ctx deadline passes while it waits
// gets backend.ErrBusy too (hashing was too busy); one whose ctx is
// cancelled gets an error wrapping backend.ErrUnavailable and ctx.Err().
// Every ErrBusy is counted in Stats.Refused. A nil pool runs fn at once.
func (p *Pool) Do(ctx context.Context, client string, fn func()) error {
	if p == nil {
		fn()
		return nil
	}
	key := ClientKey(client)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("hashpool: %w: %w", backend.ErrUnavailable, errClosed)
	}
	if p.running < p.workers && p.waiting == 0 {
		p.running++
		p.mu.Unlock()
		p.run(fn)
		return nil
	}
	if err := p.admitLocked(ctx, key); err != nil {
		p.mu.Unlock()
		return err
	}
	w := &waiter{ready: make(chan struct{})}
	p.enqueue(key, w)
	p.mu.Unlock()

	select {
	case <-w.ready:
	case <-ctx.Done():
		p.mu.Lock()
		switch {
		case w.closedBy:
		case w.granted:
			// Granted as the caller gave up: hand the slot on rather
			// than hash for nobody.
			p.running--
			p.grant()
		default:
			p.leave(key, w)
		}
		p.mu.Unlock()
		if w.closedBy {
			break
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			p.refused.Add(1)
			return fmt.Errorf("hashpool: no hashing worker before the deadline: %w", backend.ErrBusy)
		}
		return fmt.Errorf("hashpool: wait for a hashing worker: %w: %w", backend.ErrUnavailable, ctx.Err())
	}
	if w.closedBy {
		return fmt.Errorf("hashpool: %w: %w", backend.ErrUnavailable, errClosed)
	}
	p.run(fn)
	return nil
}

// Admit returns an error wrapping backend.ErrBusy (and counts it) when a
// Do for client now would be refused, nil otherwise. Callers use it to
// refuse before work that would only lead to a refused Do (a store read,
// say). It is a hint: Do still decides.
func (p *Pool) Admit(ctx context.Context, client string) error {
	if p == nil {
		return nil
	}
	key := ClientKey(client)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || (p.running < p.workers && p.waiting == 0) {
		return nil
	}
	return p.admitLocked(ctx, key)
}

// admitLocked decides whether a caller of key may wait.
func (p *Pool) admitLocked(ctx context.Context, key netip.Addr) error {
	wait := p.expectedWaitLocked(key)
	switch {
	case p.maxWait < 0:
		p.refused.Add(1)
		return fmt.Errorf("hashpool: all %d hashing workers busy: %w", p.workers, backend.ErrBusy)
	case wait > p.maxWait:
		p.refused.Add(1)
		return fmt.Errorf("hashpool: expected wait %v is past max_wait %v: %w", wait.Round(time.Millisecond), p.maxWait, backend.ErrBusy)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait+p.est {
		p.refused.Add(1)
		return fmt.Errorf("hashpool: expected wait %v is past the call's deadline: %w", wait.Round(time.Millisecond), backend.ErrBusy)
	}
	return nil
}

// expectedWaitLocked is how long a new caller of key would wait: the
// callers served before it (its own client's waiting ones, and from every
// other client as many as get a turn before it, round-robin), plus one,
// times the average call, shared by the workers.
func (p *Pool) expectedWaitLocked(key netip.Addr) time.Duration {
	if p.running < p.workers && p.waiting == 0 {
		return 0
	}
	own := 0
	if c := p.clients[key]; c != nil {
		own = c.live
	}
	ahead := own
	for _, c := range p.ring {
		if c.key != key {
			ahead += min(c.live, own+1)
		}
	}
	return time.Duration(int64(ahead+1) * int64(p.est) / int64(p.workers))
}

// ExpectedWait is how long a caller from client would wait now (0 when a
// worker is free).
func (p *Pool) ExpectedWait(client string) time.Duration {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.expectedWaitLocked(ClientKey(client))
}

func (p *Pool) enqueue(key netip.Addr, w *waiter) {
	c := p.clients[key]
	if c == nil {
		c = &clientQ{key: key}
		p.clients[key] = c
		p.ring = append(p.ring, c)
	}
	c.q = append(c.q, w)
	c.live++
	p.waiting++
}

// leave takes a waiter that gave up out of its client's count; its slot in
// the client's queue is skipped when reached.
func (p *Pool) leave(key netip.Addr, w *waiter) {
	w.gone = true
	p.waiting--
	if c := p.clients[key]; c != nil {
		c.live--
		if c.live == 0 {
			p.dropClient(c)
		}
	}
}

func (p *Pool) dropClient(c *clientQ) {
	delete(p.clients, c.key)
	for i, r := range p.ring {
		if r == c {
			p.ring = append(p.ring[:i], p.ring[i+1:]...)
			break
		}
	}
}

// grant starts waiting callers while workers are free: the next client in
// the ring gives its oldest waiter, then goes to the back of the ring.
func (p *Pool) grant() {
	for p.running < p.workers && p.waiting > 0 && len(p.ring) > 0 {
		c := p.ring[0]
		var w *waiter
		for len(c.q) > 0 && w == nil {
			if !c.q[0].gone {
				w = c.q[0]
			}
			c.q[0] = nil
			c.q = c.q[1:]
		}
		if w == nil { // only left waiters: cannot happen while live > 0
			p.dropClient(c)
			continue
		}
		c.live--
		p.waiting--
		p.running++
		w.granted = true
		close(w.ready)
		copy(p.ring, p.ring[1:])
		p.ring = p.ring[:len(p.ring)-1]
		if c.live > 0 {
			p.ring = append(p.ring, c)
		} else {
			delete(p.clients, c.key)
		}
	}
}

// estimateOver is how many recent calls the estimate is taken from.
const estimateOver = 16

// run runs fn in a worker slot, then frees the slot (even if fn panics)
// and folds fn's duration into the estimate.
func (p *Pool) run(fn func()) {
	start := time.Now()
	defer func() {
		d := time.Since(start)
		p.mu.Lock()
		p.running--
		p.measured(d)
		p.grant()
		p.mu.Unlock()
	}()
	fn()
}

// measured makes the estimate the first quartile of the last
// estimateOver calls: it follows a machine that got busier within a few
// calls, and neither one slow call (the first touch of a fresh work area,
// a garbage collection) nor the few slowed down while a burst of binds is
// still arriving (they share the CPU with the arrivals: twice the steady
// time on 2 cores) moves it. It leans low on purpose: an estimate too high
// turns patrons away with 51 for nothing, one too low makes a few wait a
// little past MaxWait (they are still bounded by their deadline).
func (p *Pool) measured(d time.Duration) {
	p.recent[p.nRecent%estimateOver] = d
	p.nRecent++
	n := min(p.nRecent, estimateOver)
	var s [estimateOver]time.Duration
	copy(s[:n], p.recent[:n])
	slices.Sort(s[:n])
	p.est = s[n/4]
}

// Stats is a snapshot of a pool, for metrics.
type Stats struct {
	Workers  int           // the most functions that run at once
	MaxWait  time.Duration // the longest expected wait admitted (< 0: none)
	Running  int           // running now
	Waiting  int           // waiting now (the queue depth)
	Clients  int           // client addresses with callers waiting
	Estimate time.Duration // the average duration of one call
	Refused  uint64        // calls refused with ErrBusy since the pool was made
}

// Stats returns the pool's current numbers (zero for a nil pool).
func (p *Pool) Stats() Stats {
	if p == nil {
		return Stats{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Workers:  p.workers,
		MaxWait:  p.maxWait,
		Running:  p.running,
		Waiting:  p.waiting,
		Clients:  len(p.ring),
		Estimate: p.est,
		Refused:  p.refused.Load(),
	}
}
