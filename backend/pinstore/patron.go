package pinstore

import (
	"database/sql"
	"time"
)

// Status is the stored state of a patron row. Pending (active_from in the
// future), locked and "no PIN" are derived, not stored: see Explain.
type Status string

// Stored statuses.
const (
	StatusActive     Status = "active"
	StatusSuspended  Status = "suspended"  // staff action; Resume undoes it
	StatusExpired    Status = "expired"    // set by import; an expires date in the past also expires
	StatusSuperseded Status = "superseded" // card replaced: SupersededBy is the new ID
)

// valid reports whether s is a stored status.
func (s Status) valid() bool {
	switch s {
	case StatusActive, StatusSuspended, StatusExpired, StatusSuperseded:
		return true
	}
	return false
}

// Patron is one row of the store as staff see it. Zero times mean "none".
// The PIN hash is never in it: HasPIN says whether there is one, and
// Store.ExportHash returns it for export --with-hashes.
type Patron struct {
	ID          string // normalised login / card ID
	UUID        string // entryUUID; kept across a card replacement
	Name        string // cn
	GivenName   string
	Surname     string
	Email       string
	Category    string // employeeType and virtual group
	Institution string // o; from the JULAC prefix when empty
	Status      Status
	ActiveFrom  time.Time // pending before this
	Expires     time.Time // expired from this instant on

	HasPIN     bool
	MustChange bool

	FailureCount    int
	FirstFailureAt  time.Time
	LastFailureAt   time.Time
	LastFailureAddr string
	LockedUntil     time.Time // LockForever: until staff unlock
	LastSuccessAt   time.Time

	Generation uint64

	SupersededBy  string
	SupersededAt  time.Time
	SuspendedBy   string
	SuspendedAt   time.Time
	SuspendReason string

	CreatedAt  time.Time
	ModifiedAt time.Time
}

// LockForever is the LockedUntil of an account locked with a zero lockout
// duration: it stays locked until Unlock or a PIN change.
var LockForever = time.UnixMilli(lockForeverMS).UTC()

const lockForeverMS = 253402300799999 // 9999-12-31T23:59:59.999Z

// record is a row with its hash, inside the package only.
type record struct {
	Patron
	pinHash string
}

// patronCols is the column order of scanRecord and the insert/update args.
const patronCols = `id, uuid, name, given_name, surname, email, category, institution, status,
	active_from, expires, pin_hash, must_change, failure_count, first_failure_at,
	last_failure_at, last_failure_addr, locked_until, last_success_at, generation,
	superseded_by, superseded_at, suspended_by, suspended_at, suspend_reason,
	created_at, modified_at`

type scanner interface{ Scan(dest ...any) error }

func scanRecord(sc scanner) (*record, error) {
	var (
		r                                                     record
		status                                                string
		activeFrom, expires, firstFail, lastFail, lockedUntil sql.NullInt64
		lastSuccess, supAt, suspAt                            sql.NullInt64
		created, modified                                     int64
		hash, supBy                                           sql.NullString
		mustChange                                            int64
		gen                                                   int64
	)
	err := sc.Scan(&r.ID, &r.UUID, &r.Name, &r.GivenName, &r.Surname, &r.Email, &r.Category, &r.Institution, &status,
		&activeFrom, &expires, &hash, &mustChange, &r.FailureCount, &firstFail,
		&lastFail, &r.LastFailureAddr, &lockedUntil, &lastSuccess, &gen,
		&supBy, &supAt, &r.SuspendedBy, &suspAt, &r.SuspendReason,
		&created, &modified)
	if err != nil {
		return nil, err
	}
	r.Status = Status(status)
	r.ActiveFrom, r.Expires = fromMS(activeFrom), fromMS(expires)
	r.pinHash, r.HasPIN = hash.String, hash.Valid && hash.String != ""
	r.MustChange = mustChange != 0
	r.FirstFailureAt, r.LastFailureAt, r.LockedUntil = fromMS(firstFail), fromMS(lastFail), fromMS(lockedUntil)
	r.LastSuccessAt = fromMS(lastSuccess)
	r.Generation = uint64(gen)
	r.SupersededBy, r.SupersededAt = supBy.String, fromMS(supAt)
	r.SuspendedAt = fromMS(suspAt)
	r.CreatedAt, r.ModifiedAt = time.UnixMilli(created).UTC(), time.UnixMilli(modified).UTC()
	return &r, nil
}

// args returns the column values in patronCols order.
func (r *record) args() []any {
	return []any{r.ID, r.UUID, r.Name, r.GivenName, r.Surname, r.Email, r.Category, r.Institution, string(r.Status),
		toMS(r.ActiveFrom), toMS(r.Expires), nullString(r.pinHash), boolInt(r.MustChange), r.FailureCount, toMS(r.FirstFailureAt),
		toMS(r.LastFailureAt), r.LastFailureAddr, toMS(r.LockedUntil), toMS(r.LastSuccessAt), int64(r.Generation),
		nullString(r.SupersededBy), toMS(r.SupersededAt), r.SuspendedBy, toMS(r.SuspendedAt), r.SuspendReason,
		r.CreatedAt.UnixMilli(), r.ModifiedAt.UnixMilli()}
}

func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

func toMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// locked reports whether the account is locked at now.
func (p *Patron) locked(now time.Time) bool {
	return !p.LockedUntil.IsZero() && p.LockedUntil.After(now)
}

// expired reports whether the account is expired at now.
func (p *Patron) expired(now time.Time) bool {
	return p.Status == StatusExpired || (!p.Expires.IsZero() && !p.Expires.After(now))
}

// pending reports whether the account is not yet active at now.
func (p *Patron) pending(now time.Time) bool {
	return !p.ActiveFrom.IsZero() && p.ActiveFrom.After(now)
}
