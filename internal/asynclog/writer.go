package asynclog

import (
	"io"
	"sync"
	"sync/atomic"
)

// DefaultQueue is the queue length (lines) of a Writer made with size 0.
const DefaultQueue = 8192

// maxBatch is how many bytes the drain goroutine gathers before writing,
// even if more lines are waiting.
const maxBatch = 64 << 10

// Writer is an io.Writer whose Write copies p into a bounded queue and
// returns at once; one goroutine writes the queued lines to the
// underlying writer, several per Write call when they are waiting. Each
// Write call is one line: lines are never split or merged with one
// another's bytes, and they reach the underlying writer in the order their
// Write calls returned. When the queue is full the line is dropped and
// counted (Dropped). After Close, Write writes synchronously.
type Writer struct {
	out io.Writer

	mu     sync.RWMutex // Write holds it shared; Close exclusively, to close q
	closed bool
	q      chan *[]byte
	done   chan struct{}

	outMu   sync.Mutex // serialises writes to out after Close
	dropped atomic.Uint64
	errs    atomic.Uint64
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// NewWriter starts a Writer on out with a queue of size lines
// (DefaultQueue when size <= 0). Close stops it.
func NewWriter(out io.Writer, size int) *Writer {
	if size <= 0 {
		size = DefaultQueue
	}
	w := &Writer{out: out, q: make(chan *[]byte, size), done: make(chan struct{})}
	go w.drain()
	return w
}

// Write queues a copy of p and returns len(p), nil, whether the line was
// queued or dropped (a logger must not fail or wait because its output is
// slow). After Close it writes p to the underlying writer directly.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		w.outMu.Lock()
		defer w.outMu.Unlock()
		return w.out.Write(p)
	}
	b := bufPool.Get().(*[]byte)
	*b = append((*b)[:0], p...)
	select {
	case w.q <- b:
	default:
		w.dropped.Add(1)
		bufPool.Put(b)
	}
	w.mu.RUnlock()
	return len(p), nil
}

// Dropped is the number of lines dropped so far because the queue was full.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// room reports whether the queue has room for a line now.
func (w *Writer) room() bool { return len(w.q) < cap(w.q) }

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
	close(w.q)
	w.mu.Unlock()
	<-w.done
	return nil
}

// drain writes queued lines until the queue is closed and empty. It takes
// whatever is waiting (up to maxBatch bytes) and writes it with one Write:
// it flushes as soon as the queue is empty, so a line waits only for the
// write before it.
func (w *Writer) drain() {
	defer close(w.done)
	batch := make([]byte, 0, maxBatch)
	var held []*[]byte
	for {
		b, ok := <-w.q
		if !ok {
			return
		}
		batch = append(batch[:0], *b...)
		held = append(held[:0], b)
	gather:
		for len(batch) < maxBatch {
			select {
			case b, ok = <-w.q:
				if !ok {
					break gather
				}
				batch = append(batch, *b...)
				held = append(held, b)
			default:
				break gather
			}
		}
		for _, b := range held {
			if cap(*b) <= 4<<10 {
				bufPool.Put(b)
			}
		}
		w.outMu.Lock()
		if _, err := w.out.Write(batch); err != nil {
			w.errs.Add(1)
		}
		w.outMu.Unlock()
		if !ok {
			return
		}
	}
}
