// Package ratelog is an slog.Handler that keeps repeated warnings from
// filling a disk: of the records at Warn level and above with the same
// level, message and client address (their "client" or "peer" attribute),
// at most one per Interval goes through; the others are counted, and the
// count is logged when the interval ends ("repeated=N"). Past MaxKeys
// client addresses, records are limited by level and message alone.
// Records below Warn (one line per bind at Info) are not limited. See
// README.md.
package ratelog

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultInterval = time.Minute
	// DefaultMaxKeys bounds the (level, message, client) keys tracked;
	// past it, a new client's records are limited with every other
	// client's by (level, message).
	DefaultMaxKeys = 1024
)

// Options configure New.
type Options struct {
	// Interval is how long after a record passes the same one is held
	// back; 0: DefaultInterval.
	Interval time.Duration
	// MaxKeys bounds the messages tracked at once; 0: DefaultMaxKeys.
	MaxKeys int
	// Now is the clock; nil: time.Now. AfterFunc schedules the report of
	// a held-back count; nil: time.AfterFunc (tests replace both).
	Now       func() time.Time
	AfterFunc func(time.Duration, func())
}

// Handler limits repeated records; it is safe for concurrent use, and
// handlers made by WithAttrs and WithGroup share their limits.
type Handler struct {
	next slog.Handler
	st   *state
}

type key struct {
	level  slog.Level
	msg    string
	client netip.Addr // zero: the record names no client, or too many do
}

type entry struct {
	until      time.Time // records before this are held back
	suppressed int
	timer      bool // a report of suppressed is scheduled
}

type state struct {
	o    Options
	mu   sync.Mutex
	keys map[key]*entry
}

// New returns a Handler in front of next.
func New(next slog.Handler, o Options) *Handler {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AfterFunc == nil {
		o.AfterFunc = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	return &Handler{next: next, st: &state{o: o, keys: map[key]*entry{}}}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	st := h.st
	k := key{r.Level, r.Message, clientOf(r)}
	now := st.o.Now()
	st.mu.Lock()
	e := st.keys[k]
	if e == nil && k.client.IsValid() {
		if len(st.keys) >= st.o.MaxKeys {
			st.sweep(now)
		}
		if len(st.keys) >= st.o.MaxKeys {
			// Too many clients: this one shares the message's key.
			k.client = netip.Addr{}
			e = st.keys[k]
		}
	}
	if e == nil {
		// A key without a client is made even past MaxKeys: messages
		// are constants in the code, so there are few of them.
		e = &entry{}
		st.keys[k] = e
	}
	if now.Before(e.until) {
		e.suppressed++
		if !e.timer {
			e.timer = true
			st.o.AfterFunc(e.until.Sub(now), func() { h.report(k, true) })
		}
		st.mu.Unlock()
		return nil
	}
	e.until = now.Add(st.o.Interval)
	st.mu.Unlock()
	return h.next.Handle(ctx, r)
}

// Flush logs the counts of the records held back so far, at once (at
// exit, so that none is lost); their intervals go on.
func (h *Handler) Flush() {
	h.st.mu.Lock()
	var keys []key
	for k, e := range h.st.keys {
		if e.suppressed > 0 {
			keys = append(keys, k)
		}
	}
	h.st.mu.Unlock()
	for _, k := range keys {
		h.report(k, false)
	}
}

// report logs how many records of k were held back in the interval that
// just ended (its timer fired), or so far (Flush), as one record with the
// same level and message.
func (h *Handler) report(k key, timer bool) {
	st := h.st
	st.mu.Lock()
	e := st.keys[k]
	if e == nil {
		st.mu.Unlock()
		return
	}
	n := e.suppressed
	e.suppressed = 0
	if timer {
		e.timer = false
	}
	st.mu.Unlock()
	if n == 0 {
		return
	}
	r := slog.NewRecord(st.o.Now(), k.level, k.msg, 0)
	if k.client.IsValid() {
		r.AddAttrs(slog.String("client", k.client.String()))
	}
	r.AddAttrs(slog.Int("repeated", n), slog.Duration("within", st.o.Interval))
	_ = h.next.Handle(context.Background(), r)
}

// clientOf is the address a record is about: its "client" or "peer"
// attribute ("host:port" or a bare address), the IPv6 ones by their /64;
// the zero Addr when it has none.
func clientOf(r slog.Record) netip.Addr {
	var a netip.Addr
	r.Attrs(func(at slog.Attr) bool {
		if at.Key != "client" && at.Key != "peer" {
			return true
		}
		s := at.Value.String()
		if ap, err := netip.ParseAddrPort(s); err == nil {
			a = ap.Addr()
		} else if p, err := netip.ParseAddr(s); err == nil {
			a = p
		}
		return false
	})
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			a = p.Addr()
		}
	}
	return a
}

// sweep forgets keys whose interval is over and that hold nothing back.
func (st *state) sweep(now time.Time) {
	for k, e := range st.keys {
		if !now.Before(e.until) && e.suppressed == 0 && !e.timer {
			delete(st.keys, k)
		}
	}
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(as), st: h.st}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), st: h.st}
}
