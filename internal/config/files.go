package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/bindery/bindery/internal/certs"
	"github.com/bindery/bindery/internal/passhash"
)

// The file checks of `bindery --check`: what start-up would open, tried
// now as the user running the check (the unit's ExecStartPre runs as the
// service user, inside the same sandbox), without the network and
// without creating anything. Each returns nil or an error saying what
// the user cannot do; a backend's own check can call them.

// CheckReadable reports why path cannot be read.
func CheckReadable(path string) error {
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

// CheckWritableDir reports why files cannot be created in dir.
func CheckWritableDir(dir string) error {
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

// CheckWritableFile reports why path cannot be opened for writing: an
// existing file must be writable, a new one's folder must be.
func CheckWritableFile(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return CheckWritableDir(filepath.Dir(path))
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
	return CheckWritableDir(filepath.Dir(path)) // rotation creates files beside it
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

// CheckSQLiteDSN reports why a SQLite store could not be opened for
// writing: its folder must exist and be writable (WAL mode creates
// pins.db-wal and pins.db-shm beside the file), and an existing file
// must be readable and writable.
func CheckSQLiteDSN(dsn string) error {
	p := sqlitePath(dsn)
	if p == "" {
		return nil
	}
	if err := CheckWritableDir(filepath.Dir(p)); err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		if err := CheckReadable(p); err != nil {
			return err
		}
		return CheckWritableFile(p)
	}
	return nil
}

// CheckFiles tries every file and folder the server opens at start: the
// TLS pair (readable, the key matching the certificate), the audit log,
// each ldap backend's bind_password_file and ca_file, each SQLite store's
// file and folder, and each service account's password_hash_file.
func (c *Config) CheckFiles() Problems {
	var p Problems
	add := func(key string, err error) {
		if err != nil {
			p = append(p, fmt.Sprintf("%s: %v", key, err))
		}
	}
	if t := c.Server.TLS; t != nil {
		rerr := CheckReadable(t.CertFile)
		add("server.tls.cert_file", rerr)
		kerr := CheckReadable(t.KeyFile)
		add("server.tls.key_file", kerr)
		if rerr == nil && kerr == nil {
			add("server.tls", certs.Check(t.CertFile, t.KeyFile))
		}
	}
	if a := c.Log.AuditFile; a != "" && a != "-" {
		add("log.audit_file", CheckWritableFile(a))
	}
	for i, sa := range c.ServiceAccounts {
		if sa.PasswordFile == "" {
			continue
		}
		key := fmt.Sprintf("service_account[%d].password_hash_file", i)
		if err := CheckReadable(sa.PasswordFile); err != nil {
			add(key, err)
		} else if b, err := os.ReadFile(sa.PasswordFile); err == nil {
			if err := passhash.Check(strings.TrimSpace(string(b))); err != nil {
				add(key, err)
			}
		}
	}
	names := make([]string, 0, len(c.Backends))
	for n := range c.Backends {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		b := c.Backends[name]
		key := "backend." + name
		switch b.Type {
		case "ldap":
			if b.BindPasswordFile != "" {
				add(key+".bind_password_file", CheckReadable(b.BindPasswordFile))
			}
			if b.CAFile != "" {
				add(key+".ca_file", CheckReadable(b.CAFile))
			}
		case "pinstore":
			if b.Driver == "sqlite" {
				add(key+".dsn", CheckSQLiteDSN(b.DSN))
			}
		}
	}
	return p
}
