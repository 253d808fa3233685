package asynclog

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"time"
)

// Handler is an slog.Handler that formats each record with an inner
// handler writing to a Writer, so that Handle never waits for the real
// output. Before the first record after some lines were dropped, it logs
// one warning "log lines dropped" with their number (count), as soon as
// the queue has room again.
type Handler struct {
	inner    slog.Handler
	root     slog.Handler // the inner handler without WithAttrs/WithGroup, for the drop warning
	w        *Writer
	reported *atomic.Uint64 // dropped lines already reported (shared by derived handlers)
}

// New returns a Handler whose output goes through a new Writer on out
// (queue of size lines, DefaultQueue when 0). newInner makes the
// formatting handler on the writer it is given, for example
//
//	h := asynclog.New(os.Stderr, 0, func(w io.Writer) slog.Handler {
//		return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})
//	})
//	defer h.Close()
//	logger := slog.New(h)
func New(out io.Writer, size int, newInner func(io.Writer) slog.Handler) *Handler {
	w := NewWriter(out, size)
	return Wrap(newInner(w), w)
}

// Wrap returns a Handler for an inner handler that already writes to w.
// Closing the Handler closes w.
func Wrap(inner slog.Handler, w *Writer) *Handler {
	return &Handler{inner: inner, root: inner, w: w, reported: new(atomic.Uint64)}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle implements slog.Handler: the inner handler formats r and the line
// is queued (or dropped and counted).
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if d := h.w.Dropped(); d > h.reported.Load() && h.w.room() {
		if old := h.reported.Swap(d); old < d {
			rec := slog.NewRecord(time.Now(), slog.LevelWarn, "log lines dropped", 0)
			rec.AddAttrs(slog.Uint64("count", d-old), slog.Uint64("total", d))
			if h.root.Enabled(ctx, slog.LevelWarn) {
				h.root.Handle(ctx, rec)
			}
		}
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	return &c
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	return &c
}

// Writer returns the Writer the handler's lines go through.
func (h *Handler) Writer() *Writer { return h.w }

// Dropped is the number of lines dropped so far because the queue was full.
func (h *Handler) Dropped() uint64 { return h.w.Dropped() }

// Close writes every queued line and stops the Writer (see Writer.Close);
// records handled later are written synchronously.
func (h *Handler) Close() error { return h.w.Close() }
