package pinstore

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/passhash"
)

// ChangePassword sets a new PIN (backend.PasswordChanger).
//
// Self-service (Force false) needs the right Old PIN: a wrong one is
// ErrWrongOldPassword and counts toward the lockout like a failed bind; a
// locked, suspended, expired, pending or superseded account gets
// ErrWrongOldPassword too, whatever the Old PIN, after the same work (it is
// not counted), so that the answer does not tell the account's state; a
// category in NoChangeCategories gets ErrNotPermitted; the new PIN must
// differ from the old. Force (a staff or service reset) skips those checks
// but a superseded card still gets ErrNotPermitted. An empty New is replaced
// by Policy.Generate and returned. The new PIN is hashed with argon2id,
// must_change is set to req.MustChange, failures and lock are cleared and
// the generation bumped. A staff_audit row is written when Operator is set.
// A store that cannot be written gives ErrReadOnly.
func (s *Store) ChangePassword(ctx context.Context, req backend.PasswordChange) (string, error) {
	const op = "change password"
	if req.ClientAddr != "" && ClientAddr(ctx) == "" {
		ctx = WithClientAddr(ctx, req.ClientAddr)
	}
	r, err := get(ctx, s.r, s.d, req.ID)
	if err != nil {
		return "", s.dbErr(op, err)
	}
	if req.Force && r.Status == StatusSuperseded {
		return "", fmt.Errorf("pinstore: %s: card replaced by %s: %w", op, r.SupersededBy, backend.ErrNotPermitted)
	}
	if !req.Force {
		if err := s.checkOld(ctx, r, req); err != nil {
			return "", fmt.Errorf("pinstore: %s: %w", op, err)
		}
	}
	pin, generated := req.New, false
	if pin == "" {
		pin, generated = s.policy.Generate(), true
	}
	if err := s.policy.Check(pin); err != nil {
		return "", fmt.Errorf("pinstore: %s: %w", op, err)
	}
	if !req.Force && subtle.ConstantTimeCompare([]byte(pin), []byte(req.Old)) == 1 {
		return "", fmt.Errorf("pinstore: %s: %w", op, &backend.PolicyError{Problems: []backend.PolicyProblem{
			{Code: "same_as_old", Message: "new PIN must differ from the current PIN"}}})
	}
	var hash string
	if perr := s.hashing(ctx, op, req.ClientAddr, func() { hash, err = passhash.Hash(pin, s.hash) }); perr != nil {
		return "", perr
	}
	if err != nil {
		return "", fmt.Errorf("pinstore: %s: %w", op, err)
	}
	action := "change-pin"
	if req.Force {
		action = "reset-pin"
	}
	detail := fmt.Sprintf("must_change=%v generated=%v", req.MustChange, generated)
	if req.ClientAddr != "" {
		detail += " addr=" + req.ClientAddr
	}
	err = s.update(ctx, req.ID, req.Operator, action, detail, func(cur *record) error {
		if cur.Status == StatusSuperseded {
			return fmt.Errorf("card replaced by %s: %w", cur.SupersededBy, backend.ErrNotPermitted)
		}
		if !req.Force && cur.pinHash != r.pinHash { // changed since the old PIN was checked
			return backend.ErrWrongOldPassword
		}
		cur.setPIN(hash, req.MustChange)
		return nil
	})
	if err != nil {
		return "", s.dbErr(op, err)
	}
	if generated {
		return pin, nil
	}
	return "", nil
}

// checkOld applies the self-service rules; a wrong old PIN is counted.
func (s *Store) checkOld(ctx context.Context, r *record, req backend.PasswordChange) error {
	t := s.now()
	dummy := func() { passhash.DummyVerifyWith(req.Old, s.hash) }
	if reason := r.blockReason(t); reason != backend.ReasonNone && reason != backend.ReasonNoPIN {
		if err := s.pool.Do(ctx, req.ClientAddr, dummy); err != nil {
			return err
		}
		return fmt.Errorf("account is %s: %w", reason, backend.ErrWrongOldPassword)
	}
	if s.noChange[r.Category] {
		if err := s.pool.Do(ctx, req.ClientAddr, dummy); err != nil {
			return err
		}
		return fmt.Errorf("category %q may not change its PIN: %w", r.Category, backend.ErrNotPermitted)
	}
	if !r.HasPIN {
		if err := s.pool.Do(ctx, req.ClientAddr, dummy); err != nil {
			return err
		}
		return backend.ErrWrongOldPassword
	}
	var good bool
	var err error
	if perr := s.pool.Do(ctx, req.ClientAddr, func() { good, _, err = passhash.VerifyWith(r.pinHash, req.Old, s.hash) }); perr != nil {
		return perr
	}
	if err != nil || !good {
		if err == nil {
			if _, _, _, cerr := s.countFailure(ctx, r.ID, req.ClientAddr, t); cerr != nil && !errors.Is(cerr, sql.ErrNoRows) {
				s.log.Warn("pinstore: could not record a wrong old PIN", "id", r.ID, "err", cerr)
			}
		}
		return backend.ErrWrongOldPassword
	}
	return nil
}

// setPIN installs a new hash and clears what a new PIN clears.
func (r *record) setPIN(hash string, mustChange bool) {
	r.pinHash, r.HasPIN = hash, true
	r.MustChange = mustChange
	r.clearFailures()
	r.Generation++
}

// clearFailures resets the failure count and any lock.
func (r *record) clearFailures() {
	r.FailureCount = 0
	r.FirstFailureAt = time.Time{}
	r.LockedUntil = time.Time{}
}
