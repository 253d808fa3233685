package pinstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/pgtest"
)

// TestPostgresRestart: while PostgreSQL is down, binds fail with
// ErrUnavailable (never a wrong-PIN answer); after it is back the store
// reconnects by itself, the listener too, and the listener first drops
// everything (AllIDs) because notifications may have been missed.
func TestPostgresRestart(t *testing.T) {
	srv := pgtest.Start(t) // its own server: this test stops it
	ctx := context.Background()
	dsn := srv.NewDB(t)
	open := func(watch bool) *Store {
		s, err := Open(ctx, Options{Driver: "postgres", DSN: dsn, Hash: cheap, WatchChanges: watch,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	server, ctl := open(true), open(true) // two instances
	addWithPIN(t, ctl, "CU1")
	rec := &recorder{}
	server.OnInvalidate(rec.add)

	srv.Stop()
	_, ok, err := server.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN})
	if ok || !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("bind with the database down: ok=%v err=%v, want ErrUnavailable", ok, err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rec, AllIDs, 10*time.Second)
	if _, ok, err := server.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN}); !ok || err != nil {
		t.Fatalf("bind after the restart: ok=%v err=%v", ok, err)
	}
	rec.take()
	if _, err := ctl.ResetPIN(ctx, "CU1", staff); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rec, "CU1", time.Second)
}

// TestPostgresMigrateTogether: instances opening an empty database at
// the same moment migrate it once (the advisory lock), all succeed.
func TestPostgresMigrateTogether(t *testing.T) {
	srv := pgServer(t)
	dsn := srv.NewDB(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := Open(context.Background(), Options{Driver: "postgres", DSN: dsn, Hash: cheap})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor waits until rec has seen id, failing t after d.
func waitFor(t *testing.T, rec *recorder, id string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !rec.has(id) {
		if time.Now().After(deadline) {
			t.Fatalf("no invalidation of %q within %v", id, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
