package proxy

import (
	"context"
	"sync"
	"time"
)

// lazyCtx is the context of one operation, or of one backend call with a
// deadline, that costs nothing until something waits on it. A cached bind
// never does: the cache answers without looking at its context. So
// instead of context.WithCancel per operation and context.WithTimeout per
// backend call (a cancelCtx registered in its parent, a channel, a timer
// armed and stopped: 10 allocations and as many locks per bind), the
// operation carries this struct, and the real context (WithCancel or
// WithDeadline of the parent, with the same deadline) is made by the first
// Done call, when a caller is about to wait: a cache miss, a search, a
// throttled bind.
//
// Until then Err answers from what it knows: cancel was called, the
// parent's Err, or the deadline has passed; the answers are those the real
// context would give. It is used through a pointer and must not be copied
// after init.
type lazyCtx struct {
	parent   context.Context
	deadline time.Time // zero: none of its own

	mu         sync.Mutex
	real       context.Context // made by the first Done
	cancelReal context.CancelFunc
	err        error // set by cancel while there is no real context
}

// init makes c a child of parent with the given deadline (zero: none).
func (c *lazyCtx) init(parent context.Context, deadline time.Time) {
	c.parent, c.deadline = parent, deadline
}

// Deadline implements context.Context: the earlier of the parent's and
// its own.
func (c *lazyCtx) Deadline() (time.Time, bool) {
	pd, ok := c.parent.Deadline()
	if c.deadline.IsZero() || (ok && pd.Before(c.deadline)) {
		return pd, ok
	}
	return c.deadline, true
}

// Done implements context.Context; the first call makes the real context.
func (c *lazyCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real == nil {
		// Once cancel has fixed the error, the real context has that
		// error whatever the parent does later (Err never changes).
		switch {
		case c.err == context.DeadlineExceeded:
			c.real, c.cancelReal = context.WithDeadline(context.WithoutCancel(c.parent), time.Time{})
		case c.err != nil:
			c.real, c.cancelReal = context.WithCancel(context.WithoutCancel(c.parent))
			c.cancelReal()
		case !c.deadline.IsZero():
			c.real, c.cancelReal = context.WithDeadline(c.parent, c.deadline)
		default:
			c.real, c.cancelReal = context.WithCancel(c.parent)
		}
	}
	return c.real.Done()
}

// Err implements context.Context.
func (c *lazyCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.real != nil:
		return c.real.Err()
	case c.err != nil:
		return c.err
	}
	return c.errNow()
}

// errNow is the error the real context would have now: the parent's, or
// DeadlineExceeded once the deadline has passed. c.mu is held.
func (c *lazyCtx) errNow() error {
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context.
func (c *lazyCtx) Value(key any) any {
	c.mu.Lock()
	real := c.real
	c.mu.Unlock()
	if real != nil {
		return real.Value(key) // the real cancelCtx, for contexts derived from it
	}
	return c.parent.Value(key)
}

// cancel is the context's CancelFunc: idempotent, safe from any goroutine.
func (c *lazyCtx) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real != nil {
		c.cancelReal()
		return
	}
	if c.err == nil {
		if c.err = c.errNow(); c.err == nil {
			c.err = context.Canceled
		}
	}
}
