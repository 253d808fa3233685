// Package filecheck answers, for a path, whether the running user can do
// with it what bindery's start-up will do: read a file, create files in a
// folder, write a file, open a SQLite database for writing. It changes
// nothing. `bindery --check` (internal/config.CheckFiles) runs these, and
// a backend's own checks can call them (it imports nothing of bindery's).
// See README.md in this folder.
package filecheck

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Readable reports why path cannot be read.
func Readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a folder, not a file", path)
	}
	_, err = f.Read(make([]byte, 1))
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// WritableDir reports why files cannot be created in dir.
func WritableDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("folder %s does not exist", dir)
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	if err := syscall.Access(dir, 2|1); err != nil { // W_OK|X_OK; EROFS on a read-only mount
		return fmt.Errorf("folder %s is not writable by this user: %w", dir, err)
	}
	return nil
}

// WritableFile reports why path cannot be opened for writing: an
// existing file must be writable, a new one's folder must be.
func WritableFile(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return WritableDir(filepath.Dir(path))
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a folder, not a file", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	f.Close()
	return WritableDir(filepath.Dir(path)) // rotation creates files beside it
}

// sqlitePath is the database file of a sqlite dsn ("" for :memory:).
func sqlitePath(dsn string) string {
	if dsn == ":memory:" {
		return ""
	}
	p := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if p == ":memory:" || p == "" {
		return ""
	}
	return p
}

// ErrReadOnly is wrapped by SQLiteDSN's answer when the store exists and
// can be read but not written: bindery then starts and serves binds from
// it read-only (PIN changes answer 80), so it is a warning, not a reason
// not to start.
var ErrReadOnly = errors.New("the store can be read but not written: binds are served read-only, PIN changes and lockouts fail")

// SQLiteDSN reports why a SQLite store could not be opened: its folder
// must exist; a store that does not exist yet needs the folder writable
// (to create it, and WAL mode's pins.db-wal and pins.db-shm beside it); an
// existing one must be readable, and an error wrapping ErrReadOnly says
// that it or its folder cannot be written.
func SQLiteDSN(dsn string) error {
	p := sqlitePath(dsn)
	if p == "" {
		return nil
	}
	dir := filepath.Dir(p)
	if _, err := os.Stat(p); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return WritableDir(dir)
	}
	if err := Readable(p); err != nil {
		return err
	}
	if err := WritableFile(p); err != nil {
		return fmt.Errorf("%w (%w)", ErrReadOnly, err)
	}
	return nil
}
