package pinstore

import (
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
	// classify maps an engine error to ErrReadOnly when the store cannot be
	// written (read-only file, disk full).
	readOnly func(err error) bool
}

// rebind adapts a query's placeholders to the dialect. Both SQLite and
// PostgreSQL take $N, so it is the identity for now.
func (d *dialect) rebind(q string) string { return q }

func dialectFor(driver string) (*dialect, error) {
	switch driver {
	case "", "sqlite":
		return &sqliteDialect, nil
	}
	return nil, fmt.Errorf("pinstore: driver %q: only \"sqlite\" is supported", driver)
}

var sqliteDialect = dialect{
	name:       "sqlite",
	migrations: sqliteMigrations,
	dsns:       sqliteDSNs,
	readOnly:   sqliteReadOnly,
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
