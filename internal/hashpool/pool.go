// Package hashpool bounds the CPU and memory that password hashing may
// use: at most Workers verifications run at once, at most Queue more wait,
// and anything beyond that is refused at once with an error wrapping
// backend.ErrBusy (LDAP 51 busy), so that a flood of distinct wrong PINs
// neither grows memory without bound nor stalls the rest of the server.
//
// With Options.Nice the functions run on the pool's own worker threads at
// a lower scheduling priority, so that hashing gets the CPU the rest of
// the server (and the machine) leaves: a storm of wrong PINs slows other
// hashing, not cached binds.
//
// A nil *Pool runs every function inline, without a bound.
package hashpool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/bindery/bindery/backend"
)

// Pool runs hashing functions with bounded concurrency and a bounded queue.
// It is safe for concurrent use.
type Pool struct {
	workers int
	queue   int
	sem     chan struct{} // one token per running function (inline mode)
	admit   atomic.Int64  // running + waiting
	running atomic.Int64
	refused atomic.Uint64

	// Worker mode (Options.Nice > 0).
	nice      int
	jobs      chan *job
	closed    chan struct{}
	closeOnce sync.Once
	niceErr   atomic.Pointer[error] // the first failure to lower a worker's priority
}

// job is one function handed to a worker.
type job struct {
	fn       func()
	done     chan struct{}
	panicked any
}

// Options configure New.
type Options struct {
	// Workers is the most functions that run at once; 0 or less:
	// runtime.NumCPU().
	Workers int
	// Queue is the most callers that wait; less than 0: 4×Workers; 0: no
	// waiting, refuse as soon as every worker is busy.
	Queue int
	// Nice, when above 0, runs the functions on Workers goroutines, each
	// locked to its own OS thread whose nice value is raised by Nice
	// (Linux; elsewhere the threads keep their priority). GOMAXPROCS is
	// raised by Workers while the pool is open, so that a worker thread
	// the kernel holds back never holds a processor the rest of the server
	// needs. Close stops the workers.
	Nice int
}

// New returns a pool that runs at most workers functions at once (0 or
// less: runtime.NumCPU()) with at most queue more waiting (less than 0:
// 4×workers; 0: no waiting, refuse as soon as every worker is busy). The
// functions run on their callers' goroutines.
func New(workers, queue int) *Pool {
	return NewWith(Options{Workers: workers, Queue: queue})
}

// NewWith returns a pool configured by o.
func NewWith(o Options) *Pool {
	workers, queue := o.Workers, o.Queue
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if queue < 0 {
		queue = 4 * workers
	}
	p := &Pool{workers: workers, queue: queue, sem: make(chan struct{}, workers)}
	if o.Nice > 0 {
		p.nice = o.Nice
		p.jobs = make(chan *job)
		p.closed = make(chan struct{})
		addProcs(workers)
		for i := 0; i < workers; i++ {
			go p.work()
		}
	}
	return p
}

// work runs jobs on a thread of its own at the pool's lower priority. The
// thread is never unlocked, so it ends with the goroutine (Close) rather
// than going back to the runtime with a lowered priority.
func (p *Pool) work() {
	runtime.LockOSThread()
	if err := lowerThreadPriority(p.nice); err != nil {
		p.niceErr.CompareAndSwap(nil, &err)
	}
	for {
		select {
		case j := <-p.jobs:
			p.run(j)
		case <-p.closed:
			return
		}
	}
}

func (p *Pool) run(j *job) {
	p.running.Add(1)
	defer func() {
		j.panicked = recover()
		p.running.Add(-1)
		close(j.done)
	}()
	j.fn()
}

// NiceErr returns why a worker's priority could not be lowered, or nil.
func (p *Pool) NiceErr() error {
	if p == nil {
		return nil
	}
	if e := p.niceErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Close stops the workers of a pool with Nice (functions already handed to
// a worker finish; later calls of Do fail with backend.ErrUnavailable) and
// gives back the processors it added. It does nothing to other pools.
func (p *Pool) Close() {
	if p == nil || p.closed == nil {
		return
	}
	p.closeOnce.Do(func() {
		close(p.closed)
		addProcs(-p.workers)
	})
}

// errClosed is returned by Do after Close.
var errClosed = errors.New("hashing pool closed")

// procs tracks the processors the open pools added to GOMAXPROCS.
var procs struct {
	sync.Mutex
	base, extra int
}

func addProcs(n int) {
	procs.Lock()
	defer procs.Unlock()
	if procs.extra == 0 {
		procs.base = runtime.GOMAXPROCS(0)
	}
	procs.extra += n
	runtime.GOMAXPROCS(procs.base + procs.extra)
}

// Do runs fn once a worker slot is free: on the caller's goroutine, or
// with Nice on a worker thread while the caller waits. When
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
	if p.jobs != nil {
		return p.hand(ctx, fn)
	}
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

// hand gives fn to a free worker, waiting for one as long as ctx lasts,
// and waits for fn to finish. A panic in fn is raised again here, on the
// caller's goroutine, as if fn had run on it.
func (p *Pool) hand(ctx context.Context, fn func()) error {
	j := &job{fn: fn, done: make(chan struct{})}
	select {
	case p.jobs <- j:
	case <-ctx.Done():
		return fmt.Errorf("hashpool: wait for a hashing slot: %w: %w", backend.ErrUnavailable, ctx.Err())
	case <-p.closed:
		return fmt.Errorf("hashpool: %w: %w", backend.ErrUnavailable, errClosed)
	}
	<-j.done
	if j.panicked != nil {
		panic(j.panicked)
	}
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
