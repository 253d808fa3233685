package pinstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/passhash"
)

// ListOptions filter ListPatrons. Results are ordered by ID; page with
// Limit and either Offset or After (the last ID of the previous page).
type ListOptions struct {
	Prefix   string // IDs starting with this
	Category string
	Status   Status
	Limit    int // 0 = all
	Offset   int
	After    string
}

// update reads id in a write transaction, lets fn change it, writes it back
// with modified_at and one staff_audit row (when operator is set).
func (s *Store) update(ctx context.Context, id, operator, action, detail string, fn func(r *record) error) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := get(ctx, tx, s.d, id)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		r.ModifiedAt = s.now()
		if _, err := tx.ExecContext(ctx, s.d.rebind(qUpdatePatron), r.args()...); err != nil {
			return err
		}
		if operator == "" {
			return nil
		}
		return s.audit(ctx, tx, operator, action, id, detail)
	})
	if err == nil {
		s.notify(id)
	}
	return err
}

// staffUpdate is update for a staff operation: the operator is required.
func (s *Store) staffUpdate(ctx context.Context, op, id, operator, action, detail string, fn func(r *record) error) error {
	if err := requireOperator(operator); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	if err := s.update(ctx, id, operator, action, detail, fn); err != nil {
		return s.dbErr(op, err)
	}
	return nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("pinstore: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// AddPatron creates a patron without a PIN (set one with ResetPIN or
// SetPIN). Empty UUID: a new one; empty Institution: InstitutionFor(ID);
// empty Status: active. PIN, failure and audit fields of p are ignored.
// An existing ID gives an error wrapping ErrExists.
func (s *Store) AddPatron(ctx context.Context, p Patron, operator string) error {
	const op = "add patron"
	if err := requireOperator(operator); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	if err := validID(p.ID); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	if p.Status == "" {
		p.Status = StatusActive
	}
	if !p.Status.valid() || p.Status == StatusSuperseded {
		return fmt.Errorf("pinstore: %s: %w: status %q (active, suspended or expired)", op, errInvalid, p.Status)
	}
	now := s.now()
	r := &record{Patron: Patron{
		ID: p.ID, UUID: p.UUID, Name: p.Name, GivenName: p.GivenName, Surname: p.Surname, Email: p.Email,
		Category: p.Category, Institution: p.Institution, Status: p.Status,
		ActiveFrom: p.ActiveFrom, Expires: p.Expires, Generation: 1, CreatedAt: now, ModifiedAt: now,
	}}
	if r.UUID == "" {
		r.UUID = newUUID()
	}
	if r.Institution == "" {
		r.Institution = InstitutionFor(r.ID)
	}
	if r.Status == StatusSuspended {
		r.SuspendedBy, r.SuspendedAt = operator, now
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.insert(ctx, tx, r); err != nil {
			return err
		}
		return s.audit(ctx, tx, operator, "add", r.ID, fmt.Sprintf("category=%q status=%s", r.Category, r.Status))
	})
	if err != nil {
		return s.dbErr(op, err)
	}
	s.notify(r.ID) // "unknown user" answers cached elsewhere are now wrong
	return nil
}

// insert adds r, or fails with ErrExists.
func (s *Store) insert(ctx context.Context, tx *sql.Tx, r *record) error {
	if _, err := get(ctx, tx, s.d, r.ID); err == nil {
		return fmt.Errorf("%q: %w", r.ID, ErrExists)
	} else if !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	_, err := tx.ExecContext(ctx, s.d.rebind(qInsertPatron), r.args()...)
	if err != nil && s.d.unique(err) { // inserted concurrently by another instance
		return fmt.Errorf("%q: %w", r.ID, ErrExists)
	}
	return err
}

// UpdatePatron changes the descriptive fields and dates of p.ID: Name,
// GivenName, Surname, Email, Category, Institution (empty: from the JULAC
// prefix), ActiveFrom, Expires. Status, PIN and lock have their own
// operations. The generation is bumped (dates and category change what a
// bind gives).
func (s *Store) UpdatePatron(ctx context.Context, p Patron, operator string) error {
	const op = "update patron"
	if err := requireOperator(operator); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	if p.Institution == "" {
		p.Institution = InstitutionFor(p.ID)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := get(ctx, tx, s.d, p.ID)
		if err != nil {
			return err
		}
		var changed []string
		for _, f := range []struct {
			name     string
			dst, src *string
		}{
			{"name", &r.Name, &p.Name}, {"given_name", &r.GivenName, &p.GivenName}, {"surname", &r.Surname, &p.Surname},
			{"email", &r.Email, &p.Email}, {"category", &r.Category, &p.Category}, {"institution", &r.Institution, &p.Institution},
		} {
			if *f.dst != *f.src {
				changed = append(changed, f.name)
				*f.dst = *f.src
			}
		}
		if !r.ActiveFrom.Equal(p.ActiveFrom) {
			changed = append(changed, "active_from")
			r.ActiveFrom = p.ActiveFrom
		}
		if !r.Expires.Equal(p.Expires) {
			changed = append(changed, "expires")
			r.Expires = p.Expires
		}
		r.Generation++
		r.ModifiedAt = s.now()
		if _, err := tx.ExecContext(ctx, s.d.rebind(qUpdatePatron), r.args()...); err != nil {
			return err
		}
		return s.audit(ctx, tx, operator, "update", p.ID, "changed: "+strings.Join(changed, ","))
	})
	if err != nil {
		return s.dbErr(op, err)
	}
	s.notify(p.ID)
	return nil
}

// GetPatron returns one patron (superseded rows included).
func (s *Store) GetPatron(ctx context.Context, id string) (*Patron, error) {
	r, err := get(ctx, s.r, s.d, id)
	if err != nil {
		return nil, s.dbErr("get patron", err)
	}
	return &r.Patron, nil
}

// ListPatrons returns the patrons that match o, ordered by ID.
func (s *Store) ListPatrons(ctx context.Context, o ListOptions) ([]Patron, error) {
	q, args := listQuery(o, s.d.noLimit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, s.dbErr("list patrons", err)
	}
	defer rows.Close()
	var out []Patron
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, s.dbErr("list patrons", err)
		}
		out = append(out, r.Patron)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr("list patrons", err)
	}
	return out, nil
}

// SetPIN sets a PIN the patron chose at the counter: it must pass the
// policy; must_change is cleared, failures and lock too.
func (s *Store) SetPIN(ctx context.Context, id, pin, operator string) error {
	if err := s.policy.Check(pin); err != nil {
		return fmt.Errorf("pinstore: set pin: %w", err)
	}
	var hash string
	var err error
	if perr := s.hashing(ctx, "set pin", "", func() { hash, err = passhash.Hash(pin, s.hash) }); perr != nil {
		return perr
	}
	if err != nil {
		return fmt.Errorf("pinstore: set pin: %w", err)
	}
	return s.staffUpdate(ctx, "set pin", id, operator, "set-pin", "", func(r *record) error {
		if r.Status == StatusSuperseded {
			return fmt.Errorf("card replaced by %s: %w", r.SupersededBy, backend.ErrNotPermitted)
		}
		r.setPIN(hash, false)
		return nil
	})
}

// ResetPIN gives the patron a generated one-time PIN that must be changed
// at the next login, and returns it (to show once; it is not stored).
func (s *Store) ResetPIN(ctx context.Context, id, operator string) (string, error) {
	pin := s.policy.Generate()
	var hash string
	var err error
	if perr := s.hashing(ctx, "reset pin", "", func() { hash, err = passhash.Hash(pin, s.hash) }); perr != nil {
		return "", perr
	}
	if err != nil {
		return "", fmt.Errorf("pinstore: reset pin: %w", err)
	}
	err = s.staffUpdate(ctx, "reset pin", id, operator, "reset-pin", "one-time PIN, must_change=true", func(r *record) error {
		if r.Status == StatusSuperseded {
			return fmt.Errorf("card replaced by %s: %w", r.SupersededBy, backend.ErrNotPermitted)
		}
		r.setPIN(hash, true)
		return nil
	})
	if err != nil {
		return "", err
	}
	return pin, nil
}

// Unlock clears the failure count and any lock.
func (s *Store) Unlock(ctx context.Context, id, operator string) error {
	return s.staffUpdate(ctx, "unlock", id, operator, "unlock", "", func(r *record) error {
		r.clearFailures()
		r.Generation++
		return nil
	})
}

// Suspend stops the account from binding until Resume.
func (s *Store) Suspend(ctx context.Context, id, reason, operator string) error {
	return s.staffUpdate(ctx, "suspend", id, operator, "suspend", reason, func(r *record) error {
		if r.Status == StatusSuperseded {
			return fmt.Errorf("card replaced by %s: %w", r.SupersededBy, backend.ErrNotPermitted)
		}
		r.Status = StatusSuspended
		r.SuspendedBy, r.SuspendedAt, r.SuspendReason = operator, s.now(), reason
		r.Generation++
		return nil
	})
}

// Resume makes a suspended (or status-expired) account active again. It
// does not change an expires date: use UpdatePatron for that.
func (s *Store) Resume(ctx context.Context, id, operator string) error {
	return s.staffUpdate(ctx, "resume", id, operator, "resume", "", func(r *record) error {
		switch r.Status {
		case StatusSuspended, StatusExpired:
		case StatusSuperseded:
			return fmt.Errorf("card replaced by %s: %w", r.SupersededBy, backend.ErrNotPermitted)
		default:
			return fmt.Errorf("%w: %q is %s, not suspended", errInvalid, id, r.Status)
		}
		r.Status = StatusActive
		r.SuspendedBy, r.SuspendedAt, r.SuspendReason = "", time.Time{}, ""
		r.Generation++
		return nil
	})
}

// Expire ends the account now (sets expires to the current time).
func (s *Store) Expire(ctx context.Context, id, operator string) error {
	return s.staffUpdate(ctx, "expire", id, operator, "expire", "", func(r *record) error {
		r.Expires = s.now()
		r.Generation++
		return nil
	})
}

// Delete removes the patron row. Its audit trail and card history stay.
func (s *Store) Delete(ctx context.Context, id, operator string) error {
	const op = "delete"
	if err := requireOperator(operator); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := get(ctx, tx, s.d, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(qDeletePatron), id); err != nil {
			return err
		}
		return s.audit(ctx, tx, operator, "delete", id, fmt.Sprintf("uuid=%s status=%s", r.UUID, r.Status))
	})
	if err != nil {
		return s.dbErr(op, err)
	}
	s.notify(id)
	return nil
}

// ReplaceCard moves a person from oldID to newID (a new card number). The
// new row takes everything: entryUUID (the same person), names, category,
// dates, status and PIN hash (the same PIN works); failures start at zero.
// The institution follows the new JULAC prefix when it was derived from the
// old one. The old row becomes superseded (superseded_by = newID, no PIN,
// generation bumped) and binds to it fail with ReasonSuperseded; rows that
// pointed to oldID now point to newID. card_history records the change.
func (s *Store) ReplaceCard(ctx context.Context, oldID, newID, operator string) error {
	const op = "replace card"
	if err := requireOperator(operator); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	if err := validID(newID); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	if oldID == newID {
		return fmt.Errorf("pinstore: %s: %w: old and new ID are the same", op, errInvalid)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, err := get(ctx, tx, s.d, oldID)
		if err != nil {
			return err
		}
		if old.Status == StatusSuperseded {
			return fmt.Errorf("%q was already replaced by %q: %w", oldID, old.SupersededBy, backend.ErrNotPermitted)
		}
		now := s.now()
		nr := *old
		nr.ID = newID
		nr.FailureCount, nr.FirstFailureAt, nr.LastFailureAt, nr.LastFailureAddr, nr.LockedUntil = 0, time.Time{}, time.Time{}, "", time.Time{}
		nr.Generation = old.Generation + 1
		nr.CreatedAt, nr.ModifiedAt = now, now
		if old.Institution == InstitutionFor(oldID) && InstitutionFor(newID) != "" {
			nr.Institution = InstitutionFor(newID)
		}
		if err := s.insert(ctx, tx, &nr); err != nil {
			return err
		}
		old.Status, old.SupersededBy, old.SupersededAt = StatusSuperseded, newID, now
		old.pinHash, old.HasPIN, old.MustChange = "", false, false
		old.Generation++
		old.ModifiedAt = now
		if _, err := tx.ExecContext(ctx, s.d.rebind(qUpdatePatron), old.args()...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(qRepointSuperseded), oldID, newID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(qInsertHistory), oldID, newID, now.UnixMilli(), operator); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, operator, "replace-card", oldID, "new="+newID); err != nil {
			return err
		}
		return s.audit(ctx, tx, operator, "replace-card", newID, "old="+oldID)
	})
	if err != nil {
		return s.dbErr(op, err)
	}
	s.notify(oldID, newID)
	return nil
}

// ExportHash returns the stored PIN hash of id ("" when there is none) for
// export --with-hashes, and records that it was read.
func (s *Store) ExportHash(ctx context.Context, id, operator string) (string, error) {
	const op = "export hash"
	if err := requireOperator(operator); err != nil {
		return "", fmt.Errorf("pinstore: %s: %w", op, err)
	}
	var hash string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := get(ctx, tx, s.d, id)
		if err != nil {
			return err
		}
		hash = r.pinHash
		return s.audit(ctx, tx, operator, "export-hash", id, "")
	})
	if err != nil {
		return "", s.dbErr(op, err)
	}
	return hash, nil
}
