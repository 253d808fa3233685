// Package static is the bindery backend for users listed in the config file
// (service accounts, demos, tests). Passwords are stored as argon2id PHC
// strings and checked by a verify function the caller supplies
// (internal/passhash.Verify in the server).
package static

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/hashpool"
	"github.com/bindery/bindery/internal/passhash"
	"github.com/google/uuid"
)

// Config is a [backend.NAME] table of type "static": its users, each a
// [[backend.NAME.user]].
type Config struct {
	Users []User `toml:"user"`
}

// User is one configured account.
type User struct {
	ID           string `toml:"id"`            // login ID, compared exactly (routes normalise case)
	PasswordHash string `toml:"password_hash"` // argon2id PHC string (`binderyctl hash`)
	Name         string `toml:"name"`          // cn
	GivenName    string `toml:"given_name"`
	Surname      string `toml:"surname"` // sn
	Mail         string `toml:"mail"`
	Category     string `toml:"category"`    // employeeType
	Institution  string `toml:"institution"` // o
}

// Validate lists every problem with c at once (errors.Join), each error's
// text starting with its key ("user[1].id: ..."); password hashes must be
// ones bindery can verify.
func (c *Config) Validate() error {
	errs := checkUsers(c.Users)
	for i, u := range c.Users {
		if u.PasswordHash == "" {
			continue
		}
		if err := passhash.Check(u.PasswordHash); err != nil {
			errs = append(errs, fmt.Errorf("user[%d].password_hash: %v", i, err))
		}
	}
	return errors.Join(errs...)
}

// checkUsers finds what New refuses: a missing, spaced or repeated ID and
// a missing password hash.
func checkUsers(users []User) []error {
	var errs []error
	seen := make(map[string]bool, len(users))
	for i, u := range users {
		switch {
		case u.ID == "":
			errs = append(errs, fmt.Errorf("user[%d].id: required", i))
		case strings.TrimSpace(u.ID) != u.ID:
			errs = append(errs, fmt.Errorf("user[%d].id: %q has surrounding spaces", i, u.ID))
		case seen[u.ID]:
			errs = append(errs, fmt.Errorf("user[%d].id: %q is defined twice", i, u.ID))
		}
		seen[u.ID] = true
		if u.PasswordHash == "" {
			errs = append(errs, fmt.Errorf("user[%d].password_hash: required (print one with `binderyctl hash`)", i))
		}
	}
	return errs
}

// VerifyFunc checks secret against an encoded hash; an error means the hash
// cannot be used (malformed, unsupported).
type VerifyFunc func(encoded, secret string) (ok bool, err error)

// Options tune the backend.
type Options struct {
	// DummyHash is verified against the given password when the ID is
	// unknown, so that an unknown ID costs as much time as a wrong password.
	// Empty: unknown IDs answer at once.
	DummyHash string
	// HashPool bounds the verifications running at once; when it is full,
	// Authenticate fails with an error wrapping backend.ErrBusy. nil: no bound.
	HashPool *hashpool.Pool
}

// Backend serves a fixed set of users. It is safe for concurrent use.
type Backend struct {
	name   string
	users  map[string]*backend.Entry
	hashes map[string]string
	verify VerifyFunc
	dummy  string
	pool   *hashpool.Pool
}

var _ backend.Authenticator = (*Backend)(nil)

// uuidNamespace is the UUIDv5 namespace of the entries' UUIDs.
var uuidNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/bindery/bindery/backend/static"))

// UUID is the stable UUID of user id in the backend called name: a
// name-based UUIDv5, so it survives restarts and config reloads.
func UUID(name, id string) string {
	return uuid.NewSHA1(uuidNamespace, []byte(name+"\x00"+id)).String()
}

// New checks users and returns the backend: every user needs an ID (unique,
// without surrounding spaces) and a password hash (see checkUsers). The
// last Options given, if any, apply.
func New(name string, users []User, verify VerifyFunc, opts ...Options) (*Backend, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[len(opts)-1]
	}
	errs := checkUsers(users)
	if verify == nil {
		errs = append(errs, errors.New("no verify function"))
	}
	b := &Backend{
		name:   name,
		users:  make(map[string]*backend.Entry, len(users)),
		hashes: make(map[string]string, len(users)),
		verify: verify,
		dummy:  o.DummyHash,
		pool:   o.HashPool,
	}
	for _, u := range users {
		b.hashes[u.ID] = u.PasswordHash
		b.users[u.ID] = &backend.Entry{
			ID:          u.ID,
			CommonName:  u.Name,
			GivenName:   u.GivenName,
			Surname:     u.Surname,
			Mail:        u.Mail,
			Category:    u.Category,
			Institution: u.Institution,
			UUID:        UUID(name, u.ID),
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("static backend %q: %w", name, errors.Join(errs...))
	}
	return b, nil
}

// Authenticate checks the password of a configured user. An empty password
// is refused without verifying. A hash the verify function cannot use is an
// error wrapping backend.ErrUnavailable (a configuration fault, never
// reported as a wrong password).
func (b *Backend) Authenticate(ctx context.Context, c backend.Credentials) (backend.Result, bool, error) {
	if c.Password == "" {
		return backend.Result{Reason: backend.ReasonBadCredentials}, false, nil
	}
	hash, known := b.hashes[c.ID]
	if !known {
		if b.dummy != "" {
			// equalise timing; the result is irrelevant
			if err := b.pool.Do(ctx, c.ClientAddr, func() { _, _ = b.verify(b.dummy, c.Password) }); err != nil {
				return backend.Result{}, false, fmt.Errorf("static %s: authenticate: %w", b.name, err)
			}
		}
		return backend.Result{Reason: backend.ReasonUnknownUser}, false, nil
	}
	var ok bool
	var err error
	if perr := b.pool.Do(ctx, c.ClientAddr, func() { ok, err = b.verify(hash, c.Password) }); perr != nil {
		return backend.Result{}, false, fmt.Errorf("static %s: authenticate: %w", b.name, perr)
	}
	if err != nil {
		return backend.Result{}, false, fmt.Errorf("static %s: verify password of %q: %w: %w", b.name, c.ID, backend.ErrUnavailable, err)
	}
	if !ok {
		return backend.Result{Reason: backend.ReasonBadCredentials}, false, nil
	}
	return backend.Result{Entry: b.entry(c.ID)}, true, nil
}

// Lookup returns a copy of the user's entry, or an error wrapping
// backend.ErrNotFound.
func (b *Backend) Lookup(_ context.Context, id string) (*backend.Entry, error) {
	if _, ok := b.users[id]; !ok {
		return nil, fmt.Errorf("static %s: lookup: %w", b.name, backend.ErrNotFound)
	}
	return b.entry(id), nil
}

// IDs lists the configured login IDs (for listings and tests), unordered.
func (b *Backend) IDs() []string {
	out := make([]string, 0, len(b.users))
	for id := range b.users {
		out = append(out, id)
	}
	return out
}

// Close does nothing; it is part of backend.Authenticator.
func (b *Backend) Close() error { return nil }

// entry returns a copy, so callers cannot change the configured entry.
func (b *Backend) entry(id string) *backend.Entry {
	e := *b.users[id]
	return &e
}
