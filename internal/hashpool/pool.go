// Package hashpool bounds the CPU and memory that password hashing may
// use: at most Workers verifications run at once, at most Queue more wait,
// and anything beyond that is refused at once with an error wrapping
// backend.ErrBusy (LDAP 51 busy), so that a flood of distinct wrong PINs
// neither grows memory without bound nor stalls the rest of the server.
//
// A nil *Pool runs every function inline, without a bound.
package hashpool

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/bindery/bindery/backend"
)

// Pool runs hashing functions with bounded concurrency and a bounded queue.
// It is safe for concurrent use.
type Pool struct {
	workers int
	queue   int
	sem     chan struct{} // one token per running function
	admit   atomic.Int64  // running + waiting
	running atomic.Int64
	refused atomic.Uint64
}

// New returns a pool that runs at most workers functions at once (0 or
// less: runtime.NumCPU()) with at most queue more waiting (less than 0:
// 4×workers; 0: no waiting, refuse as soon as every worker is busy).
func New(workers, queue int) *Pool {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if queue < 0 {
		queue = 4 * workers
	}
	return &Pool{workers: workers, queue: queue, sem: make(chan struct{}, workers)}
}

// Do runs fn on the caller's goroutine once a worker slot is free. When
// Workers functions run and Queue callers already wait, it returns an
// error wrapping backend.ErrBusy at once, without running fn. When ctx ends
// while waiting it returns an error wrapping backend.ErrUnavailable and
// ctx.Err(). A nil pool runs fn at once.
func (p *Pool) Do(ctx context.Context, fn func()) error {
	if p == nil {
		fn()
		return nil
	}
	if n := p.admit.Add(1); n > int64(p.workers+p.queue) {
		p.admit.Add(-1)
		p.refused.Add(1)
		return fmt.Errorf("hashpool: %d hashing, %d waiting: %w", p.workers, p.queue, backend.ErrBusy)
	}
	defer p.admit.Add(-1)
	select {
	case p.sem <- struct{}{}:
	default:
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("hashpool: wait for a hashing slot: %w: %w", backend.ErrUnavailable, ctx.Err())
		}
	}
	p.running.Add(1)
	defer func() {
		p.running.Add(-1)
		<-p.sem
	}()
	fn()
	return nil
}

// Full reports whether a Do now would be refused: every worker busy and
// the queue full. Callers use it to refuse early, before work that would
// only lead to a refused Do (a store read, say), when a storm fills the
// pool. It is a hint: Do still decides.
func (p *Pool) Full() bool {
	return p != nil && p.admit.Load() >= int64(p.workers+p.queue)
}

// Stats is a snapshot of a pool, for metrics.
type Stats struct {
	Workers int    // the most functions that run at once
	Queue   int    // the most callers that wait
	Running int    // running now
	Waiting int    // waiting now (the queue depth)
	Refused uint64 // calls refused with ErrBusy since the pool was made
}

// Stats returns the pool's current numbers (zero for a nil pool).
func (p *Pool) Stats() Stats {
	if p == nil {
		return Stats{}
	}
	admitted, running := p.admit.Load(), p.running.Load()
	return Stats{
		Workers: p.workers,
		Queue:   p.queue,
		Running: int(running),
		Waiting: int(max(admitted-running, 0)),
		Refused: p.refused.Load(),
	}
}
