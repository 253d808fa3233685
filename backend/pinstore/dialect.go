package pinstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// dialect is what differs between SQL engines. Queries are written once in
// queries.go with PostgreSQL-style numbered placeholders ($1, $2, ...),
// which SQLite also binds by number; rebind is where an engine that needs
// another style would convert them.
type dialect struct {
	name       string
	migrations []string
	// dsns returns the DSN of the writer pool and of the reader pool, and
	// whether both must share one connection (in-memory databases).
	dsns func(dsn string) (writer, reader string, shared bool, err error)
	// readOnlyDSNs, when set, opens the store for reading only, for a file
	// the process cannot write (immutable: the file may not change under it).
	readOnlyDSNs func(dsn string, immutable bool) (string, error)
	// classify maps an engine error to ErrReadOnly when the store cannot be
	// written (read-only file, disk full).
	readOnly func(err error) bool
	// unique recognises a unique-key violation (a concurrent insert of the
	// same ID), reported as ErrExists.
	unique func(err error) bool
	// forUpdate is appended to a row read inside a write transaction: ""
	// on SQLite (one writer, BEGIN IMMEDIATE), " FOR UPDATE" on PostgreSQL.
	forUpdate string
	// noLimit is the LIMIT argument meaning "all rows".
	noLimit any
	// pool: the writer and readers share one pool of this many connections
	// (PostgreSQL); 0 = SQLite's one writer connection and a reader pool.
	pool int
	// lockMigrations, when set, serialises migrations across processes
	// (PostgreSQL advisory lock) on conn; it returns the unlock.
	lockMigrations func(ctx context.Context, conn *sql.Conn) (func(), error)
}

// rebind adapts a query's placeholders to the dialect. Both SQLite and
// PostgreSQL take $N, so it is the identity for now.
func (d *dialect) rebind(q string) string { return q }

func dialectFor(driver string) (*dialect, error) {
	switch driver {
	case "", "sqlite":
		return &sqliteDialect, nil
	case "postgres":
		return &postgresDialect, nil
	}
	return nil, fmt.Errorf("pinstore: driver %q: \"sqlite\" or \"postgres\"", driver)
}

var sqliteDialect = dialect{
	name:         "sqlite",
	migrations:   sqliteMigrations,
	dsns:         sqliteDSNs,
	readOnlyDSNs: sqliteReadOnlyDSN,
	readOnly:     sqliteReadOnly,
	unique:       sqliteUnique,
	noLimit:      -1,
}

// sqliteDSNs adds the pragmas bindery needs: WAL, a busy timeout, foreign
// keys; the writer begins transactions IMMEDIATE, readers are query-only.
func sqliteDSNs(dsn string) (string, string, bool, error) {
	common := url.Values{}
	common.Add("_pragma", "busy_timeout(10000)")
	common.Add("_pragma", "foreign_keys(1)")
	if dsn == "" {
		return "", "", false, errors.New("pinstore: dsn is empty (a file path, or :memory:)")
	}
	if dsn == ":memory:" {
		common.Set("_txlock", "immediate")
		d := "file::memory:?" + common.Encode()
		return d, d, true, nil
	}
	base := dsn
	if !strings.HasPrefix(base, "file:") {
		if strings.ContainsAny(base, "?#") {
			return "", "", false, fmt.Errorf("pinstore: dsn %q: a plain path may not contain ? or #; use a file: URI", dsn)
		}
		base = "file:" + base
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	common.Add("_pragma", "journal_mode(WAL)")
	common.Add("_pragma", "synchronous(NORMAL)")
	w := url.Values{}
	r := url.Values{}
	for k, v := range common {
		w[k] = append([]string(nil), v...)
		r[k] = append([]string(nil), v...)
	}
	w.Set("_txlock", "immediate")
	r.Add("_pragma", "query_only(1)")
	return base + sep + w.Encode(), base + sep + r.Encode(), false, nil
}

// sqliteReadOnly recognises SQLITE_READONLY (8), SQLITE_FULL (13) and
// SQLITE_CANTOPEN (14) by their primary result code.
func sqliteReadOnly(err error) bool {
	var c interface{ Code() int }
	if errors.As(err, &c) {
		switch c.Code() & 0xff {
		case 8, 13, 14:
			return true
		}
	}
	return false
}

// sqliteUnique recognises SQLITE_CONSTRAINT (19).
func sqliteUnique(err error) bool {
	var c interface{ Code() int }
	return errors.As(err, &c) && c.Code()&0xff == 19
}

// sqliteReadOnlyDSN opens a file for reading only (mode=ro, query_only).
// A WAL database on a read-only filesystem can be read only as immutable,
// since readers need to write the -shm file otherwise.
func sqliteReadOnlyDSN(dsn string, immutable bool) (string, error) {
	if dsn == ":memory:" || dsn == "" {
		return "", errors.New("pinstore: an in-memory store cannot be read-only")
	}
	base := dsn
	if !strings.HasPrefix(base, "file:") {
		base = "file:" + base
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)")
	v.Add("_pragma", "query_only(1)")
	v.Set("mode", "ro")
	if immutable {
		v.Set("immutable", "1")
	}
	return base + sep + v.Encode(), nil
}
