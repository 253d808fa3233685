package pinstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/hashpool"
	"github.com/bindery/bindery/internal/passhash"

	_ "modernc.org/sqlite" // driver "sqlite"
)

// ErrExists: AddPatron or ReplaceCard found the ID already taken.
var ErrExists = errors.New("patron already exists")

// ErrNotFound is backend.ErrNotFound, for callers that import only pinstore.
var ErrNotFound = backend.ErrNotFound

// Store is the patron and PIN store. It is safe for concurrent use.
type Store struct {
	w, r     *sql.DB // writer (one connection, BEGIN IMMEDIATE) and readers
	d        *dialect
	policy   Policy
	lockout  Lockout
	hash     passhash.Params
	noChange map[string]bool
	loc      *time.Location
	clock    func() time.Time
	log      *slog.Logger
	pool     *hashpool.Pool

	lmu       sync.Mutex
	listeners []func(id string)

	dsn       string             // PostgreSQL: for the LISTEN connection
	stopWatch context.CancelFunc // nil when no watcher runs
	watchDone chan struct{}

	lockouts atomic.Uint64 // accounts this process locked

	// late holds failure counts still being written after their bind was
	// answered (recordFailure); Close waits for them.
	late sync.WaitGroup
}

var (
	_ backend.Authenticator   = (*Store)(nil)
	_ backend.PasswordChanger = (*Store)(nil)
	_ backend.PatronChecker   = (*Store)(nil)
	_ backend.Invalidator     = (*Store)(nil)
)

// Open opens (creating if needed) the store and runs its migrations.
func Open(ctx context.Context, o Options) (*Store, error) {
	d, err := dialectFor(o.Driver)
	if err != nil {
		return nil, err
	}
	s := &Store{d: d, policy: o.Policy, lockout: o.Lockout, hash: o.Hash, loc: o.Location, clock: o.Now, log: o.Logger, pool: o.HashPool}
	if s.policy == (Policy{}) {
		s.policy = DefaultPolicy
	}
	if s.lockout == (Lockout{}) {
		s.lockout = DefaultLockout
	}
	if s.hash == (passhash.Params{}) {
		s.hash = passhash.DefaultParams
	}
	if s.loc == nil {
		s.loc = time.Local
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	var errs []error
	if err := s.policy.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pinstore: pin_policy: %w", err))
	}
	if s.lockout.MaxFailures < 0 || s.lockout.Window < 0 || s.lockout.Duration < 0 {
		errs = append(errs, errors.New("pinstore: lockout: max_failures, window and duration may not be negative"))
	}
	if err := s.hash.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pinstore: pin_policy.argon2: %w", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.noChange = map[string]bool{}
	for _, c := range o.NoChangeCategories {
		s.noChange[c] = true
	}

	wdsn, rdsn, shared, err := d.dsns(o.DSN)
	if err != nil {
		return nil, err
	}
	if s.w, err = sql.Open(d.name, wdsn); err != nil {
		return nil, fmt.Errorf("pinstore: open: %w", err)
	}
	if d.pool > 0 { // PostgreSQL: one pool for all, row locks serialise writers
		s.w.SetMaxOpenConns(d.pool)
		s.w.SetMaxIdleConns(d.pool)
		s.w.SetConnMaxIdleTime(5 * time.Minute)
		s.dsn, s.r = wdsn, s.w
	} else {
		s.w.SetMaxOpenConns(1)
		s.w.SetConnMaxIdleTime(0)
		s.w.SetConnMaxLifetime(0)
	}
	if shared {
		s.r = s.w
	} else if s.r == nil {
		if s.r, err = sql.Open(d.name, rdsn); err != nil {
			s.w.Close()
			return nil, fmt.Errorf("pinstore: open: %w", err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		if !errors.Is(err, backend.ErrReadOnly) || d.readOnlyDSNs == nil {
			return nil, err
		}
		// The file cannot be written (read-only filesystem or permissions):
		// serve binds from it as it is, when its schema is current. Every
		// write then fails with ErrReadOnly (80 over LDAP).
		if rerr := s.openReadOnly(ctx, o.DSN); rerr != nil {
			return nil, fmt.Errorf("%w (and reading it only: %v)", err, rerr)
		}
		s.log.Warn("pinstore: the store cannot be written; serving binds read-only (PIN changes, lockout counting and staff changes fail until it is writable again)", "err", err)
		return s, nil
	}
	if o.WatchChanges && d.pool > 0 {
		if err := s.startListen(ctx); err != nil {
			s.Close()
			return nil, err
		}
	} else if o.WatchChanges && !shared {
		if err := s.startWatch(ctx, o.WatchInterval); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close stops the change watcher, waits for failure counts still being
// written, and closes the database.
func (s *Store) Close() error {
	if s.stopWatch != nil {
		s.stopWatch()
		<-s.watchDone
	}
	s.late.Wait()
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Policy returns the PIN rules in force (for callers that want to check a
// PIN before asking, e.g. binderyctl).
func (s *Store) Policy() Policy { return s.policy }

func (s *Store) now() time.Time { return s.clock().UTC() }

// migrate applies the migrations not yet recorded, each in a transaction,
// on one connection; on PostgreSQL under an advisory lock, so instances
// starting together cannot race.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return s.dbErr("migrate", err)
	}
	defer conn.Close()
	if s.d.lockMigrations != nil {
		unlock, err := s.d.lockMigrations(ctx, conn)
		if err != nil {
			return s.dbErr("migrate", err)
		}
		defer unlock()
	}
	if _, err := conn.ExecContext(ctx, qCreateMigrations); err != nil {
		return s.dbErr("migrate", err)
	}
	for i, m := range s.d.migrations {
		version := i + 1
		err := func() error {
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			var have int
			if err := tx.QueryRowContext(ctx, qMaxMigration).Scan(&have); err != nil {
				return err
			}
			if have > len(s.d.migrations) {
				return fmt.Errorf("database schema version %d is newer than this bindery knows (%d)", have, len(s.d.migrations))
			}
			if have >= version {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return fmt.Errorf("migration %d: %w", version, err)
			}
			if _, err := tx.ExecContext(ctx, s.d.rebind(qInsertMigration), version, s.now().UnixMilli()); err != nil {
				return err
			}
			return tx.Commit()
		}()
		if err != nil {
			return s.dbErr("migrate", err)
		}
	}
	return nil
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE on SQLite).
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// dbErr wraps an engine error: ErrReadOnly when the store cannot be
// written, else ErrUnavailable. Errors that already carry a sentinel (or a
// policy error) pass through with the op prefix.
func (s *Store) dbErr(op string, err error) error {
	var pe *backend.PolicyError
	switch {
	case errors.Is(err, backend.ErrNotFound), errors.Is(err, ErrExists), errors.Is(err, backend.ErrNotPermitted),
		errors.Is(err, backend.ErrWrongOldPassword), errors.Is(err, backend.ErrReadOnly),
		errors.Is(err, backend.ErrUnavailable), errors.As(err, &pe), errors.Is(err, errInvalid):
		return fmt.Errorf("pinstore: %s: %w", op, err)
	case s.d.readOnly(err):
		return fmt.Errorf("pinstore: %s: %w: %w", op, backend.ErrReadOnly, err)
	}
	return fmt.Errorf("pinstore: %s: %w: %w", op, backend.ErrUnavailable, err)
}

// errInvalid marks bad input to a staff operation (an empty ID, a bad status).
var errInvalid = errors.New("invalid input")

// get reads one row; backend.ErrNotFound when there is none.
func get(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, d *dialect, id string) (*record, error) {
	query := qSelectPatron
	if _, inTx := q.(*sql.Tx); inTx {
		query += d.forUpdate // PostgreSQL: hold the row until the commit
	}
	r, err := scanRecord(q.QueryRowContext(ctx, d.rebind(query), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%q: %w", id, backend.ErrNotFound)
	}
	return r, err
}

// validID rejects IDs that cannot be a login ID.
func validID(id string) error {
	if id == "" || strings.TrimSpace(id) != id || len(id) > 256 {
		return fmt.Errorf("%w: ID %q is empty, too long or has surrounding spaces", errInvalid, id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: ID contains a control character", errInvalid)
		}
	}
	return nil
}

// openReadOnly reopens the store for reading only and checks that no
// migration is due.
func (s *Store) openReadOnly(ctx context.Context, dsn string) error {
	var lastErr error
	for _, immutable := range []bool{false, true} {
		rdsn, err := s.d.readOnlyDSNs(dsn, immutable)
		if err != nil {
			return err
		}
		db, err := sql.Open(s.d.name, rdsn)
		if err != nil {
			return err
		}
		var have int
		if err := db.QueryRowContext(ctx, qMaxMigration).Scan(&have); err != nil {
			db.Close()
			lastErr = err
			continue
		}
		if have != len(s.d.migrations) {
			db.Close()
			return fmt.Errorf("the schema is at version %d and this bindery needs %d: make the store writable once so it can migrate", have, len(s.d.migrations))
		}
		s.w, s.r = db, db
		return nil
	}
	return lastErr
}
