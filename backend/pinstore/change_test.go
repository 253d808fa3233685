package pinstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bindery/bindery/backend"
)

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, func(o *Options) { o.NoChangeCategories = []string{"walkin"} })
	addWithPIN(t, s, "CU1")
	if err := s.AddPatron(ctx, Patron{ID: "W1", Category: "walkin"}, staff); err != nil {
		t.Fatal(err)
	}
	s.SetPIN(ctx, "W1", goodPIN, staff)
	if err := s.AddPatron(ctx, Patron{ID: "S1"}, staff); err != nil {
		t.Fatal(err)
	}
	s.SetPIN(ctx, "S1", goodPIN, staff)
	s.Suspend(ctx, "S1", "fines", staff)

	cases := []struct {
		name    string
		req     backend.PasswordChange
		wantErr error // nil, a sentinel, or policyErr
		policy  []string
		gen     bool
		noCount bool // a wrong old PIN that is not counted (the account may not change it anyway)
	}{
		{"wrong old", backend.PasswordChange{ID: "CU1", Old: wrongPIN, New: "NewPin2026x"}, backend.ErrWrongOldPassword, nil, false, false},
		{"policy", backend.PasswordChange{ID: "CU1", Old: goodPIN, New: "short"}, nil, []string{"too_short", "too_few_classes"}, false, false},
		{"same as old", backend.PasswordChange{ID: "CU1", Old: goodPIN, New: goodPIN}, nil, []string{"same_as_old"}, false, false},
		{"category may not change", backend.PasswordChange{ID: "W1", Old: goodPIN, New: "NewPin2026x"}, backend.ErrNotPermitted, nil, false, false},
		// The right PIN on a suspended account gets what a wrong one gets.
		{"suspended self-service", backend.PasswordChange{ID: "S1", Old: goodPIN, New: "NewPin2026x"}, backend.ErrWrongOldPassword, nil, false, true},
		{"unknown", backend.PasswordChange{ID: "nobody", Old: goodPIN, New: "NewPin2026x"}, backend.ErrNotFound, nil, false, false},
		{"self-service ok", backend.PasswordChange{ID: "CU1", Old: goodPIN, New: "NewPin2026x"}, nil, nil, false, false},
		{"generated", backend.PasswordChange{ID: "CU1", Old: "NewPin2026x"}, nil, nil, true, false},
		{"staff force on restricted category", backend.PasswordChange{ID: "W1", Force: true, New: "Counter2026", MustChange: true, Operator: staff}, nil, nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := s.GetPatron(ctx, c.req.ID)
			got, err := s.ChangePassword(ctx, c.req)
			switch {
			case c.policy != nil:
				var pe *backend.PolicyError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want PolicyError", err)
				}
				var codes []string
				for _, p := range pe.Problems {
					codes = append(codes, p.Code)
				}
				if strings.Join(codes, ",") != strings.Join(c.policy, ",") {
					t.Errorf("codes %v, want %v", codes, c.policy)
				}
			case c.wantErr != nil:
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			if c.gen != (got != "") {
				t.Errorf("generated = %q, want generated %v", got, c.gen)
			}
			if c.gen && DefaultPolicy.Check(got) != nil {
				t.Errorf("generated PIN fails the policy")
			}
			after, _ := s.GetPatron(ctx, c.req.ID)
			if c.wantErr == backend.ErrWrongOldPassword && !c.noCount && after.FailureCount != before.FailureCount+1 {
				t.Errorf("wrong old PIN not counted: %d -> %d", before.FailureCount, after.FailureCount)
			}
			if err == nil && after != nil && (after.Generation != before.Generation+1 || after.MustChange != c.req.MustChange) {
				t.Errorf("after change: gen %d->%d mustChange %v", before.Generation, after.Generation, after.MustChange)
			}
		})
	}

	// The generated PIN works; the one before it does not.
	if _, ok, _ := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: "NewPin2026x"}); ok {
		t.Error("old PIN still works")
	}
	// W1 got a staff PIN that must be changed.
	res, ok, _ := s.Authenticate(ctx, backend.Credentials{ID: "W1", Password: "Counter2026"})
	if !ok || !res.MustChange {
		t.Errorf("forced PIN: %+v %v", res, ok)
	}
	log, _ := s.AuditLog(ctx, "W1", 10)
	if len(log) == 0 || log[0].Action != "reset-pin" || log[0].Operator != staff {
		t.Errorf("audit = %+v", log)
	}
	for _, e := range log {
		if strings.Contains(e.Detail, "Counter2026") {
			t.Error("audit contains the PIN")
		}
	}
}

func TestChangePasswordClearsLock(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	addWithPIN(t, s, "CU1")
	for range 5 {
		s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: wrongPIN})
	}
	// Self-service while locked is refused as if the old PIN were wrong
	// (the right one here), so the answer does not tell the lock.
	if _, err := s.ChangePassword(ctx, backend.PasswordChange{ID: "CU1", Old: goodPIN, New: "NewPin2026x"}); !errors.Is(err, backend.ErrWrongOldPassword) {
		t.Errorf("self-service while locked: %v, want ErrWrongOldPassword", err)
	}
	pin, err := s.ResetPIN(ctx, "CU1", staff)
	if err != nil {
		t.Fatal(err)
	}
	res, ok, _ := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: pin})
	if !ok || !res.MustChange || res.Reason != backend.ReasonMustChange {
		t.Fatalf("after reset: %+v %v", res, ok)
	}
	if _, err := s.ChangePassword(ctx, backend.PasswordChange{ID: "CU1", Old: pin, New: "MyOwnPin2026"}); err != nil {
		t.Fatal(err)
	}
	res, ok, _ = s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: "MyOwnPin2026"})
	if !ok || res.MustChange {
		t.Errorf("after change: %+v %v", res, ok)
	}
}

func TestReadOnlyStore(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	addWithPIN(t, s, "CU1")
	ro, err := Open(ctx, Options{DSN: "file:" + dbPath(t, s) + "?mode=ro", Hash: cheap, Logger: s.log, Now: s.clock, Location: hkt})
	if err != nil {
		t.Fatalf("open read-only: %v", err)
	}
	defer ro.Close()
	// A bind still succeeds when its bookkeeping cannot be written.
	if _, ok, err := ro.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN}); !ok || err != nil {
		t.Errorf("bind on a read-only store: %v %v", ok, err)
	}
	if _, err := ro.ChangePassword(ctx, backend.PasswordChange{ID: "CU1", Old: goodPIN, New: "NewPin2026x"}); !errors.Is(err, backend.ErrReadOnly) {
		t.Errorf("change on a read-only store: %v, want ErrReadOnly", err)
	}
}

// dbPath returns the file of a store opened by newStore.
func dbPath(t *testing.T, s *Store) string {
	t.Helper()
	var seq int
	var name, file string
	if err := s.r.QueryRow("PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	return file
}
