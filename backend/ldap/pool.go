package ldapbackend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// errClosed is returned after Close.
var errClosed = errors.New("backend closed")

// pool holds at most size connections (idle plus in use) of one kind.
type pool struct {
	kind  string // "service" or "bind", for errors
	s     *settings
	fo    *failover
	setup func(ctx context.Context, c *conn) error // after dial; nil for none
	slots chan struct{}

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

func newPool(kind string, s *settings, fo *failover, setup func(context.Context, *conn) error) *pool {
	return &pool{kind: kind, s: s, fo: fo, setup: setup, slots: make(chan struct{}, s.PoolSize)}
}

// get returns a connection for exclusive use: an idle one (unless fresh),
// else a new one dialled with failover. Waiting for a free slot is bounded
// by ctx.
func (p *pool) get(ctx context.Context, fresh bool) (*conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, unavailable(fmt.Sprintf("wait for a free %s connection (pool_size %d)", p.kind, p.s.PoolSize), ctx.Err())
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		<-p.slots
		return nil, unavailable(p.kind+" pool", errClosed)
	}
	if !fresh {
		for {
			c, err := p.popIdle()
			if err != nil {
				<-p.slots
				return nil, unavailable(p.kind+" pool", err)
			}
			if c == nil {
				break
			}
			if c.broken {
				go c.close()
				continue
			}
			c.reused = true
			return c, nil
		}
	}
	c, err := p.connect(ctx)
	if err != nil {
		<-p.slots
		return nil, unavailable(p.kind+" pool", err)
	}
	return c, nil
}

// put gives a connection back: broken ones, and ones to a later URL once
// the first URL is due for a retry, are closed.
func (p *pool) put(c *conn) {
	defer func() { <-p.slots }()
	if c.broken || p.fo.primaryDue(c.urlIdx, c.created) {
		go c.close()
		return
	}
	c.reused = false
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		go c.close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// popIdle takes the most recently used idle connection, or nil.
func (p *pool) popIdle() (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	n := len(p.idle)
	if n == 0 {
		return nil, nil
	}
	c := p.idle[n-1]
	p.idle = p.idle[:n-1]
	return c, nil
}

// drain closes the idle connections (after one of them turned out broken,
// the others probably are too: the server restarted or the network broke).
func (p *pool) drain() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		go c.close()
	}
}

// close closes the idle connections and refuses further use; connections
// in use are closed when they are put back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.drain()
}

// connect dials the URLs in failover order. Each URL gets an equal share
// of the time left, so one that hangs cannot use up the whole budget. A
// service bind rejected with invalidCredentials is not retried on the next
// URL (it would only lock the service account out faster).
func (p *pool) connect(ctx context.Context) (*conn, error) {
	order := p.fo.order()
	var errs []error
	for i, idx := range order {
		if ctx.Err() != nil {
			break
		}
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok {
			share := time.Until(dl) / time.Duration(len(order)-i)
			dctx, cancel = context.WithTimeout(ctx, share)
		}
		c, err := dial(dctx, p.s, idx)
		if err == nil && p.setup != nil {
			if err = p.setup(dctx, c); err != nil {
				go c.close()
			}
		}
		cancel()
		if err == nil {
			p.fo.up(idx)
			return c, nil
		}
		url := p.s.upstreams[idx].raw
		p.fo.down(idx, err)
		p.s.Logger.Warn("ldap upstream failed", "backend", p.s.Name, "url", url, "pool", p.kind, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", url, err))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			break
		}
	}
	if len(errs) == 0 {
		errs = append(errs, ctx.Err())
	}
	return nil, fmt.Errorf("connect: %w", errors.Join(errs...))
}

// warm drops idle connections the server has closed and dials new ones
// until n are idle. It never waits for a slot: a pool whose connections
// are all in use is warm enough.
func (p *pool) warm(ctx context.Context, n int) error {
	p.mu.Lock()
	kept := p.idle[:0]
	var dead []*conn
	for _, c := range p.idle {
		if !c.idleAlive() {
			dead = append(dead, c)
		} else {
			kept = append(kept, c)
		}
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	p.mu.Unlock()
	for _, c := range dead {
		go c.close()
	}
	for tries := 0; p.idleCount() < n && tries < 2*n; tries++ {
		select {
		case p.slots <- struct{}{}:
		default:
			return nil
		}
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			<-p.slots
			return nil
		}
		c, err := p.connect(ctx)
		if err != nil {
			<-p.slots
			return err
		}
		p.put(c) // gives the slot back
	}
	return nil
}

// idleCount is the number of idle connections.
func (p *pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// neutralize rebinds anonymously each idle connection that still holds a
// user's identity and has been unused for at least idleFor, so that no
// connection sits authenticated as a patron. Like warm it never waits for
// a slot.
func (p *pool) neutralize(ctx context.Context, idleFor time.Duration) {
	for {
		select {
		case p.slots <- struct{}{}:
		default:
			return
		}
		c := p.takeUserBound(time.Now().Add(-idleFor))
		if c == nil {
			<-p.slots
			return
		}
		if err := anonymousBind(ctx, c); err != nil {
			c.broken = true
		}
		p.put(c) // gives the slot back
	}
}

// takeUserBound removes and returns an idle connection bound as a user
// and last used before cutoff, or nil.
func (p *pool) takeUserBound(cutoff time.Time) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.idle {
		if c.asUser && c.lastUsed.Before(cutoff) {
			p.idle = slices.Delete(p.idle, i, i+1)
			return c
		}
	}
	return nil
}
