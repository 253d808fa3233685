package cache

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestVerifierRemembersOnlyAcceptedPasswords(t *testing.T) {
	calls := 0
	verify := func(_ context.Context, _, pw string) (bool, error) {
		calls++
		if pw == "busy" {
			return false, errors.New("busy")
		}
		return pw == "right", nil
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := NewVerifier(verify, time.Minute)
	v.now = func() time.Time { return now }
	steps := []struct {
		pw        string
		advance   time.Duration
		want      bool
		wantCalls int
	}{
		{"right", 0, true, 1},
		{"right", 0, true, 1},                // remembered
		{"wrong", 0, false, 2},               // a different password always goes to verify
		{"wrong", 0, false, 3},               // failures are not remembered
		{"right", 59 * time.Second, true, 3}, // still within ttl
		{"right", 2 * time.Second, true, 4},  // expired: verified again
		{"busy", 0, false, 5},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		got, _ := v.Verify(context.Background(), "10.0.0.1:1", s.pw)
		if got != s.want || calls != s.wantCalls {
			t.Fatalf("step %d (%s): got %v with %d calls, want %v with %d", i, s.pw, got, calls, s.want, s.wantCalls)
		}
	}
	off := NewVerifier(verify, 0)
	off.Verify(context.Background(), "", "right")
	off.Verify(context.Background(), "", "right")
	if calls != 7 {
		t.Fatalf("ttl 0 remembered a password (%d calls)", calls)
	}
}
