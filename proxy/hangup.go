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
//
// Each connection has one, and one timer, re-armed for each bind: a
// cached bind then costs a timer reset and stop, not a timer and a
// channel of its own. A timer that fired just as the previous bind
// stopped may start the watch of the next bind early; that watch is as
// correct as a late one (the reader is running that bind), and the fire
// meant for that bind then finds it started.
type hangupWatch struct {
	c     *conn
	timer *time.Timer // made by the connection's first bind

	mu      sync.Mutex
	o       *op  // the bind watched; nil between binds
	started bool // the watch is peeking (run), until stop
	done    chan struct{}
}

// watchHangup starts watching o's connection after watchAfter. stop must
// be called before the connection is read again.
func (c *conn) watchHangup(o *op) *hangupWatch {
	w := &c.hangup
	w.mu.Lock()
	w.o, w.started = o, false
	w.mu.Unlock()
	if w.timer == nil {
		w.c = c
		w.timer = time.AfterFunc(watchAfter, w.run)
	} else {
		w.timer.Reset(watchAfter)
	}
	return w
}

func (w *hangupWatch) run() {
	c := w.c
	w.mu.Lock()
	o := w.o
	c.mu.Lock()
	if o == nil || w.started || c.shutdown {
		c.mu.Unlock()
		w.mu.Unlock()
		return
	}
	w.started = true
	done := make(chan struct{})
	w.done = done
	c.nc.SetReadDeadline(time.Time{})
	c.mu.Unlock()
	w.mu.Unlock()
	defer close(done)
	if _, err := c.br.Peek(1); errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		// Nobody is left to answer. (A timeout is stop's wake-up, a
		// closed connection the server's own doing.)
		o.hungUp.Store(true)
		o.cancel()
	}
}

// stop ends the watch and waits until it no longer reads.
func (w *hangupWatch) stop() {
	c := w.c
	w.mu.Lock()
	w.o = nil
	started, done := w.started, w.done
	w.started, w.done = false, nil
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
	<-done
}
