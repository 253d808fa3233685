package pinstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/passhash"
)

// maxAuthAttempts bounds the re-reads when an account changes between the
// read and the write of one bind.
const maxAuthAttempts = 3

// Authenticate checks a PIN. States are checked in this order: unknown,
// superseded, suspended, expired, pending, no PIN, locked; then the PIN.
// Every path costs at least one argon2id verification with the current
// parameters, so timing tells neither existence nor state. Only a wrong PIN
// on an active, unlocked account counts toward the lockout; a wrong PIN on a
// locked account neither counts nor extends the lock.
func (s *Store) Authenticate(ctx context.Context, c backend.Credentials) (backend.Result, bool, error) {
	// When hashing is so busy that this client's bind would not be
	// admitted to wait, the answer is 51 anyway: give it before reading
	// the store, which saves the read's CPU for the binds the cache
	// answers. The pool counts the refusal.
	if err := s.pool.Admit(ctx, c.ClientAddr); err != nil {
		return backend.Result{}, false, fmt.Errorf("pinstore: authenticate: %w", err)
	}
	for range maxAuthAttempts {
		res, ok, retry, err := s.authenticateOnce(ctx, c)
		if !retry {
			return res, ok, err
		}
	}
	return backend.Result{}, false, fmt.Errorf("pinstore: authenticate: %w: the account kept changing", backend.ErrBusy)
}

func (s *Store) authenticateOnce(ctx context.Context, c backend.Credentials) (res backend.Result, ok, retry bool, err error) {
	const op = "authenticate"
	r, err := get(ctx, s.r, s.d, c.ID)
	if errors.Is(err, backend.ErrNotFound) {
		if err := s.hashing(ctx, op, c.ClientAddr, func() { passhash.DummyVerifyWith(c.Password, s.hash) }); err != nil {
			return backend.Result{}, false, false, err
		}
		return backend.Result{Reason: backend.ReasonUnknownUser}, false, false, nil
	}
	if err != nil {
		return backend.Result{}, false, false, s.dbErr(op, err)
	}
	now := s.now()
	if reason := r.blockReason(now); reason != backend.ReasonNone {
		if err := s.hashing(ctx, op, c.ClientAddr, func() { passhash.DummyVerifyWith(c.Password, s.hash) }); err != nil {
			return backend.Result{}, false, false, err
		}
		return backend.Result{Reason: reason, Generation: r.Generation}, false, false, nil
	}

	var (
		good, rehash bool
		verr, herr   error
		newHash      sql.NullString
	)
	err = s.hashing(ctx, op, c.ClientAddr, func() {
		if passhash.NeedsRehash(r.pinHash, s.hash) { // a legacy hash costs less than argon2id: pad to the same cost
			passhash.DummyVerifyWith(c.Password, s.hash)
		}
		good, rehash, verr = passhash.VerifyWith(r.pinHash, c.Password, s.hash)
		if good && rehash && verr == nil {
			var h string
			h, herr = passhash.Hash(c.Password, s.hash)
			newHash = sql.NullString{String: h, Valid: herr == nil}
		}
	})
	if err != nil {
		return backend.Result{}, false, false, err
	}
	if verr != nil {
		s.log.Error("pinstore: stored PIN hash cannot be used; staff must reset the PIN", "id", c.ID, "err", verr)
		return backend.Result{Reason: backend.ReasonNoPIN, Generation: r.Generation}, false, false, nil
	}
	if !good {
		return s.recordFailure(ctx, r, c.ClientAddr, now)
	}
	if herr != nil {
		s.log.Error("pinstore: rehash failed", "id", c.ID, "err", herr)
	}
	// The bookkeeping of a right PIN must not be lost because the bind's
	// own deadline was spent waiting for a hashing worker.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	n, err := s.exec(wctx, qRecordSuccess, r.ID, now.UnixMilli(), int64(r.Generation), newHash)
	cancel()
	switch {
	case err != nil:
		// The PIN is right; a store that cannot record it must not fail the bind.
		s.log.Warn("pinstore: could not record a successful bind", "id", c.ID, "err", err)
		newHash.Valid = false
	case n == 0:
		return backend.Result{}, false, true, nil // changed meanwhile: look again
	}
	res = backend.Result{
		Entry:        r.entry(),
		MustChange:   r.MustChange,
		Generation:   r.Generation,
		LegacyRehash: newHash.Valid,
	}
	if r.MustChange {
		res.Reason = backend.ReasonMustChange
	}
	return res, true, false, nil
}

// blockReason returns why the account may not bind now, before any PIN is
// looked at, or ReasonNone.
func (r *record) blockReason(now time.Time) backend.Reason {
	switch {
	case r.Status == StatusSuperseded:
		return backend.ReasonSuperseded
	case r.Status == StatusSuspended:
		return backend.ReasonSuspended
	case r.expired(now):
		return backend.ReasonExpired
	case r.pending(now):
		return backend.ReasonPending
	case !r.HasPIN:
		return backend.ReasonNoPIN
	case r.locked(now):
		return backend.ReasonLocked
	}
	return backend.ReasonNone
}

// recordFailure counts a wrong PIN in one statement. The failure that
// reaches the threshold answers ReasonBadCredentials; later attempts get
// ReasonLocked before the PIN is looked at.
func (s *Store) recordFailure(ctx context.Context, r *record, addr string, now time.Time) (backend.Result, bool, bool, error) {
	res := backend.Result{Reason: backend.ReasonBadCredentials, Generation: r.Generation}
	// Counted even when the bind's deadline is spent (a busy server must not
	// make guesses free): a detached context with its own bound.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failureBound)
	count, lockedUntil, gen, err := s.countFailure(wctx, r.ID, addr, now)
	cancel()
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res.Reason = backend.ReasonLocked // locked (or changed) by a concurrent bind
	case errors.Is(err, context.DeadlineExceeded):
		// The writer is queued past the bound (a storm): the answer is
		// known, and the count must still land, so it keeps trying
		// after the bind is answered.
		s.late.Add(1)
		go s.recordLate(r.ID, addr, now)
	case err != nil:
		// The answer is known; losing the count is logged, not turned into 52.
		s.log.Warn("pinstore: could not record a failed bind", "id", r.ID, "err", err)
	default:
		res.Generation = gen
		if lockedUntil.Valid {
			s.lockouts.Add(1)
			s.log.Info("pinstore: account locked", "id", r.ID, "failures", count, "addr", addr)
		}
	}
	return res, false, false, nil
}

// failureBound is how long a bind waits for its failure count to be
// written; past it the count keeps trying for lateFailureBound after the
// bind is answered. Variables for tests.
var (
	failureBound     = 5 * time.Second
	lateFailureBound = 2 * time.Minute
)

// recordLate writes a failure count after its bind was answered.
func (s *Store) recordLate(id, addr string, now time.Time) {
	defer s.late.Done()
	ctx, cancel := context.WithTimeout(context.Background(), lateFailureBound)
	defer cancel()
	_, lockedUntil, _, err := s.countFailure(ctx, id, addr, now)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		s.log.Warn("pinstore: could not record a failed bind", "id", id, "err", err)
	case lockedUntil.Valid:
		s.lockouts.Add(1)
		s.log.Info("pinstore: account locked", "id", id, "late", true, "addr", addr)
	default:
		s.log.Info("pinstore: failed bind recorded late", "id", id)
	}
}

// countFailure runs qRecordFailure; sql.ErrNoRows when the account was not
// counted (locked or no longer active).
func (s *Store) countFailure(ctx context.Context, id, addr string, now time.Time) (count int, lockedUntil sql.NullInt64, gen uint64, err error) {
	windowStart := int64(math.MinInt64)
	if s.lockout.Window > 0 {
		windowStart = now.Add(-s.lockout.Window).UnixMilli()
	}
	lockEnd := int64(lockForeverMS)
	if s.lockout.Duration > 0 {
		lockEnd = now.Add(s.lockout.Duration).UnixMilli()
	}
	var g int64
	err = s.w.QueryRowContext(ctx, s.d.rebind(qRecordFailure), id, now.UnixMilli(), windowStart,
		addr, s.lockout.MaxFailures, lockEnd).Scan(&count, &lockedUntil, &g)
	if err == nil && lockedUntil.Valid {
		s.notify(id) // this failure locked the account: its generation moved
	}
	return count, lockedUntil, uint64(g), err
}

// exec runs a statement on the writer and returns the rows affected.
func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Lookup returns the directory entry of a patron. Superseded card numbers
// are not found (the person is under the new number, with the same
// entryUUID); suspended, expired and pending accounts are, so a
// search-then-bind reaches the bind and its precise reason.
func (s *Store) Lookup(ctx context.Context, id string) (*backend.Entry, error) {
	r, err := get(ctx, s.r, s.d, id)
	if err != nil {
		return nil, s.dbErr("lookup", err)
	}
	if r.Status == StatusSuperseded {
		return nil, fmt.Errorf("pinstore: lookup: %q superseded by %q: %w", id, r.SupersededBy, backend.ErrNotFound)
	}
	return r.entry(), nil
}

// entry builds the virtual directory entry. sn and givenName come from their
// columns, or from splitName.
func (p *Patron) entry() *backend.Entry {
	given, sur := p.GivenName, p.Surname
	if given == "" && sur == "" {
		given, sur = splitName(p.Name)
	}
	cn := p.Name
	if cn == "" {
		cn = strings.TrimSpace(given + " " + sur)
	}
	if cn == "" {
		cn = p.ID
	}
	if sur == "" {
		sur = cn // sn is required by person
	}
	return &backend.Entry{
		ID: p.ID, CommonName: cn, Surname: sur, GivenName: given, Mail: p.Email,
		Category: p.Category, Institution: p.Institution, UUID: p.UUID,
		Created: p.CreatedAt, Modified: p.ModifiedAt,
	}
}

// CheckPatron tells a campus route with require_patron whether the person
// has a library account that may be used now. Locks and a missing PIN do not
// matter here (the campus password is what is checked).
func (s *Store) CheckPatron(ctx context.Context, id string) (backend.Reason, bool, error) {
	r, err := get(ctx, s.r, s.d, id)
	if errors.Is(err, backend.ErrNotFound) {
		return backend.ReasonNoPatron, false, nil
	}
	if err != nil {
		return backend.ReasonNone, false, s.dbErr("check patron", err)
	}
	now := s.now()
	switch {
	case r.Status == StatusSuperseded:
		return backend.ReasonSuperseded, false, nil
	case r.Status == StatusSuspended:
		return backend.ReasonSuspended, false, nil
	case r.expired(now):
		return backend.ReasonExpired, false, nil
	case r.pending(now):
		return backend.ReasonPending, false, nil
	}
	return backend.ReasonNone, true, nil
}

// splitName guesses given name and surname from a full name:
// "Chan, Tai Man" and "CHAN Tai Man" (an upper-case first word, the Hong
// Kong convention) put the surname first; otherwise the last word is the
// surname ("Mary Smith"). A single word is a surname.
func splitName(name string) (given, surname string) {
	name = strings.Join(strings.Fields(name), " ")
	if sur, giv, ok := strings.Cut(name, ","); ok {
		return strings.TrimSpace(giv), strings.TrimSpace(sur)
	}
	first, rest, ok := strings.Cut(name, " ")
	if !ok {
		return "", name
	}
	if len(first) > 1 && strings.ToUpper(first) == first && strings.ToLower(first) != first && strings.ToUpper(rest) != rest {
		return rest, first
	}
	i := strings.LastIndexByte(name, ' ')
	return name[:i], name[i+1:]
}
