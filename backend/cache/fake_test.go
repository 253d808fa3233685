package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/backend"
)

// fakeBackend counts calls and answers from a password map. It is also an
// Invalidator, PasswordChanger and PatronChecker.
type fakeBackend struct {
	mu        sync.Mutex
	passwords map[string]string
	state     map[string]backend.Reason // a blocking reason (locked...) per ID
	gen       map[string]uint64
	mustChg   map[string]bool
	down      bool
	gate      chan struct{} // when set, Authenticate waits for it to close
	waiting   atomic.Int64
	returned  atomic.Int64 // calls that got past the gate (or gave up on it)
	calls     atomic.Int64
	lookups   atomic.Int64
	listeners []func(string)
}

func newFake() *fakeBackend {
	return &fakeBackend{
		passwords: map[string]string{"CU1": "Right-pin-1", "CU2": "Right-pin-2"},
		state:     map[string]backend.Reason{},
		gen:       map[string]uint64{"CU1": 1, "CU2": 1},
		mustChg:   map[string]bool{},
	}
}

func (f *fakeBackend) Authenticate(ctx context.Context, c backend.Credentials) (backend.Result, bool, error) {
	f.calls.Add(1)
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		f.waiting.Add(1)
		select {
		case <-gate:
			f.returned.Add(1)
		case <-ctx.Done():
			f.returned.Add(1)
			return backend.Result{}, false, fmt.Errorf("fake: %w: %w", backend.ErrUnavailable, ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return backend.Result{}, false, fmt.Errorf("fake: %w", backend.ErrUnavailable)
	}
	pw, known := f.passwords[c.ID]
	switch {
	case !known:
		return backend.Result{Reason: backend.ReasonUnknownUser}, false, nil
	case f.state[c.ID] != "":
		return backend.Result{Reason: f.state[c.ID], Generation: f.gen[c.ID]}, false, nil
	case pw != c.Password:
		return backend.Result{Reason: backend.ReasonBadCredentials, Generation: f.gen[c.ID]}, false, nil
	}
	res := backend.Result{Entry: &backend.Entry{ID: c.ID, CommonName: "Chan"}, Generation: f.gen[c.ID]}
	if f.mustChg[c.ID] {
		res.MustChange, res.Reason = true, backend.ReasonMustChange
	}
	return res, true, nil
}

func (f *fakeBackend) Lookup(_ context.Context, id string) (*backend.Entry, error) {
	f.lookups.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.passwords[id]; !ok {
		return nil, backend.ErrNotFound
	}
	return &backend.Entry{ID: id}, nil
}

func (f *fakeBackend) Close() error { return nil }

func (f *fakeBackend) OnInvalidate(fn func(string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listeners = append(f.listeners, fn)
}

// change applies fn under the lock, bumps the generation of id and tells
// the listeners, as a store does after a commit.
func (f *fakeBackend) change(id string, fn func()) {
	f.mu.Lock()
	fn()
	f.gen[id]++
	ls := append([]func(string){}, f.listeners...)
	f.mu.Unlock()
	for _, l := range ls {
		l(id)
	}
}

func (f *fakeBackend) ChangePassword(_ context.Context, req backend.PasswordChange) (string, error) {
	f.change(req.ID, func() { f.passwords[req.ID] = req.New })
	return "", nil
}

func (f *fakeBackend) CheckPatron(context.Context, string) (backend.Reason, bool, error) {
	return "", true, nil
}

// plain is an Authenticator with no optional interface.
type plain struct{ backend.Authenticator }

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
