package hashpool

import (
	"context"
	"errors"
	"runtime"
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
