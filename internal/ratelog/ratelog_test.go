package ratelog

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu     sync.Mutex
	t      time.Time
	timers []func()
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) AfterFunc(_ time.Duration, f func()) {
	c.mu.Lock()
	c.timers = append(c.timers, f)
	c.mu.Unlock()
}

// advance moves the clock and runs the timers that were due.
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	ts := c.timers
	c.timers = nil
	c.mu.Unlock()
	for _, f := range ts {
		f()
	}
}

func newTest(maxKeys int) (*slog.Logger, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	clk := &clock{t: time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)}
	h := New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		Options{Interval: time.Minute, MaxKeys: maxKeys, Now: clk.Now, AfterFunc: clk.AfterFunc})
	return slog.New(h), &buf, clk
}

// TestRepeatedWarningsOncePerInterval: 1,000 identical warnings about one
// client (from many of its ports) give one line, then one line with the
// count when the minute ends; the same warning about another client, other
// messages and Info lines are not held back; after the minute the warning
// goes through again.
func TestRepeatedWarningsOncePerInterval(t *testing.T) {
	log, buf, clk := newTest(0)
	for i := range 1000 {
		log.Warn("malformed request; closing connection", "client", fmt.Sprintf("10.0.0.7:%d", 40000+i))
		log.Info("bind", "n", i)
	}
	log.Warn("malformed request; closing connection", "client", "10.0.0.8:1")
	log.Warn("malformed request; closing connection", "client", "[2001:db8::1]:1")
	log.Warn("malformed request; closing connection", "client", "[2001:db8::2]:1") // the same /64
	log.Warn("request too large; closing connection")
	log.With("backend", "pins").Error("pinstore: rehash failed")
	log.With("backend", "pins").Error("pinstore: rehash failed")
	out := buf.String()
	if n := strings.Count(out, "malformed request"); n != 3 {
		t.Fatalf("%d lines of the repeated warning before the minute ended, want 3 (one per client):\n%s", n, out)
	}
	if n := strings.Count(out, "msg=bind"); n != 1000 {
		t.Fatalf("%d Info lines, want all 1000", n)
	}
	if strings.Count(out, "too large") != 1 || strings.Count(out, "rehash failed") != 1 {
		t.Fatalf("other messages:\n%s", out)
	}
	buf.Reset()
	clk.advance(time.Minute)
	out = buf.String()
	for _, want := range []string{
		`level=WARN msg="malformed request; closing connection" client=10.0.0.7 repeated=999 within=1m0s`,
		`level=WARN msg="malformed request; closing connection" client=2001:db8:: repeated=1 within=1m0s`,
		`level=ERROR msg="pinstore: rehash failed" backend=pins repeated=1`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("the counts lack %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "too large") || strings.Contains(out, "10.0.0.8") {
		t.Fatalf("a warning that was not repeated got a count:\n%s", out)
	}
	buf.Reset()
	log.Warn("malformed request; closing connection", "client", "10.0.0.7:9")
	if !strings.Contains(buf.String(), "client=10.0.0.7:9") {
		t.Fatalf("after the minute the warning must go through again:\n%s", buf.String())
	}
}

// TestKeysBounded: past MaxKeys clients, a new client's warnings are
// limited together with every other new client's, by message; expired
// keys are forgotten to make room.
func TestKeysBounded(t *testing.T) {
	log, buf, clk := newTest(2)
	log.Warn("refused", "peer", "10.0.0.1:1")
	log.Warn("refused", "peer", "10.0.0.2:1")
	for i := range 50 {
		log.Warn("refused", "peer", fmt.Sprintf("10.0.1.%d:1", i))
	}
	if n := strings.Count(buf.String(), "msg=refused"); n != 3 {
		t.Fatalf("past MaxKeys: %d lines, want 3 (two clients, then one for all the rest)", n)
	}
	clk.advance(2 * time.Minute)
	if !strings.Contains(buf.String(), "msg=refused repeated=49") {
		t.Fatalf("the count of the clients past MaxKeys:\n%s", buf.String())
	}
	buf.Reset()
	log.Warn("refused", "peer", "10.0.2.1:1")
	log.Warn("refused", "peer", "10.0.2.2:1")
	if n := strings.Count(buf.String(), "peer=10.0.2"); n != 2 {
		t.Fatalf("after the old keys expired, two new clients: %d lines:\n%s", n, buf.String())
	}
}

// TestFlush: at exit the counts held back so far are written at once;
// the interval goes on (the same warning right after is still held back).
func TestFlush(t *testing.T) {
	var buf bytes.Buffer
	clk := &clock{t: time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)}
	h := New(slog.NewTextHandler(&buf, nil), Options{Now: clk.Now, AfterFunc: clk.AfterFunc})
	log := slog.New(h)
	for range 3 {
		log.Warn("connection refused: too many connections")
	}
	h.Flush()
	log.Warn("connection refused: too many connections")
	out := buf.String()
	if strings.Count(out, "too many connections") != 2 || !strings.Contains(out, "repeated=2") {
		t.Fatalf("after Flush:\n%s", out)
	}
	clk.advance(time.Minute)
	if !strings.Contains(buf.String(), "repeated=1") {
		t.Fatalf("the one held back after Flush is reported when the minute ends:\n%s", buf.String())
	}
}

func TestConcurrent(t *testing.T) {
	log, buf, clk := newTest(0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				log.Warn("storm")
			}
		}()
	}
	wg.Wait()
	clk.advance(time.Minute)
	if out := buf.String(); strings.Count(out, "msg=storm") != 2 || !strings.Contains(out, "repeated=3999") {
		t.Fatalf("8 x 500 warnings:\n%s", out)
	}
}
