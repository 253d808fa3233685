package pinstore

import (
	"context"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
)

// TestFailureCountLandsLate: when the writer is held past the bind's bound
// (a storm queued on it), the wrong PIN is still answered as one, and its
// failure is counted once the writer is free, not lost.
func TestFailureCountLandsLate(t *testing.T) {
	if envFor(t).driver != "sqlite" {
		t.Skip("holds SQLite's single writer connection")
	}
	old := failureBound
	failureBound = 100 * time.Millisecond
	t.Cleanup(func() { failureBound = old })
	s, _ := newStore(t, nil)
	addWithPIN(t, s, "CU1234567")
	ctx := context.Background()

	hold, err := s.w.Conn(ctx) // the writer's only connection
	if err != nil {
		t.Fatal(err)
	}
	res, ok, err := s.Authenticate(ctx, backend.Credentials{ID: "CU1234567", Password: wrongPIN, ClientAddr: "192.0.2.7:1"})
	if err != nil || ok || res.Reason != backend.ReasonBadCredentials {
		t.Fatalf("wrong PIN with the writer held: ok=%v reason=%q err=%v", ok, res.Reason, err)
	}
	hold.Close()

	deadline := time.Now().Add(30 * time.Second)
	for {
		ex, err := s.Explain(ctx, "CU1234567")
		if err != nil {
			t.Fatal(err)
		}
		if ex.FailureCount == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failure count %d long after the writer was free, want 1", ex.FailureCount)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
