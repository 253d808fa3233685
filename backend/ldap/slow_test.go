package ldapbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
)

// slowProxy forwards TCP to an upstream, holding each chunk for a settable
// delay in both directions: a directory that answers slowly.
type slowProxy struct {
	l        net.Listener
	upstream string
	delay    atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]bool
	closed   bool
	wg       sync.WaitGroup
}

func newSlowProxy(t *testing.T, upstream string) *slowProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{l: l, upstream: upstream, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			down, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				down.Close()
				continue
			}
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				down.Close()
				up.Close()
				return
			}
			p.conns[down], p.conns[up] = true, true
			p.wg.Add(2)
			p.mu.Unlock()
			go p.pipe(up, down)
			go p.pipe(down, up)
		}
	}()
	t.Cleanup(p.Close)
	return p
}

func (p *slowProxy) url() string { return "ldap://" + p.l.Addr().String() }

func (p *slowProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			time.Sleep(time.Duration(p.delay.Load()))
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Close stops the proxy and its connections and waits for its goroutines.
func (p *slowProxy) Close() {
	p.l.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// settle waits until the goroutine count is at most want, for up to 10s,
// and returns the last count.
func settle(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); n > want && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		runtime.GC()
		n = runtime.NumGoroutine()
	}
	return n
}

func goroutineDump() string {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	return b.String()
}

// TestSlowUpstreamLeaksNoGoroutines: a directory slower than Timeout makes
// every call fail with ErrUnavailable within a few timeouts; the calls
// that gave up leave no goroutine behind once the directory answers again
// (the pools shrink back to what they held before), and Close leaves
// none at all. Not parallel: it counts the process's goroutines.
func TestSlowUpstreamLeaksNoGoroutines(t *testing.T) {
	s := startSlapd(t, false)
	p := newSlowProxy(t, fmt.Sprintf("127.0.0.1:%d", s.Port()))
	const timeout = 300 * time.Millisecond
	const poolSize = 4
	base := settle(0)
	b, err := New(Config{URLs: []string{p.url()}, BindDN: serviceDN, BindPassword: servicePW,
		BaseDN: "dc=example,dc=org", Timeout: timeout, PoolSize: poolSize})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			b.Close()
		}
	}()
	if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
		t.Fatalf("before the slowdown: ok=%v err=%v", ok, err)
	}
	warm := runtime.NumGoroutine()

	p.delay.Store(int64(4 * timeout))
	const calls = 50
	var wg sync.WaitGroup
	var notUnavailable, tooSlow atomic.Int64
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := time.Now()
			var err error
			if i%2 == 0 {
				_, _, err = auth(b, "jchan", jchanPW)
			} else {
				_, err = b.Lookup(context.Background(), "u3551234")
			}
			if !errors.Is(err, backend.ErrUnavailable) {
				notUnavailable.Add(1)
				t.Logf("call %d through a slow directory: %v", i, err)
			}
			if d := time.Since(start); d > 5*timeout {
				tooSlow.Add(1)
				t.Logf("call %d took %v (timeout %v)", i, d, timeout)
			}
		}(i)
	}
	wg.Wait()
	during := runtime.NumGoroutine()
	if n := notUnavailable.Load(); n > 0 {
		t.Errorf("%d of %d calls through a slow directory did not fail with ErrUnavailable", n, calls)
	}
	if n := tooSlow.Load(); n > 0 {
		t.Errorf("%d of %d calls took more than 5x the %v timeout", n, calls, timeout)
	}

	p.delay.Store(0)
	var lastErr error
	for i := 0; i < 50; i++ {
		if _, ok, err := auth(b, "jchan", jchanPW); ok && err == nil {
			lastErr = nil
			break
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("after the directory became fast again: %v", lastErr)
	}
	// The backend's client runs no goroutine of its own per connection;
	// the test's slow proxy runs two (one each way). Whatever the two
	// pools hold now may exceed what they held warm, but not beyond two
	// full pools of proxied connections.
	limit := warm + 2*poolSize*2
	after := settle(limit)
	t.Logf("goroutines: %d before the backend, %d warm, %d right after %d slow calls, %d once fast again (limit %d)",
		base, warm, during, calls, after, limit)
	if after > limit {
		t.Fatalf("%d goroutines once the directory is fast again, more than %d: calls that timed out left goroutines behind\n%s", after, limit, goroutineDump())
	}

	b.Close()
	closed = true
	p.Close()
	if final := settle(base); final > base {
		t.Fatalf("%d goroutines after Close, %d before the backend existed\n%s", final, base, goroutineDump())
	} else {
		t.Logf("goroutines after Close and the proxy's end: %d (before: %d)", final, base)
	}
}
