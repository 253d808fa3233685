// Package audit writes bindery's authentication audit trail: one JSON line
// per bind, per password change and per staff console log-in (time, client address, service account
// if any, login ID, route, backend, result, reason, cache hit, duration),
// never a password. Lines are queued and written by one goroutine, so a
// slow disk never holds up a bind; when the queue is full the line is
// dropped and counted. Files rotate by size.
package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/proxy"
)

// Options configure New. Zero values take the defaults.
type Options struct {
	// Path of the audit file; "-" means standard output.
	Path string
	// MaxBytes rotates the file when it would grow past this; default 100 MiB.
	MaxBytes int64
	// MaxFiles is how many rotated files (path.1 … path.N) are kept; default 5.
	MaxFiles int
	// Queue is how many lines may wait to be written; default 8192.
	Queue int
	// Stdout replaces os.Stdout (tests).
	Stdout io.Writer
}

// Log is an asynchronous audit writer. It implements proxy.Observer (only
// binds and password changes are written).
type Log struct {
	opts    Options
	queue   chan []byte
	dropped atomic.Uint64
	written atomic.Uint64
	done    chan struct{}
	once    sync.Once

	// Owned by the writer goroutine.
	f    *os.File
	w    *bufio.Writer
	size int64
	out  io.Writer
}

// Defaults.
const (
	DefaultMaxBytes = 100 << 20
	DefaultMaxFiles = 5
	DefaultQueue    = 8192
)

// New opens the audit file (creating it 0600) and starts the writer.
func New(o Options) (*Log, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	l := &Log{opts: o, queue: make(chan []byte, o.Queue), done: make(chan struct{})}
	if o.Path == "-" {
		l.out = o.Stdout
		if l.out == nil {
			l.out = os.Stdout
		}
		l.w = bufio.NewWriter(l.out)
	} else if err := l.open(); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

func (l *Log) open() error {
	f, err := os.OpenFile(l.opts.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: stat: %w", err)
	}
	l.f, l.size = f, st.Size()
	l.w = bufio.NewWriterSize(f, 64<<10)
	return nil
}

// record is one line of the trail.
type record struct {
	Time       string  `json:"time"`
	Op         string  `json:"op"`
	Client     string  `json:"client"`
	Service    string  `json:"service,omitempty"`
	Kind       string  `json:"kind,omitempty"`
	ID         string  `json:"id,omitempty"`
	Route      string  `json:"route,omitempty"`
	Backend    string  `json:"backend,omitempty"`
	Code       int     `json:"code"`
	Result     string  `json:"result"`
	Reason     string  `json:"reason,omitempty"`
	Cached     bool    `json:"cached"`
	Throttled  float64 `json:"throttled_seconds,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// OpDone queues the line of a bind, a password change or a staff
// console log-in ("staff_login"); other operations are not audited.
func (l *Log) OpDone(ev proxy.OpEvent) {
	if ev.Op != "bind" && ev.Op != "passwd" && ev.Op != "staff_login" {
		return
	}
	b, err := json.Marshal(record{
		Time: ev.Time.UTC().Format(time.RFC3339Nano), Op: ev.Op, Client: ev.Client, Service: ev.Service,
		Kind: ev.Kind, ID: ev.ID, Route: ev.Route, Backend: ev.Backend, Code: ev.Code,
		Result: resultWord(ev.Code), Reason: string(ev.Reason), Cached: ev.Cached,
		Throttled: ev.Throttled.Seconds(), DurationMS: float64(ev.Duration.Microseconds()) / 1000,
	})
	if err != nil {
		return
	}
	b = append(b, '\n')
	select {
	case l.queue <- b:
	default:
		l.dropped.Add(1)
	}
}

func resultWord(code int) string {
	switch code {
	case 0:
		return "success"
	case 49:
		return "failure"
	case 51, 52:
		return "unavailable"
	}
	return "refused"
}

// ConnOpened implements proxy.Observer (not audited).
func (l *Log) ConnOpened() {}

// ConnClosed implements proxy.Observer (not audited).
func (l *Log) ConnClosed() {}

// ConnRejected implements proxy.Observer (not audited).
func (l *Log) ConnRejected(string) {}

// Dropped is how many lines were dropped because the queue was full.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Written is how many lines were written.
func (l *Log) Written() uint64 { return l.written.Load() }

// Close writes what is queued and closes the file.
func (l *Log) Close() error {
	l.once.Do(func() { close(l.queue) })
	<-l.done
	if l.f != nil {
		return l.f.Close()
	}
	return nil
}

func (l *Log) run() {
	defer close(l.done)
	for b := range l.queue {
		l.write(b)
		// Flush when nothing else is waiting, so lines reach the file
		// promptly without a syscall per line under load.
		if len(l.queue) == 0 {
			l.w.Flush()
		}
	}
	l.w.Flush()
}

func (l *Log) write(b []byte) {
	if l.f != nil && l.size+int64(len(b)) > l.opts.MaxBytes && l.size > 0 {
		l.rotate()
	}
	n, err := l.w.Write(b)
	l.size += int64(n)
	if err == nil {
		l.written.Add(1)
	}
}

// rotate renames path → path.1 → path.2 … keeping MaxFiles, and reopens.
func (l *Log) rotate() {
	l.w.Flush()
	l.f.Close()
	p := l.opts.Path
	os.Remove(fmt.Sprintf("%s.%d", p, l.opts.MaxFiles))
	for i := l.opts.MaxFiles - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", p, i), fmt.Sprintf("%s.%d", p, i+1))
	}
	os.Rename(p, p+".1")
	if err := l.open(); err != nil {
		// Keep going to stderr rather than lose the trail silently.
		fmt.Fprintf(os.Stderr, "bindery: audit: cannot reopen %s after rotation: %v\n", p, err)
		l.f = nil
		l.w = bufio.NewWriter(os.Stderr)
	}
}
