package asynclog

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueue is the queue length (lines) of a Writer made with size 0.
const DefaultQueue = 8192

// Linger is how long the drain goroutine waits, once woken by a line,
// for more lines to write with it. Under load a batch then carries every
// line of that time (at 20,000 binds/s, ~20 lines per write) instead of
// one or two, and the goroutine wakes once per batch instead of once per
// line; a line reaches the output at most about this much later.
const Linger = time.Millisecond

// maxSpare is the largest batch buffer the drain goroutine keeps for reuse.
const maxSpare = 1 << 20

// Writer is an io.Writer whose Write appends p to a bounded queue and
// returns at once; one goroutine writes what is queued to the underlying
// writer, every waiting line in one Write. Each Write call is one line:
// lines are never split or merged with one another's bytes, and they reach
// the underlying writer in the order their Write calls returned. When the
// queue is full the line is dropped and counted (Dropped). After Close,
// Write writes synchronously.
type Writer struct {
	out    io.Writer
	linger time.Duration

	mu     sync.Mutex
	closed bool
	buf    []byte // the lines queued, back to back
	lines  int    // how many
	size   int    // the most lines buf may hold
	wake   chan struct{}
	done   chan struct{}

	outMu   sync.Mutex // serialises writes to out after Close
	dropped atomic.Uint64
	errs    atomic.Uint64
}

// NewWriter starts a Writer on out with a queue of size lines
// (DefaultQueue when size <= 0). Close stops it.
func NewWriter(out io.Writer, size int) *Writer {
	return newWriter(out, size, Linger)
}

func newWriter(out io.Writer, size int, linger time.Duration) *Writer {
	if size <= 0 {
		size = DefaultQueue
	}
	w := &Writer{out: out, linger: linger, size: size, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.drain()
	return w
}

// Write queues a copy of p and returns len(p), nil, whether the line was
// queued or dropped (a logger must not fail or wait because its output is
// slow). After Close it writes p to the underlying writer directly.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.outMu.Lock()
		defer w.outMu.Unlock()
		return w.out.Write(p)
	}
	if w.lines >= w.size {
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	w.lines++
	if w.lines == 1 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	return len(p), nil
}

// Dropped is the number of lines dropped so far because the queue was full.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// room reports whether the queue has room for a line now.
func (w *Writer) room() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines < w.size
}

// WriteErrors is the number of failed writes to the underlying writer (the
// lines of such a batch are lost).
func (w *Writer) WriteErrors() uint64 { return w.errs.Load() }

// Close writes every queued line, stops the goroutine and returns. Later
// Writes go to the underlying writer synchronously. It does not close the
// underlying writer. Calling it again does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.wake)
	w.mu.Unlock()
	<-w.done
	return nil
}

// drain writes queued lines until the Writer is closed: woken by the first
// line of a batch, it lingers, then takes everything queued and writes it
// with one Write. On Close it writes what is left at once.
func (w *Writer) drain() {
	defer close(w.done)
	var spare []byte
	for {
		_, open := <-w.wake
		if open && w.linger > 0 {
			time.Sleep(w.linger)
		}
		w.mu.Lock()
		batch := w.buf
		w.buf, w.lines = spare[:0], 0
		w.mu.Unlock()
		if len(batch) > 0 {
			w.outMu.Lock()
			if _, err := w.out.Write(batch); err != nil {
				w.errs.Add(1)
			}
			w.outMu.Unlock()
		}
		spare = nil
		if cap(batch) <= maxSpare {
			spare = batch
		}
		if !open {
			return
		}
	}
}
