// Package audit writes bindery's authentication audit trail: one JSON line
// per bind, per password change and per staff console log-in (time, client address, service account
// if any, login ID, route, backend, result, reason, cache hit, duration),
// never a password. Lines go through an asynclog.Writer, so a slow disk
// never holds up a bind; files rotate by size. See README.md.
package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bindery/bindery/internal/asynclog"
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
	// Queue is how many lines may wait to be written; default asynclog.DefaultQueue.
	Queue int
	// Stdout replaces os.Stdout (tests).
	Stdout io.Writer
}

// Log is an asynchronous audit writer. It implements proxy.Observer (only
// binds and password changes are written). Lines go through an
// asynclog.Writer, as the process log does.
type Log struct {
	w    *asynclog.Writer
	file *rotatingFile // nil for standard output
}

// Defaults.
const (
	DefaultMaxBytes = 100 << 20
	DefaultMaxFiles = 5
)

// New opens the audit file (creating it 0600) and starts the writer.
func New(o Options) (*Log, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	l := &Log{}
	var out io.Writer
	if o.Path == "-" {
		out = o.Stdout
		if out == nil {
			out = os.Stdout
		}
	} else {
		f := &rotatingFile{path: o.Path, maxBytes: o.MaxBytes, maxFiles: o.MaxFiles}
		if err := f.open(); err != nil {
			return nil, err
		}
		l.file, out = f, f
	}
	l.w = asynclog.NewWriter(out, o.Queue)
	return l, nil
}

// record is one line of the trail.
type record struct {
	Time       string  `json:"time"`
	Op         string  `json:"op"`
	Client     string  `json:"client"`
	Service    string  `json:"service,omitempty"`
	Kind       string  `json:"kind,omitempty"`
	ID         string  `json:"id,omitempty"`
	NameLen    int     `json:"name_len,omitempty"` // a name not written: it matched no route or did not parse
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
	if ev.NameLen > 0 && ev.Route == "" {
		ev.Route = "none"
	}
	b, err := json.Marshal(record{
		Time: ev.Time.UTC().Format(time.RFC3339Nano), Op: ev.Op, Client: ev.Client, Service: ev.Service,
		Kind: ev.Kind, ID: ev.ID, NameLen: ev.NameLen, Route: ev.Route, Backend: ev.Backend, Code: ev.Code,
		Result: resultWord(ev.Code), Reason: string(ev.Reason), Cached: ev.Cached,
		Throttled: ev.Throttled.Seconds(), DurationMS: float64(ev.Duration.Microseconds()) / 1000,
	})
	if err != nil {
		return
	}
	l.w.Write(append(b, '\n'))
}

func resultWord(code int) string {
	switch code {
	case proxy.NoResult:
		return "hung_up"
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
func (l *Log) Dropped() uint64 { return l.w.Dropped() }

// Close writes what is queued and closes the file.
func (l *Log) Close() error {
	l.w.Close()
	if l.file != nil {
		return l.file.close()
	}
	return nil
}

// rotatingFile is the audit file: written by the asynclog.Writer's one
// goroutine, renamed path → path.1 → … path.MaxFiles when the next lines
// would take it past maxBytes. A batch is split at line ends so that no
// file passes the limit and no line is split.
type rotatingFile struct {
	path     string
	maxBytes int64
	maxFiles int
	f        *os.File
	size     int64
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: stat: %w", err)
	}
	r.f, r.size = f, st.Size()
	return nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := fitLines(p, r.maxBytes-r.size)
		if n == 0 { // not even one more line fits: start a new file
			if r.size > 0 {
				r.rotate()
			}
			n = fitLines(p, r.maxBytes)
			if n == 0 { // one line longer than the limit: it goes alone
				n = bytes.IndexByte(p, '\n') + 1
				if n == 0 {
					n = len(p)
				}
			}
		}
		var out io.Writer = os.Stderr // the file could not be reopened: keep the trail somewhere
		if r.f != nil {
			out = r.f
		}
		m, err := out.Write(p[:n])
		r.size += int64(m)
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// fitLines is the length of the longest run of whole lines at the start
// of p that is at most room bytes.
func fitLines(p []byte, room int64) int {
	if room <= 0 {
		return 0
	}
	if int64(len(p)) <= room {
		return len(p)
	}
	return bytes.LastIndexByte(p[:room], '\n') + 1
}

// rotate renames path → path.1 → path.2 … keeping maxFiles, and reopens.
func (r *rotatingFile) rotate() {
	r.f.Close()
	r.f = nil
	p := r.path
	os.Remove(fmt.Sprintf("%s.%d", p, r.maxFiles))
	for i := r.maxFiles - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", p, i), fmt.Sprintf("%s.%d", p, i+1))
	}
	os.Rename(p, p+".1")
	if err := r.open(); err != nil {
		fmt.Fprintf(os.Stderr, "bindery: audit: cannot reopen %s after rotation, writing the trail here: %v\n", p, err)
	}
}

func (r *rotatingFile) close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}
