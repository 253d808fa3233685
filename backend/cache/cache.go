package cache

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/backend"
	"golang.org/x/sync/singleflight"
)

// Defaults for the zero values of Options.
const (
	DefaultTTL         = 5 * time.Minute
	DefaultNegativeTTL = 30 * time.Second
	DefaultMaxEntries  = 200000
)

// Options configure a Cache ([cache] in the config file). Zero fields take
// the defaults.
type Options struct {
	// TTL is how long a verified password is accepted without asking the
	// backend. 0: DefaultTTL (the config's "0s" means no cache at all: the
	// backend is then not wrapped).
	TTL time.Duration
	// NegativeTTL is how long a failed (ID, password) pair is answered as a
	// failure without asking the backend. 0: DefaultNegativeTTL; less than
	// 0: no negative cache.
	NegativeTTL time.Duration
	// MaxEntries bounds the positive cache (least recently used entries
	// go first; see store). 0: DefaultMaxEntries.
	MaxEntries int
	// NegativeMaxEntries bounds the negative cache, in IDs (each with up
	// to 4 failed passwords). 0: MaxEntries/10, at least 1000.
	NegativeMaxEntries int
	// ServeStaleFor: while the backend answers ErrUnavailable, a cached
	// success with the same password younger than this still succeeds.
	// 0: off.
	ServeStaleFor time.Duration
	// DropEntries keeps no backend.Entry with a positive entry: a cached
	// bind's Result has no Entry and Lookup always asks the backend. It
	// saves the packed entry's memory (about 80 bytes per cached ID for a
	// pinstore entry, see README) and suits backends whose Lookup is local
	// and cheap (pinstore's SQLite), not a remote directory.
	DropEntries bool
	// Now is the clock for entry ages, including the dropping of entries
	// too old to be of any use; nil: time.Now.
	Now func() time.Time
}

// Cache is the caching decorator of one backend. It is safe for concurrent
// use. Use Wrap to get it as an Authenticator with the same optional
// interfaces as the backend.
type Cache struct {
	name  string
	next  backend.Authenticator
	key   *macKey
	ttl   int64 // nanoseconds
	stale int64 // serve stale for, nanoseconds; 0 = off
	now   func() time.Time

	dropEntries bool

	pos    *store
	fields *interner  // shared values of the entries in pos
	negs   *negatives // nil when off
	sf     singleflight.Group

	mu      sync.Mutex
	pending map[string]*pendingCall // IDs with a backend call in flight
	flights map[string]*flight      // backend calls in flight by singleflight key, with their callers

	hits, misses, negHits, staleHits, coalesced, invalidations atomic.Uint64
	joined                                                     atomic.Uint64 // callers registered with singleflight (tests)
}

// pendingCall notes that an ID was invalidated while its backend call was
// in flight: the answer may predate the change and is not cached.
type pendingCall struct {
	n     int
	dirty bool
}

var _ backend.Authenticator = (*Cache)(nil)

// New returns a cache in front of next. name is the backend's name, for
// errors. When next is a backend.Invalidator, the cache registers with it
// and drops an ID's entries the moment its generation changes; a backend
// that changes passwords or account states must be one. Capabilities of
// next (PasswordChanger, Searcher...) are reached through the cache with
// backend.As.
//
// The key is the login ID the backend receives (already normalised by the
// route). One cache per backend, and the backend's answer depends on the ID
// and password only, so the route's name is not part of the key: two routes
// sharing a backend share its entries, which is what they would get from the
// backend itself.
func New(name string, next backend.Authenticator, opts Options) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.NegativeTTL == 0 {
		opts.NegativeTTL = DefaultNegativeTTL
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.NegativeMaxEntries <= 0 {
		opts.NegativeMaxEntries = max(opts.MaxEntries/10, 1000)
	}
	if opts.ServeStaleFor < 0 {
		opts.ServeStaleFor = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Cache{
		name:        name,
		next:        next,
		key:         newMACKey(),
		ttl:         int64(opts.TTL),
		stale:       int64(opts.ServeStaleFor),
		dropEntries: opts.DropEntries,
		now:         opts.Now,
		pending:     map[string]*pendingCall{},
		flights:     map[string]*flight{},
		fields:      &interner{},
	}
	// Keep entries as long as either use of them lasts.
	c.pos = newStore(opts.MaxEntries, int64(max(opts.TTL, opts.ServeStaleFor)))
	if opts.NegativeTTL > 0 {
		c.negs = newNegatives(opts.NegativeMaxEntries, int64(opts.NegativeTTL))
	}
	if inv, ok := next.(backend.Invalidator); ok {
		inv.OnInvalidate(c.Invalidate)
	}
	return c
}

// Unwrap returns the backend behind the cache.
func (c *Cache) Unwrap() backend.Authenticator { return c.next }

// Close drops every entry and closes the backend. The cache runs no
// goroutine of its own.
func (c *Cache) Close() error {
	c.pos.purge()
	if c.negs != nil {
		c.negs.purge()
	}
	return c.next.Close()
}

// Authenticate answers from the cache when it can: a positive hit (same
// password, younger than TTL, not invalidated since) succeeds with
// Result.Cached set; a negative hit fails with the reason first seen.
// Everything else goes to the backend, one call for identical concurrent
// attempts.
func (c *Cache) Authenticate(ctx context.Context, cr backend.Credentials) (backend.Result, bool, error) {
	mac := c.key.sum(cr.Password)
	now := c.now().UnixNano()
	if p, ok := c.pos.get(cr.ID, now); ok && now-p.at < c.ttl && p.matches(&mac) {
		if e, err := c.entry(&p, cr); err == nil {
			c.hits.Add(1)
			return backend.Result{Entry: e, Generation: p.gen, Cached: true}, true, nil
		}
	}
	if reason, ok := c.negativeHit(cr.ID, &mac, now); ok {
		c.negHits.Add(1)
		return backend.Result{Reason: reason, Cached: true}, false, nil
	}
	c.misses.Add(1)
	return c.miss(ctx, cr, mac)
}

// entry returns the entry recorded with p for a hit, unless the caller
// reads none (Credentials.NoEntry): unpacking it costs a bind the
// backend.Entry and its UUID's text.
func (c *Cache) entry(p *positive, cr backend.Credentials) (*backend.Entry, error) {
	if cr.NoEntry {
		return nil, nil
	}
	return p.entry(c.fields)
}

// outcome is one backend answer, shared by coalesced callers.
type outcome struct {
	res backend.Result
	ok  bool
	err error
}

// flight is one backend call shared by identical concurrent attempts: its
// context, detached from the first caller's cancellation (keeping its
// deadline), and how many callers still wait for it.
type flight struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiting int
	done    bool
}

// miss asks the backend once for all identical concurrent attempts. One
// client hanging up does not fail the others: the call runs detached from
// each caller's cancellation, and each caller stops waiting when its own
// context ends. When the last caller has gone (every client hung up), the
// call is cancelled: a bind still queued for a hashing worker leaves the
// queue instead of being verified for nobody.
func (c *Cache) miss(ctx context.Context, cr backend.Credentials, mac [sha256.Size]byte) (backend.Result, bool, error) {
	key := cr.ID + "\x00" + string(mac[:])
	f := c.joinFlight(ctx, key)
	led := false // set only when this caller's function is the one that runs
	ch := c.sf.DoChan(key, func() (any, error) {
		led = true
		defer c.endFlight(key, f)
		return c.call(f.ctx, cr, &mac), nil
	})
	c.joined.Add(1) // DoChan has registered this caller with the call in flight
	select {
	case r := <-ch:
		c.leaveFlight(key, f)
		if !led {
			c.coalesced.Add(1)
		}
		o := r.Val.(outcome)
		return o.res, o.ok, o.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The call has the same deadline and ends with it: give it a
			// moment to say why (51 when it was still waiting for a
			// hashing worker, 52 from an upstream that did not answer).
			t := time.NewTimer(deadlineGrace)
			defer t.Stop()
			select {
			case r := <-ch:
				c.leaveFlight(key, f)
				o := r.Val.(outcome)
				return o.res, o.ok, o.err
			case <-t.C:
			}
		}
		c.leaveFlight(key, f)
		return backend.Result{}, false, fmt.Errorf("cache %s: authenticate: %w: %w", c.name, backend.ErrUnavailable, ctx.Err())
	}
}

// deadlineGrace is how long a caller whose deadline passed waits for the
// shared call's own answer (it has the same deadline).
const deadlineGrace = 100 * time.Millisecond

// joinFlight counts a caller in the flight of key, making it (with ctx's
// deadline) when there is none.
func (c *Cache) joinFlight(ctx context.Context, key string) *flight {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.flights[key]
	if f == nil || f.done {
		f = &flight{}
		f.ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			inner := f.cancel
			f.ctx, cancel = context.WithDeadline(f.ctx, dl)
			f.cancel = func() { cancel(); inner() }
		}
		c.flights[key] = f
	}
	f.waiting++
	return f
}

// leaveFlight counts a caller out; the last one out cancels the call.
func (c *Cache) leaveFlight(key string, f *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.waiting--
	if f.waiting == 0 {
		f.cancel()
		if c.flights[key] == f {
			delete(c.flights, key)
		}
	}
}

// endFlight marks the flight's call finished: later callers start a new one.
func (c *Cache) endFlight(key string, f *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.done = true
	if c.flights[key] == f {
		delete(c.flights, key)
	}
}

// call asks the backend and records what it said.
func (c *Cache) call(ctx context.Context, cr backend.Credentials, mac *[sha256.Size]byte) outcome {
	p := c.begin(cr.ID)
	res, ok, err := c.next.Authenticate(ctx, cr)
	dirty := c.end(cr.ID, p)
	now := c.now().UnixNano()
	switch {
	case err != nil:
		if c.stale > 0 && errors.Is(err, backend.ErrUnavailable) {
			if p, found := c.pos.peek(cr.ID, now); found && now-p.at < c.stale && p.matches(mac) {
				if e, err := c.entry(&p, cr); err == nil {
					c.staleHits.Add(1)
					return outcome{res: backend.Result{Entry: e, Generation: p.gen, Cached: true}, ok: true}
				}
			}
		}
		return outcome{res: res, err: err}
	case ok:
		// A must-change success is not cached: the next bind asks again.
		if !res.MustChange && !dirty {
			e := res.Entry
			if c.dropEntries {
				e = nil
			}
			c.pos.add(positive{data: pack(cr.ID, e, c.fields), mac: truncated(mac), at: now, gen: res.Generation})
		}
	default:
		c.failed(cr.ID, mac, res, now, dirty)
	}
	return outcome{res: res, ok: ok}
}

// failed records a failure in the negative cache, whatever its reason:
// the same wrong password again is then answered alike for an unknown ID
// and for an active, locked, suspended, expired, pending, superseded or
// PIN-less account (same result, same time), so repeated probes learn
// nothing. A change of the account (unlock, resume, new PIN...) drops the
// entry at once through Invalidate; a state that ends with time (a lock
// running out, a pending date reached) is seen at most NegativeTTL late.
// A failure for any reason but a wrong password means the account
// changed, so its positive entry goes too.
func (c *Cache) failed(id string, mac *[sha256.Size]byte, res backend.Result, now int64, dirty bool) {
	reason := res.Reason
	if reason == backend.ReasonNone {
		reason = backend.ReasonBadCredentials
	}
	if reason == backend.ReasonBadCredentials {
		// That password no longer works, or the account changed.
		c.pos.remove(id, func(p *positive) bool {
			return p.matches(mac) || (res.Generation != 0 && res.Generation != p.gen)
		})
	} else {
		c.pos.remove(id, nil)
	}
	if dirty || c.negs == nil {
		return
	}
	c.negs.record(id, mac, now, reason)
}

// negativeHit reports whether (id, mac) failed less than NegativeTTL ago.
func (c *Cache) negativeHit(id string, mac *[sha256.Size]byte, now int64) (backend.Reason, bool) {
	if c.negs == nil {
		return "", false
	}
	return c.negs.hit(id, mac, now)
}

// begin and end bracket a backend call so that an invalidation of the ID
// during the call keeps its (possibly outdated) answer out of the cache.
func (c *Cache) begin(id string) *pendingCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[id]
	if p == nil {
		p = &pendingCall{}
		c.pending[id] = p
	}
	p.n++
	return p
}

func (c *Cache) end(id string, p *pendingCall) (dirty bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p.n--
	if p.n == 0 {
		delete(c.pending, id)
	}
	return p.dirty
}

// Invalidate drops every entry of id, positive and negative, and keeps the
// answer of any backend call for id now in flight out of the cache. The
// backend calls it (backend.Invalidator) when an account's generation
// changes. The ID "" means every account (the backend may have missed
// changes, e.g. its notification connection was cut): the whole cache is
// dropped and no call in flight is cached.
func (c *Cache) Invalidate(id string) {
	c.invalidations.Add(1)
	if id == "" {
		c.mu.Lock()
		for _, p := range c.pending {
			p.dirty = true
		}
		c.mu.Unlock()
		c.pos.purge()
		if c.negs != nil {
			c.negs.purge()
		}
		return
	}
	c.mu.Lock()
	if p := c.pending[id]; p != nil {
		p.dirty = true
	}
	c.mu.Unlock()
	c.pos.remove(id, nil)
	if c.negs != nil {
		c.negs.remove(id)
	}
}

// Lookup answers from a positive entry younger than TTL when it holds the
// entry (the search of a search-then-bind after a recent bind), else asks
// the backend.
func (c *Cache) Lookup(ctx context.Context, id string) (*backend.Entry, error) {
	now := c.now().UnixNano()
	if p, ok := c.pos.peek(id, now); ok && now-p.at < c.ttl {
		if e, err := p.entry(c.fields); err == nil && e != nil {
			return e, nil
		}
	}
	return c.next.Lookup(ctx, id)
}

// Stats is a snapshot of a cache's counters, for metrics and tests.
type Stats struct {
	Entries       int    // positive entries held (some may be past TTL)
	Hits          uint64 // binds answered from a positive entry
	NegativeHits  uint64 // binds answered from the negative cache
	StaleHits     uint64 // successes served while the backend was unavailable
	Misses        uint64 // binds that went to the backend (before coalescing)
	Coalesced     uint64 // misses that shared another caller's backend call
	Invalidations uint64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	return Stats{
		Entries:       c.pos.len(),
		Hits:          c.hits.Load(),
		NegativeHits:  c.negHits.Load(),
		StaleHits:     c.staleHits.Load(),
		Misses:        c.misses.Load(),
		Coalesced:     c.coalesced.Load(),
		Invalidations: c.invalidations.Load(),
	}
}
