package proxy

import (
	"errors"
	"io"
	"sync"
	"syscall"
	"time"
)

// watchAfter is how long a bind runs before its connection is watched for
// a hang-up: cached binds finish well before, so they cost nothing; binds
// that are held (throttle, busy backoff), wait for a hashing worker or a
// slow backend are watched. A variable for tests.
var watchAfter = 20 * time.Millisecond

// hangupWatch notices a client that closes its connection while its bind
// is still running (the reader goroutine runs binds itself, so nothing
// else reads meanwhile) and cancels the bind, which then answers nobody
// and is logged once at Debug. It peeks at the connection without
// consuming anything: a request the client sent meanwhile is read as
// usual after the bind.
type hangupWatch struct {
	c     *conn
	o     *op
	timer *time.Timer

	mu      sync.Mutex
	started bool
	stopped bool
	done    chan struct{}
}

// watchHangup starts watching o's connection after watchAfter. stop must
// be called before the connection is read again.
func (c *conn) watchHangup(o *op) *hangupWatch {
	w := &hangupWatch{c: c, o: o, done: make(chan struct{})}
	w.timer = time.AfterFunc(watchAfter, w.run)
	return w
}

func (w *hangupWatch) run() {
	c := w.c
	w.mu.Lock()
	c.mu.Lock()
	if w.stopped || c.shutdown {
		c.mu.Unlock()
		w.mu.Unlock()
		return
	}
	w.started = true
	c.nc.SetReadDeadline(time.Time{})
	c.mu.Unlock()
	w.mu.Unlock()
	defer close(w.done)
	if _, err := c.br.Peek(1); errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		// Nobody is left to answer. (A timeout is stop's wake-up, a
		// closed connection the server's own doing.)
		w.o.hungUp.Store(true)
		w.o.cancel()
	}
}

// stop ends the watch and waits until it no longer reads.
func (w *hangupWatch) stop() {
	c := w.c
	w.mu.Lock()
	w.stopped = true
	started := w.started
	if started {
		c.mu.Lock()
		c.nc.SetReadDeadline(time.Now()) // wakes the Peek; the reader sets its own deadline next
		c.mu.Unlock()
	}
	w.mu.Unlock()
	if !started {
		w.timer.Stop()
		return
	}
	<-w.done
}
