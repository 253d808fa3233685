package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/bindery/bindery/internal/certs"
	"github.com/bindery/bindery/internal/filecheck"
	"github.com/bindery/bindery/internal/passhash"
)

// CheckFiles is the file part of `bindery --check`: what start-up would
// open, tried now as the user running the check (the unit's ExecStartPre
// runs as the service user, inside the same sandbox), without the network
// and without creating anything (internal/filecheck): the
// TLS pair (readable, the key matching the certificate), the audit log,
// each ldap backend's bind_password_file and ca_file, each SQLite store's
// file and folder, and each service account's password_hash_file.
// A store that can be read but not written is a warning: bindery starts
// and serves it read-only.
func (c *Config) CheckFiles() (problems, warnings Problems) {
	var p Problems
	add := func(key string, err error) {
		switch {
		case errors.Is(err, filecheck.ErrReadOnly):
			warnings = append(warnings, fmt.Sprintf("%s: %v", key, err))
		case err != nil:
			p = append(p, fmt.Sprintf("%s: %v", key, err))
		}
	}
	if t := c.Server.TLS; t != nil {
		rerr := filecheck.Readable(t.CertFile)
		add("server.tls.cert_file", rerr)
		kerr := filecheck.Readable(t.KeyFile)
		add("server.tls.key_file", kerr)
		if rerr == nil && kerr == nil {
			add("server.tls", certs.Check(t.CertFile, t.KeyFile))
		}
	}
	if a := c.Log.AuditFile; a != "" && a != "-" {
		add("log.audit_file", filecheck.WritableFile(a))
	}
	for i, sa := range c.ServiceAccounts {
		if sa.PasswordFile == "" {
			continue
		}
		key := fmt.Sprintf("service_account[%d].password_hash_file", i)
		if err := filecheck.Readable(sa.PasswordFile); err != nil {
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
		if lc := b.LDAP(); lc != nil {
			if lc.BindPasswordFile != "" {
				add(key+".bind_password_file", filecheck.Readable(lc.BindPasswordFile))
			}
			if lc.CAFile != "" {
				add(key+".ca_file", filecheck.Readable(lc.CAFile))
			}
		}
		if pc := b.PINStore(); pc != nil && pc.Driver == "sqlite" {
			add(key+".dsn", filecheck.SQLiteDSN(pc.DSN))
		}
	}
	return p, warnings
}
