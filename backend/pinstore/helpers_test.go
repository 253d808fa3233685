package pinstore

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/passhash"
)

var (
	hkt   = time.FixedZone("HKT", 8*3600)
	cheap = passhash.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	t0    = time.Date(2026, 3, 1, 10, 0, 0, 0, hkt)
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newStore opens a store in a temp dir with cheap hashing and a test clock,
// on the driver of the conformance run t belongs to (SQLite otherwise).
func newStore(t testing.TB, mod func(*Options)) (*Store, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	env := envFor(t)
	o := Options{
		Driver:   env.driver,
		DSN:      env.newDSN(t),
		Hash:     cheap,
		Now:      clk.Now,
		Location: hkt,
		Logger:   slog.New(slog.NewTextHandler(testLogOut(), nil)),
	}
	if mod != nil {
		mod(&o)
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

const (
	goodPIN  = "Library2026"
	wrongPIN = "Library2027"
	staff    = "alice"
)

// addWithPIN adds an active patron with goodPIN set (must_change false).
func addWithPIN(t testing.TB, s *Store, id string) {
	t.Helper()
	ctx := context.Background()
	if err := s.AddPatron(ctx, Patron{ID: id, Name: "Chan Tai Man", Email: id + "@example.edu", Category: "julac"}, staff); err != nil {
		t.Fatalf("AddPatron(%s): %v", id, err)
	}
	if err := s.SetPIN(ctx, id, goodPIN, staff); err != nil {
		t.Fatalf("SetPIN(%s): %v", id, err)
	}
}

// passhashZero is the zero Params: Open then uses passhash.DefaultParams.
func passhashZero() passhash.Params { return passhash.Params{} }

// testLogOut is where test stores log: nowhere, or stderr with
// PINSTORE_TEST_LOG set.
func testLogOut() io.Writer {
	if os.Getenv("PINSTORE_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}
