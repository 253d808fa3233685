package pinstore

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
)

var codeShape = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`)

func TestSetupCode(t *testing.T) {
	ctx := context.Background()
	const newPIN = "Fresh-PIN-2026"
	type fixture struct {
		s    *Store
		clk  *clock
		code string
	}
	setup := func(t *testing.T) fixture {
		s, clk := newStore(t, nil)
		if err := s.AddPatron(ctx, Patron{ID: "CU1000001", Name: "Chan"}, staff); err != nil {
			t.Fatal(err)
		}
		code, exp, err := s.IssueSetupCode(ctx, "CU1000001", 14*24*time.Hour, staff)
		if err != nil {
			t.Fatal(err)
		}
		if !codeShape.MatchString(code) {
			t.Fatalf("code %q is not four groups of four base32 characters", code)
		}
		if want := t0.Add(14 * 24 * time.Hour); !exp.Equal(want) {
			t.Fatalf("expires %v, want %v", exp, want)
		}
		return fixture{s, clk, code}
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, f *fixture) // may change the fixture
		id      string
		code    func(f fixture) string
		pin     string
		wantErr error // nil: success
		policy  string
	}{
		{name: "right code", code: func(f fixture) string { return f.code }, pin: newPIN},
		{name: "typed loosely", code: func(f fixture) string {
			return strings.ToLower(strings.ReplaceAll(f.code, "-", " "))
		}, pin: newPIN},
		{name: "wrong code", code: func(fixture) string { return "AAAA-BBBB-CCCC-DDDD" }, pin: newPIN, wantErr: ErrBadSetupCode},
		{name: "unknown card", id: "CU9999999", code: func(f fixture) string { return f.code }, pin: newPIN, wantErr: ErrBadSetupCode},
		{name: "bad new PIN", code: func(f fixture) string { return f.code }, pin: "short", policy: "too_short"},
		{name: "expired", prepare: func(t *testing.T, f *fixture) { f.clk.Advance(15 * 24 * time.Hour) },
			code: func(f fixture) string { return f.code }, pin: newPIN, wantErr: ErrSetupCodeExpired},
		{name: "replaced by a new code", prepare: func(t *testing.T, f *fixture) {
			if _, _, err := f.s.IssueSetupCode(ctx, "CU1000001", time.Hour, staff); err != nil {
				t.Fatal(err)
			}
		}, code: func(f fixture) string { return f.code }, pin: newPIN, wantErr: ErrBadSetupCode},
		{name: "suspended", prepare: func(t *testing.T, f *fixture) {
			if err := f.s.Suspend(ctx, "CU1000001", "fines", staff); err != nil {
				t.Fatal(err)
			}
		}, code: func(f fixture) string { return f.code }, pin: newPIN, wantErr: backend.ErrNotPermitted},
		{name: "pending may set up", prepare: func(t *testing.T, f *fixture) {
			p, _ := f.s.GetPatron(ctx, "CU1000001")
			p.ActiveFrom = t0.Add(48 * time.Hour)
			if err := f.s.UpdatePatron(ctx, *p, staff); err != nil {
				t.Fatal(err)
			}
		}, code: func(f fixture) string { return f.code }, pin: newPIN},
		{name: "one-time PIN of a reset", prepare: func(t *testing.T, f *fixture) {
			otp, err := f.s.ResetPIN(ctx, "CU1000001", staff)
			if err != nil {
				t.Fatal(err)
			}
			f.code = otp
		}, code: func(f fixture) string { return f.code }, pin: newPIN},
		{name: "one-time PIN reused as the new PIN", prepare: func(t *testing.T, f *fixture) {
			otp, _ := f.s.ResetPIN(ctx, "CU1000001", staff)
			f.code = otp
		}, code: func(f fixture) string { return f.code }, pin: "", policy: "same_as_old"},
		{name: "current PIN when not must-change", prepare: func(t *testing.T, f *fixture) {
			if err := f.s.SetPIN(ctx, "CU1000001", goodPIN, staff); err != nil {
				t.Fatal(err)
			}
		}, code: func(fixture) string { return goodPIN }, pin: newPIN, wantErr: ErrBadSetupCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			if tc.prepare != nil {
				tc.prepare(t, &f)
			}
			id := tc.id
			if id == "" {
				id = "CU1000001"
			}
			pin := tc.pin
			if tc.policy == "same_as_old" {
				pin = f.code
			}
			code := tc.code(f)
			var gen uint64
			if p, err := f.s.GetPatron(ctx, "CU1000001"); err == nil {
				gen = p.Generation
			}
			var notified []string
			f.s.OnInvalidate(func(id string) { notified = append(notified, id) })
			err := f.s.UseSetupCode(ctx, id, code, pin, "192.0.2.7")
			if tc.policy != "" {
				var pe *backend.PolicyError
				if !errors.As(err, &pe) || pe.Problems[0].Code != tc.policy {
					t.Fatalf("err = %v, want policy %s", err, tc.policy)
				}
				if strings.Contains(err.Error(), pin) {
					t.Fatalf("error shows the PIN: %v", err)
				}
				return
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), code) {
					t.Fatalf("error shows the code: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("UseSetupCode: %v", err)
			}
			p, _ := f.s.GetPatron(ctx, "CU1000001")
			if !p.HasPIN || p.MustChange || p.Generation <= gen {
				t.Fatalf("after set-up: HasPIN %v MustChange %v generation %d (was %d)", p.HasPIN, p.MustChange, p.Generation, gen)
			}
			if len(notified) == 0 || notified[0] != "CU1000001" {
				t.Fatalf("invalidation callbacks got %v", notified)
			}
			f.clk.Advance(72 * time.Hour) // past a pending start
			if _, ok, err := f.s.Authenticate(ctx, backend.Credentials{ID: "CU1000001", Password: newPIN}); !ok || err != nil {
				t.Fatalf("bind with the new PIN: ok %v err %v", ok, err)
			}
			// Single use: the same code again is refused.
			if err := f.s.UseSetupCode(ctx, "CU1000001", code, "Other-PIN-2026", ""); !errors.Is(err, ErrBadSetupCode) {
				t.Fatalf("second use: %v", err)
			}
			audit, _ := f.s.AuditLog(ctx, "CU1000001", 10)
			if len(audit) == 0 || audit[0].Action != "setup-pin" || audit[0].Operator != SetupOperator {
				t.Fatalf("audit: %+v", audit)
			}
		})
	}
}

func TestSetupCodeWrongCodesLock(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, func(o *Options) { o.Lockout = Lockout{MaxFailures: 3, Window: time.Hour, Duration: time.Hour} })
	if err := s.AddPatron(ctx, Patron{ID: "CU1000001", Name: "Chan"}, staff); err != nil {
		t.Fatal(err)
	}
	code, _, err := s.IssueSetupCode(ctx, "CU1000001", time.Hour, staff)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.UseSetupCode(ctx, "CU1000001", "0000-0000-0000-000"+string(rune('0'+i)), "Fresh-PIN-2026", "192.0.2.7"); !errors.Is(err, ErrBadSetupCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	p, _ := s.GetPatron(ctx, "CU1000001")
	if p.FailureCount != 3 || p.LockedUntil.IsZero() {
		t.Fatalf("after 3 wrong codes: failures %d locked until %v", p.FailureCount, p.LockedUntil)
	}
	// Locked: even the right code gets the same answer.
	if err := s.UseSetupCode(ctx, "CU1000001", code, "Fresh-PIN-2026", "192.0.2.7"); !errors.Is(err, ErrBadSetupCode) {
		t.Fatalf("right code on a locked account: %v", err)
	}
}

func TestIssueSetupCodeErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	addWithPIN(t, s, "CU1000001")
	if err := s.ReplaceCard(ctx, "CU1000001", "CU1000002", staff); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, op string
		ttl    time.Duration
		want   error
	}{
		{"CU9999999", staff, time.Hour, backend.ErrNotFound},
		{"CU1000001", staff, time.Hour, backend.ErrNotPermitted},
		{"CU1000002", "", time.Hour, errInvalid},
		{"CU1000002", staff, 0, errInvalid},
	} {
		if _, _, err := s.IssueSetupCode(ctx, tc.id, tc.ttl, tc.op); !errors.Is(err, tc.want) {
			t.Errorf("IssueSetupCode(%s, %v, %q) = %v, want %v", tc.id, tc.ttl, tc.op, err, tc.want)
		}
	}
}

func TestNormalizeSetupCode(t *testing.T) {
	for in, want := range map[string]string{
		"abcd-efgh-jkmn-pqrs": "ABCDEFGHJKMNPQRS",
		" O0Il 1 ":            "00111",
	} {
		if got := NormalizeSetupCode(in); got != want {
			t.Errorf("NormalizeSetupCode(%q) = %q, want %q", in, got, want)
		}
	}
}
