package pinstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/hashpool"
)

// recorder collects the IDs an invalidation callback receives.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.ids
	r.ids = nil
	return ids
}

func (r *recorder) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.ids, id)
}

// TestInvalidateCallbacks: every operation that changes what a bind may do
// calls the callbacks at once, with the right IDs; a plain success or an
// uncounted read does not.
func TestInvalidateCallbacks(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		do   func(t *testing.T, s *Store) error
		want []string
	}{
		{"change password", func(t *testing.T, s *Store) error {
			_, err := s.ChangePassword(ctx, backend.PasswordChange{ID: "CU1", Old: goodPIN, New: "Another2026x"})
			return err
		}, []string{"CU1"}},
		{"set pin", func(t *testing.T, s *Store) error { return s.SetPIN(ctx, "CU1", "Another2026x", staff) }, []string{"CU1"}},
		{"reset pin", func(t *testing.T, s *Store) error { _, err := s.ResetPIN(ctx, "CU1", staff); return err }, []string{"CU1"}},
		{"unlock", func(t *testing.T, s *Store) error { return s.Unlock(ctx, "CU1", staff) }, []string{"CU1"}},
		{"suspend", func(t *testing.T, s *Store) error { return s.Suspend(ctx, "CU1", "fines", staff) }, []string{"CU1"}},
		{"resume", func(t *testing.T, s *Store) error {
			if err := s.Suspend(ctx, "CU1", "fines", staff); err != nil {
				return err
			}
			return s.Resume(ctx, "CU1", staff)
		}, []string{"CU1", "CU1"}},
		{"expire", func(t *testing.T, s *Store) error { return s.Expire(ctx, "CU1", staff) }, []string{"CU1"}},
		{"delete", func(t *testing.T, s *Store) error { return s.Delete(ctx, "CU1", staff) }, []string{"CU1"}},
		{"replace card", func(t *testing.T, s *Store) error { return s.ReplaceCard(ctx, "CU1", "CU9", staff) }, []string{"CU1", "CU9"}},
		{"update patron", func(t *testing.T, s *Store) error {
			p, err := s.GetPatron(ctx, "CU1")
			if err != nil {
				return err
			}
			p.Category = "alumni"
			return s.UpdatePatron(ctx, *p, staff)
		}, []string{"CU1"}},
		{"add patron", func(t *testing.T, s *Store) error { return s.AddPatron(ctx, Patron{ID: "CU5"}, staff) }, []string{"CU5"}},
		{"import", func(t *testing.T, s *Store) error {
			_, err := s.Import(ctx, strings.NewReader("id,name\nCU1,New Name\nCU6,Someone\n"), ImportOptions{Operator: staff})
			return err
		}, []string{"CU1", "CU6"}},
		{"lock after failures", func(t *testing.T, s *Store) error {
			for range 5 {
				if _, _, err := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: wrongPIN}); err != nil {
					return err
				}
			}
			return nil
		}, []string{"CU1"}},
		{"wrong old PIN that locks", func(t *testing.T, s *Store) error {
			for range 5 {
				s.ChangePassword(ctx, backend.PasswordChange{ID: "CU1", Old: wrongPIN, New: "Another2026x"})
			}
			return nil
		}, []string{"CU1"}},
		{"success and failures below the limit: nothing", func(t *testing.T, s *Store) error {
			s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN})
			s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: wrongPIN})
			s.Lookup(ctx, "CU1")
			return nil
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, nil)
			addWithPIN(t, s, "CU1")
			rec := &recorder{}
			s.OnInvalidate(rec.add)
			if err := tc.do(t, s); err != nil {
				t.Fatal(err)
			}
			if got := rec.take(); !slices.Equal(got, tc.want) {
				t.Fatalf("invalidated %q, want %q", got, tc.want)
			}
		})
	}
}

// TestWatchOtherProcess: a second Store on the same file (binderyctl)
// resets a PIN; the serving Store's callbacks hear of it through the
// changes table.
func TestWatchOtherProcess(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "pins.db")
	open := func(watch bool) *Store {
		s, err := Open(ctx, Options{DSN: dsn, Hash: cheap, WatchChanges: watch, WatchInterval: 10 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	server := open(true)
	ctl := open(false)
	addWithPIN(t, ctl, "CU1")
	addWithPIN(t, ctl, "CU2")
	rec := &recorder{}
	server.OnInvalidate(rec.add)

	steps := []struct {
		name string
		do   func() error
		id   string
	}{
		{"reset", func() error { _, err := ctl.ResetPIN(ctx, "CU1", staff); return err }, "CU1"},
		{"suspend", func() error { return ctl.Suspend(ctx, "CU2", "fines", staff) }, "CU2"},
		{"replace card", func() error { return ctl.ReplaceCard(ctx, "CU1", "CU3", staff) }, "CU3"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for !rec.has(st.id) { // the test's own deadline bounds this wait
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestWatchStartsAtTheEnd: a reopened store starts after the rows already
// there (no replay of old changes such as CU0's).
func TestWatchStartsAtTheEnd(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "pins.db")
	o := Options{DSN: dsn, Hash: cheap, WatchChanges: true, WatchInterval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	addWithPIN(t, s, "CU0")
	addWithPIN(t, s, "CU1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	rec := &recorder{}
	s2.OnInvalidate(rec.add)
	// A change through s2 is heard at once (in process) and again by the
	// watcher; nothing from before the open is replayed.
	if err := s2.Unlock(ctx, "CU1", staff); err != nil {
		t.Fatal(err)
	}
	for {
		rec.mu.Lock()
		n := len(rec.ids)
		rec.mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, id := range rec.take() {
		if id != "CU1" {
			t.Fatalf("unexpected invalidation %q", id)
		}
	}
}

// TestHashPoolBusy: when hashing would not admit the caller (here: no
// waiting, the one worker busy), a bind is refused with ErrBusy before the
// store is read, and a PIN change too; each refusal is counted by the
// pool (bindery_hash_refused_total).
func TestHashPoolBusy(t *testing.T) {
	pool := hashpool.NewWith(hashpool.Options{Workers: 1, MaxWait: -1})
	s, _ := newStore(t, func(o *Options) { o.HashPool = pool })
	addWithPIN(t, s, "CU1")
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{})
	go pool.Do(ctx, "", func() { close(started); <-release })
	<-started
	_, _, err := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN, ClientAddr: "10.0.0.1:1"})
	if !errors.Is(err, backend.ErrBusy) {
		t.Fatalf("Authenticate with a full pool: %v, want ErrBusy", err)
	}
	_, err = s.ChangePassword(ctx, backend.PasswordChange{ID: "CU1", Old: goodPIN, New: "Another2026x"})
	if !errors.Is(err, backend.ErrBusy) {
		t.Fatalf("ChangePassword with a full pool: %v, want ErrBusy", err)
	}
	if got := pool.Stats().Refused; got != 2 {
		t.Fatalf("refusals counted = %d, want 2 (the bind refused before the read, the change)", got)
	}
	close(release)
	for pool.Stats().Running != 0 {
		time.Sleep(time.Millisecond)
	}
	if _, ok, err := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN}); !ok || err != nil {
		t.Fatalf("after: ok=%v err=%v", ok, err)
	}
}
