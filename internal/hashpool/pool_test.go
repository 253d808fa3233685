package hashpool

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bindery/bindery/backend"
)

// TestFullQueueIsBusy fills a pool of one worker and a queue of one; the
// third caller must be refused with ErrBusy without running its function.
func TestFullQueueIsBusy(t *testing.T) {
	p := New(1, 1)
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the worker
		defer wg.Done()
		p.Do(context.Background(), func() { close(started); <-release })
	}()
	<-started
	queued := make(chan error, 1)
	go func() { // the one that waits
		queued <- p.Do(context.Background(), func() {})
	}()
	for p.Stats().Waiting != 1 {
		runtime.Gosched()
	}
	if !p.Full() {
		t.Fatalf("Full() = false with the worker busy and the queue full")
	}
	ran := false
	err := p.Do(context.Background(), func() { ran = true })
	if !errors.Is(err, backend.ErrBusy) || ran {
		t.Fatalf("third Do = %v (ran %v), want ErrBusy without running", err, ran)
	}
	if got := p.Stats().Refused; got != 1 {
		t.Errorf("Refused = %d, want 1", got)
	}
	close(release)
	wg.Wait()
	if err := <-queued; err != nil {
		t.Errorf("queued Do = %v, want nil", err)
	}
	if s := p.Stats(); s.Running != 0 || s.Waiting != 0 {
		t.Errorf("after: %+v, want nothing running or waiting", s)
	}
	if p.Full() {
		t.Errorf("Full() = true with nothing running")
	}
	var nilPool *Pool
	if nilPool.Full() {
		t.Errorf("a nil pool is never full")
	}
}

// TestCancelWhileWaiting: a waiting caller whose context ends gets
// ErrUnavailable.
func TestCancelWhileWaiting(t *testing.T) {
	p := New(1, 4)
	release := make(chan struct{})
	started := make(chan struct{})
	go p.Do(context.Background(), func() { close(started); <-release })
	<-started
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.Do(ctx, func() { t.Error("ran after cancel") })
	if !errors.Is(err, backend.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want ErrUnavailable and Canceled", err)
	}
}

func TestNilAndDefaults(t *testing.T) {
	var p *Pool
	ran := false
	if err := p.Do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("nil pool: %v, ran %v", err, ran)
	}
	tests := []struct {
		workers, queue      int
		wantQueueIsWorkersX int
	}{
		{0, -1, 4}, {2, -1, 4}, {3, 0, 0},
	}
	for _, tc := range tests {
		s := New(tc.workers, tc.queue).Stats()
		if s.Workers < 1 || s.Queue != tc.wantQueueIsWorkersX*s.Workers {
			t.Errorf("New(%d, %d) = %+v", tc.workers, tc.queue, s)
		}
	}
}

// TestWorkersRunAtLowerPriority: with Nice the function runs on a worker
// thread whose nice value is raised (read back from /proc on Linux),
// panics reach the caller, GOMAXPROCS grows while the pool is open, and a
// closed pool refuses.
func TestWorkersRunAtLowerPriority(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	p := NewWith(Options{Workers: 2, Queue: 1, Nice: 5})
	if got := runtime.GOMAXPROCS(0); got != before+2 {
		t.Errorf("GOMAXPROCS with the pool open = %d, want %d", got, before+2)
	}
	var nice int
	var niceErr error
	if err := p.Do(context.Background(), func() { nice, niceErr = threadNice() }); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" {
		own, err := threadNice()
		if niceErr != nil || err != nil {
			t.Fatalf("reading nice values: %v, %v", niceErr, err)
		}
		if p.NiceErr() != nil {
			t.Fatalf("NiceErr = %v", p.NiceErr())
		}
		if nice != min(own+5, 19) {
			t.Errorf("worker nice = %d, caller's %d; want the caller's + 5", nice, own)
		}
	}

	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the worker's panic", r)
			}
		}()
		_ = p.Do(context.Background(), func() { panic("boom") })
		t.Error("Do returned after a panic")
	}()
	if err := p.Do(context.Background(), func() {}); err != nil {
		t.Fatalf("Do after a panic: %v (the worker must survive)", err)
	}

	p.Close()
	p.Close()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS after Close = %d, want %d", got, before)
	}
	ran := false
	if err := p.Do(context.Background(), func() { ran = true }); !errors.Is(err, backend.ErrUnavailable) || ran {
		t.Errorf("Do after Close = %v (ran %v), want ErrUnavailable", err, ran)
	}
}

// TestWorkersQueueIsBounded is TestFullQueueIsBusy for a pool with Nice.
func TestWorkersQueueIsBounded(t *testing.T) {
	p := NewWith(Options{Workers: 1, Queue: 1, Nice: 1})
	defer p.Close()
	release := make(chan struct{})
	started := make(chan struct{})
	first := make(chan error, 1)
	go func() { first <- p.Do(context.Background(), func() { close(started); <-release }) }()
	<-started
	queued := make(chan error, 1)
	go func() { queued <- p.Do(context.Background(), func() {}) }()
	for p.Stats().Waiting != 1 {
		runtime.Gosched()
	}
	ran := false
	if err := p.Do(context.Background(), func() { ran = true }); !errors.Is(err, backend.ErrBusy) || ran {
		t.Fatalf("third Do = %v (ran %v), want ErrBusy without running", err, ran)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	if err := p.Do(ctx, func() {}); err != nil && !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Do with an ended context = %v", err)
	}
}

// threadNice reads the nice value of the calling thread from
// /proc/thread-self/stat (field 19).
func threadNice() (int, error) {
	if runtime.GOOS != "linux" {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	return strconv.Atoi(fields[16]) // field 19 counted from 1, after pid and comm
}
