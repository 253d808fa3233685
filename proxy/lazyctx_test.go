package proxy

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type ctxKey struct{}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestLazyCtxLikeTheReal: every way a lazyCtx ends gives what
// context.WithCancel / WithDeadline would, whether or not Done was called
// before, and Err never changes once set.
func TestLazyCtxLikeTheReal(t *testing.T) {
	t.Run("cancel before Done", func(t *testing.T) {
		var c lazyCtx
		c.init(context.Background(), time.Time{})
		if c.Err() != nil || c.real != nil {
			t.Fatal("not lazy, or ended")
		}
		c.cancel()
		if c.real != nil {
			t.Error("cancel made the real context")
		}
		if !errors.Is(c.Err(), context.Canceled) || !closed(c.Done()) || !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("Err %v, Done closed %v", c.Err(), closed(c.Done()))
		}
	})
	t.Run("Done then cancel", func(t *testing.T) {
		var c lazyCtx
		c.init(context.Background(), time.Time{})
		d := c.Done()
		if closed(d) {
			t.Fatal("closed early")
		}
		c.cancel()
		c.cancel()
		if !closed(d) || !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("Err %v", c.Err())
		}
	})
	t.Run("deadline passes unobserved", func(t *testing.T) {
		var c lazyCtx
		c.init(context.Background(), time.Now().Add(time.Millisecond))
		time.Sleep(5 * time.Millisecond)
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err %v", c.Err())
		}
		c.cancel()
		if !errors.Is(c.Err(), context.DeadlineExceeded) || !closed(c.Done()) || !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("after cancel and Done: %v", c.Err())
		}
	})
	t.Run("waited on until the deadline", func(t *testing.T) {
		var c lazyCtx
		c.init(context.Background(), time.Now().Add(20*time.Millisecond))
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed at the deadline")
		}
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err %v", c.Err())
		}
		c.cancel()
	})
	t.Run("parent cancelled", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
		var c lazyCtx
		c.init(parent, time.Now().Add(time.Hour))
		if c.Value(ctxKey{}) != "v" {
			t.Error("Value not passed through")
		}
		cancel()
		if !errors.Is(c.Err(), context.Canceled) || !closed(c.Done()) {
			t.Errorf("Err %v", c.Err())
		}
		c.cancel()
	})
	t.Run("cancelled, then the parent", func(t *testing.T) {
		parent, cancelParent := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
		var c lazyCtx
		c.init(parent, time.Time{})
		c.cancel()
		cancelParent()
		if !errors.Is(c.Err(), context.Canceled) || !closed(c.Done()) || !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("Err %v", c.Err())
		}
	})
	t.Run("deadline is the earlier", func(t *testing.T) {
		soon, late := time.Now().Add(time.Minute), time.Now().Add(time.Hour)
		parent, cancel := context.WithDeadline(context.Background(), soon)
		defer cancel()
		var c lazyCtx
		c.init(parent, late)
		if d, ok := c.Deadline(); !ok || !d.Equal(soon) {
			t.Errorf("Deadline %v %v, want the parent's", d, ok)
		}
		var c2 lazyCtx
		c2.init(context.Background(), late)
		if d, ok := c2.Deadline(); !ok || !d.Equal(late) {
			t.Errorf("Deadline %v %v, want its own", d, ok)
		}
		var c3 lazyCtx
		c3.init(context.Background(), time.Time{})
		if _, ok := c3.Deadline(); ok {
			t.Error("a deadline from nowhere")
		}
	})
	t.Run("children and AfterFunc follow it", func(t *testing.T) {
		var c lazyCtx
		c.init(context.Background(), time.Time{})
		child, cancelChild := context.WithCancel(&c)
		defer cancelChild()
		ran := make(chan struct{})
		context.AfterFunc(&c, func() { close(ran) })
		c.cancel()
		<-ran
		if !errors.Is(child.Err(), context.Canceled) {
			t.Errorf("child Err %v", child.Err())
		}
	})
}

// TestLazyCtxConcurrent: cancel and Done from several goroutines (-race).
func TestLazyCtxConcurrent(t *testing.T) {
	for i := 0; i < 100; i++ {
		var c lazyCtx
		c.init(context.Background(), time.Now().Add(time.Hour))
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if g%2 == 0 {
					c.cancel()
				} else {
					<-c.Done()
				}
			}()
		}
		wg.Wait()
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("Err %v", c.Err())
		}
	}
}

// BenchmarkBindContexts: what an operation's context and its backend
// call's context cost when nothing waits on them (a cached bind), with
// context.WithCancel + WithTimeout as before and with lazyCtx.
func BenchmarkBindContexts(b *testing.B) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("context", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			octx, ocancel := context.WithCancel(parent)
			bctx, bcancel := context.WithTimeout(octx, 5*time.Second)
			_ = bctx.Err()
			bcancel()
			ocancel()
		}
	})
	b.Run("lazy", func(b *testing.B) {
		b.ReportAllocs()
		var o op
		for b.Loop() {
			cachedBindContexts(&o, parent)
		}
	})
}

// TestLazyCtxAllocatesNothing: an operation's context and its backend
// call's, never waited on, cost no allocation (context.WithCancel +
// WithTimeout cost 9; BenchmarkBindContexts prints both).
func TestLazyCtxAllocatesNothing(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := new(op)
	allocs := testing.AllocsPerRun(1000, func() { cachedBindContexts(o, parent) })
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

// cachedBindContexts is what a cached bind does with its contexts: the
// operation's and the backend call's, asked for Err and never waited on.
func cachedBindContexts(o *op, parent context.Context) {
	o.lctx = lazyCtx{}
	o.callCtx = lazyCtx{}
	o.lctx.init(parent, time.Time{})
	o.callCtx.init(&o.lctx, time.Now().Add(5*time.Second))
	_ = o.callCtx.Err()
	o.callCtx.cancel()
	o.lctx.cancel()
}
