package pinstore

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bindery/bindery/internal/hashpool"
	"github.com/bindery/bindery/internal/passhash"
)

// Config is a [backend.NAME] table of type "pinstore": the database. The
// PIN rules, lockout and hashing cost are the top-level [pin_policy],
// [lockout] and [pin_policy.argon2] tables, shared by every PIN store.
type Config struct {
	// Driver is "sqlite" or "postgres" (see Options.Driver).
	Driver string `toml:"driver"`
	// DSN is the database file (sqlite) or URL (postgres) (see Options.DSN).
	DSN string `toml:"dsn"`
}

// Validate lists every problem with c at once (errors.Join), each error's
// text starting with its key. A DSN that does not parse is not quoted: it
// may hold a password.
func (c *Config) Validate() error {
	var errs []error
	switch c.Driver {
	case "sqlite", "postgres":
	case "":
		errs = append(errs, errors.New("driver: required (sqlite or postgres)"))
	default:
		errs = append(errs, fmt.Errorf("driver: %q is not supported (sqlite or postgres)", c.Driver))
	}
	switch {
	case c.DSN == "" && c.Driver == "postgres":
		errs = append(errs, errors.New("dsn: required (a URL, e.g. postgres://bindery@db.example.edu/bindery)"))
	case c.DSN == "":
		errs = append(errs, errors.New("dsn: required (the database file, e.g. /var/lib/bindery/pins.db)"))
	case c.Driver == "postgres":
		if _, err := pgconn.ParseConfig(c.DSN); err != nil { // err may quote the password: not shown
			errs = append(errs, errors.New("dsn: not a PostgreSQL URL or key=value string"))
		}
	}
	return errors.Join(errs...)
}

// Options configure Open. Zero fields take the defaults noted.
type Options struct {
	// Driver is the SQL engine: "sqlite" (the default; modernc.org/sqlite,
	// no cgo) or "postgres" (github.com/jackc/pgx/v5).
	Driver string
	// DSN is the database: for sqlite a file path (or a "file:" URI);
	// ":memory:" is a private in-memory database for tests. For postgres a
	// URL (postgres://user@host/db) or a key=value string.
	DSN string
	// Policy is the PIN rules ([pin_policy]); zero value = DefaultPolicy.
	Policy Policy
	// Lockout is the failure lockout ([lockout]); zero value = DefaultLockout.
	Lockout Lockout
	// Hash is the argon2id cost of new hashes; zero value = passhash.DefaultParams.
	Hash passhash.Params
	// NoChangeCategories lists patron categories that may not change their own
	// PIN (self-service ChangePassword gets ErrNotPermitted); staff resets still work.
	NoChangeCategories []string
	// Location is the time zone of dates in CSV files and Explain texts;
	// nil = time.Local.
	Location *time.Location
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Logger receives operational messages (never a PIN); nil = slog.Default().
	Logger *slog.Logger
	// HashPool bounds the argon2id work (every verification, dummy
	// verification and new hash); when it is full the call fails with an
	// error wrapping backend.ErrBusy. nil = unbounded, on the caller's goroutine.
	HashPool *hashpool.Pool
	// WatchChanges starts a goroutine (stopped by Close) that hears of
	// generation bumps committed by other processes (binderyctl, other
	// instances) and calls the OnInvalidate callbacks for them: on SQLite
	// by polling the changes table, on PostgreSQL by LISTEN (and with
	// AllIDs after a reconnect). Ignored for ":memory:".
	WatchChanges bool
	// WatchInterval is the polling period of WatchChanges; 0 = 250ms.
	WatchInterval time.Duration
}

// Lockout locks an account after MaxFailures wrong PINs within Window, for
// Duration.
type Lockout struct {
	// MaxFailures wrong PINs lock the account; 0 disables lockout
	// (only when Window or Duration is set: an all-zero Lockout means DefaultLockout).
	MaxFailures int
	// Window: failures older than this no longer count; 0 = they count until
	// the next success, unlock or PIN change.
	Window time.Duration
	// Duration of a lock; 0 = until staff Unlock (or a PIN reset).
	Duration time.Duration
}

// DefaultLockout is 5 failures within 15 minutes lock for 15 minutes.
var DefaultLockout = Lockout{MaxFailures: 5, Window: 15 * time.Minute, Duration: 15 * time.Minute}
