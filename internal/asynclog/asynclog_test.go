package asynclog

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an io.Writer that keeps what it gets; with gate set, each
// Write first signals entered and then waits for gate.
type recorder struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	writes  int
	entered chan struct{}
	gate    chan struct{}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.gate != nil {
		select {
		case r.entered <- struct{}{}:
		default:
		}
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	return r.buf.Write(p)
}

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.TrimSuffix(r.buf.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestOrderPreserved(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue int
		lines int
	}{
		{"small queue, few lines", 16, 10},
		{"default queue, many lines", 0, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			w := NewWriter(rec, tc.queue)
			want := make([]string, 0, tc.lines)
			for i := 0; i < tc.lines; i++ {
				line := fmt.Sprintf("line %d", i)
				want = append(want, line)
				// Wait for room rather than drop, so that every line is kept.
				for !w.room() {
				}
				if n, err := io.WriteString(w, line+"\n"); err != nil || n != len(line)+1 {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.Close()
			got := rec.lines()
			if len(got) != len(want) {
				t.Fatalf("%d lines, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
				}
			}
			if d := w.Dropped(); d != 0 {
				t.Errorf("Dropped = %d, want 0", d)
			}
		})
	}
}

func TestDropsWhenWriterBlocks(t *testing.T) {
	for _, tc := range []struct {
		queue, extra int
	}{
		{1, 1},
		{4, 3},
		{64, 100},
	} {
		t.Run(fmt.Sprintf("queue=%d extra=%d", tc.queue, tc.extra), func(t *testing.T) {
			rec := &recorder{entered: make(chan struct{}, 1), gate: make(chan struct{})}
			w := NewWriter(rec, tc.queue)
			io.WriteString(w, "first\n")
			<-rec.entered // the drain goroutine holds "first" and is blocked in Write
			for i := 0; i < tc.queue+tc.extra; i++ {
				// Never blocks, although the writer does.
				fmt.Fprintf(w, "line %d\n", i)
			}
			if got := w.Dropped(); got != uint64(tc.extra) {
				t.Errorf("Dropped = %d, want %d", got, tc.extra)
			}
			close(rec.gate)
			w.Close()
			got := rec.lines()
			if len(got) != 1+tc.queue {
				t.Fatalf("%d lines written, want %d: %q", len(got), 1+tc.queue, got)
			}
			for i, l := range got[1:] {
				if want := fmt.Sprintf("line %d", i); l != want {
					t.Errorf("line %d = %q, want %q (the queued lines, not the dropped ones)", i+1, l, want)
				}
			}
		})
	}
}

func TestCloseDrains(t *testing.T) {
	rec := &recorder{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	w := NewWriter(rec, 100)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(w, "line %d\n", i)
	}
	closed := make(chan struct{})
	go func() {
		w.Close()
		close(closed)
	}()
	<-rec.entered
	select {
	case <-closed:
		t.Fatal("Close returned while lines were still queued")
	default:
	}
	close(rec.gate)
	<-closed
	if got := len(rec.lines()); got != 100 {
		t.Fatalf("%d lines after Close, want 100", got)
	}
	// After Close, writes are synchronous.
	io.WriteString(w, "late\n")
	if got := rec.lines(); got[len(got)-1] != "late" {
		t.Errorf("last line %q, want late", got[len(got)-1])
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBatching(t *testing.T) {
	rec := &recorder{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	w := NewWriter(rec, 100)
	io.WriteString(w, "first\n")
	<-rec.entered
	for i := 0; i < 50; i++ {
		fmt.Fprintf(w, "line %d\n", i)
	}
	close(rec.gate)
	w.Close()
	if len(rec.lines()) != 51 {
		t.Fatalf("%d lines, want 51", len(rec.lines()))
	}
	if rec.writes != 2 {
		t.Errorf("%d writes, want 2 (first, then the 50 waiting lines in one batch)", rec.writes)
	}
}

// TestLingerGathersLines: lines that come one at a time, each before the
// last was written, go out in one write, not one write each.
func TestLingerGathersLines(t *testing.T) {
	rec := &recorder{}
	w := newWriter(rec, 100, 200*time.Millisecond)
	for i := 0; i < 5; i++ {
		fmt.Fprintf(w, "line %d\n", i)
		time.Sleep(time.Millisecond)
	}
	w.Close()
	if got := len(rec.lines()); got != 5 {
		t.Fatalf("%d lines, want 5", got)
	}
	if rec.writes != 1 {
		t.Errorf("%d writes, want 1 (five lines within the linger)", rec.writes)
	}
}

func TestHandlerReportsDrops(t *testing.T) {
	rec := &recorder{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	h := New(rec, 2, func(w io.Writer) slog.Handler {
		return slog.NewTextHandler(w, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		})
	})
	log := slog.New(h).With("component", "test")
	log.Info("first")
	<-rec.entered
	for i := 0; i < 5; i++ {
		log.Info("bind", "n", i) // 2 queued, 3 dropped
	}
	close(rec.gate)
	h.Writer().Close() // drain; later records are written synchronously
	log.Info("after")
	h.Close()
	got := rec.lines()
	want := []string{
		`level=INFO msg=first component=test`,
		`level=INFO msg=bind component=test n=0`,
		`level=INFO msg=bind component=test n=1`,
		`level=WARN msg="log lines dropped" count=3 total=3`,
		`level=INFO msg=after component=test`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if h.Dropped() != 3 {
		t.Errorf("Dropped = %d, want 3", h.Dropped())
	}
}

func TestConcurrentWriters(t *testing.T) {
	rec := &recorder{}
	h := New(rec, 1<<16, func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) })
	log := slog.New(h)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				log.Info("bind", "g", g, "i", i)
			}
		}()
	}
	wg.Wait()
	h.Close()
	lines := rec.lines()
	if len(lines) != 4000 {
		t.Fatalf("%d lines, want 4000", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "time=") || !strings.Contains(l, "msg=bind") {
			t.Fatalf("mangled line %q", l)
		}
	}
}

// BenchmarkLogLine is the reason the package exists, measured: the cost to
// a serving goroutine of one bind-like line at Info, written to a file,
// by slog's own text handler (a write system call per line) and through
// the queue (one write per batch, off the caller's goroutine), side by
// side in one run.
//
//	go test -run x -bench LogLine -benchmem ./internal/asynclog
func BenchmarkLogLine(b *testing.B) {
	line := func(log *slog.Logger) {
		log.Info("bind", "op", "bind", "client", "127.0.0.1:40000", "route", "julac", "backend", "pins",
			"id", "CU1234567", "code", 0, "reason", "", "duration", 38*time.Microsecond, "cache", true)
	}
	for _, mode := range []string{"slog-direct", "asynclog"} {
		b.Run(mode, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "bindery.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var log *slog.Logger
			if mode == "asynclog" {
				h := New(f, 0, func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) })
				defer func() {
					h.Close()
					// A line dropped is a line not written: the comparison
					// only holds while this stays 0.
					b.ReportMetric(float64(h.Dropped())/float64(b.N), "dropped/op")
				}()
				log = slog.New(h)
			} else {
				log = slog.New(slog.NewTextHandler(f, nil))
			}
			b.ReportAllocs()
			for b.Loop() {
				line(log)
			}
		})
	}
}

func BenchmarkHandlerInfo(b *testing.B) {
	h := New(io.Discard, 0, func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) })
	defer h.Close()
	log := slog.New(h)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			log.Info("bind", "op", "bind", "client", "127.0.0.1:40000", "code", 0, "id", "CU1234567", "cache", true)
		}
	})
}
