package ldapbackend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

// Search outcomes that are answers, not failures.
var (
	errNoEntry   = errors.New("no entry matches")
	errAmbiguous = errors.New("more than one entry matches")
)

// Authenticate checks c.Password for c.ID by search-then-bind, or by a
// direct bind with DNTemplate.
//
// An empty password is refused at once and never sent upstream: a simple
// bind with a DN and no password is an unauthenticated bind, which many
// servers answer with success. No search match, or more than one, is
// ok=false with ReasonUnknownUser and no user bind is attempted (so an
// unknown user answers faster than a wrong password; the proxy's fixed
// failure delay, if any, is what hides that). Only an upstream that cannot
// answer gives an error, wrapping backend.ErrUnavailable.
func (b *Backend) Authenticate(ctx context.Context, cr backend.Credentials) (backend.Result, bool, error) {
	if cr.Password == "" {
		return backend.Result{Reason: backend.ReasonBadCredentials}, false, nil
	}
	if cr.ID == "" {
		return backend.Result{Reason: backend.ReasonUnknownUser}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.s.Timeout)
	defer cancel()

	var dn string
	var entry *backend.Entry
	if b.s.DNTemplate != "" {
		dn = b.userDN(cr.ID)
	} else {
		e, err := b.find(ctx, cr.ID)
		switch {
		case errors.Is(err, errNoEntry):
			return backend.Result{Reason: backend.ReasonUnknownUser}, false, nil
		case errors.Is(err, errAmbiguous):
			return backend.Result{Reason: backend.ReasonUnknownUser}, false, nil
		case err != nil:
			return backend.Result{}, false, fmt.Errorf("ldap %s: authenticate: %w", b.s.Name, err)
		}
		if e.DN == "" {
			// A bind with no name and a password is not a user bind.
			return backend.Result{}, false, fmt.Errorf("ldap %s: authenticate: %w", b.s.Name,
				unavailable("search", errors.New("entry without a DN")))
		}
		dn, entry = e.DN, b.toEntry(cr.ID, e)
	}

	var reason backend.Reason
	var refused bool
	var got *backend.Entry
	err := b.withConn(ctx, b.binds, func(c *conn) error {
		var err error
		reason, refused, got, err = b.userBind(ctx, c, dn, cr, entry)
		return err
	})
	switch {
	case err != nil:
		return backend.Result{}, false, fmt.Errorf("ldap %s: authenticate: %w", b.s.Name, err)
	case refused:
		return backend.Result{Reason: reason}, false, nil
	}
	return backend.Result{Entry: got}, true, nil
}

// userBind binds as dn on c. After a success it reads the entry (DN
// template mode, on the user's own connection) and returns c to the
// anonymous state; if that rebind fails, c is closed rather than reused.
// A failed bind (49) leaves the connection anonymous by itself (RFC 4511).
func (b *Backend) userBind(ctx context.Context, c *conn, dn string, cr backend.Credentials, entry *backend.Entry) (backend.Reason, bool, *backend.Entry, error) {
	err := c.run(ctx, func(l *ldap.Conn) error { return l.Bind(dn, cr.Password) })
	reason, refused, uerr := bindOutcome(err)
	if err != nil {
		return reason, refused, nil, uerr
	}
	if entry == nil {
		e, err := b.readOwnEntry(ctx, c, dn)
		if err != nil {
			c.broken = true
			return "", false, nil, unavailable("read own entry", err)
		}
		if e == nil {
			b.s.Logger.Warn("ldap bind succeeded but the entry cannot be read; returning it without attributes",
				"backend", b.s.Name, "id", cr.ID)
			entry = &backend.Entry{ID: cr.ID, UUID: fallbackUUID(b.s.Name, cr.ID)}
		} else {
			entry = b.toEntry(cr.ID, e)
		}
	}
	if err := anonymousBind(ctx, c); err != nil {
		c.broken = true
	}
	return "", false, entry, nil
}

// readOwnEntry reads dn on the user-bound connection. An LDAP refusal
// (no access, no such object) gives a nil entry and no error; a transport
// failure gives an error.
func (b *Backend) readOwnEntry(ctx context.Context, c *conn, dn string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, b.timeLimit(), false,
		"(objectClass=*)", b.s.fetch, nil)
	res, err := do(ctx, c, func(l *ldap.Conn) (*ldap.SearchResult, error) { return l.Search(req) })
	if err != nil {
		if isTransport(err) {
			return nil, err
		}
		return nil, nil
	}
	if len(res.Entries) != 1 {
		return nil, nil
	}
	return res.Entries[0], nil
}

// Lookup returns the entry for id, or an error wrapping backend.ErrNotFound
// (also when the ID is ambiguous upstream), or one wrapping
// backend.ErrUnavailable.
func (b *Backend) Lookup(ctx context.Context, id string) (*backend.Entry, error) {
	if id == "" {
		return nil, fmt.Errorf("ldap %s: lookup: %w", b.s.Name, backend.ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(ctx, b.s.Timeout)
	defer cancel()
	var e *ldap.Entry
	var err error
	if b.s.DNTemplate != "" {
		e, err = b.readDN(ctx, b.userDN(id))
	} else {
		e, err = b.find(ctx, id)
	}
	switch {
	case errors.Is(err, errNoEntry), errors.Is(err, errAmbiguous):
		return nil, fmt.Errorf("ldap %s: lookup: %w: %w", b.s.Name, backend.ErrNotFound, err)
	case err != nil:
		return nil, fmt.Errorf("ldap %s: lookup: %w", b.s.Name, err)
	}
	return b.toEntry(id, e), nil
}

// filterFor builds the search filter. This is the only place where a
// login ID enters a filter, and it is escaped here.
func (b *Backend) filterFor(id string) string {
	return strings.ReplaceAll(b.s.UserFilter, placeholder, ldap.EscapeFilter(id))
}

// userDN builds the DN from DNTemplate; the ID is escaped here.
func (b *Backend) userDN(id string) string {
	return strings.ReplaceAll(b.s.DNTemplate, placeholder, ldap.EscapeDN(id))
}

// find searches BaseDN for the one entry matching id on a service
// connection. It returns errNoEntry, errAmbiguous, or an error wrapping
// backend.ErrUnavailable.
func (b *Backend) find(ctx context.Context, id string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(b.s.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, b.timeLimit(), false,
		b.filterFor(id), b.s.fetch, nil)
	var res *ldap.SearchResult
	err := b.withConn(ctx, b.service, func(c *conn) error {
		var err error
		res, err = do(ctx, c, func(l *ldap.Conn) (*ldap.SearchResult, error) { return l.Search(req) })
		return err
	})
	n := 0
	if res != nil {
		n = len(res.Entries)
	}
	switch {
	case n > 1 && (err == nil || ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded)):
		b.s.Logger.Warn("ldap login ID matches more than one entry; refusing it", "backend", b.s.Name, "id", id, "filter", req.Filter)
		return nil, errAmbiguous
	case err != nil:
		return nil, unavailable("search", err)
	case n == 0:
		return nil, errNoEntry
	}
	return res.Entries[0], nil
}

// readDN reads one entry by DN on a service connection.
func (b *Backend) readDN(ctx context.Context, dn string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, b.timeLimit(), false,
		"(objectClass=*)", b.s.fetch, nil)
	var res *ldap.SearchResult
	err := b.withConn(ctx, b.service, func(c *conn) error {
		var err error
		res, err = do(ctx, c, func(l *ldap.Conn) (*ldap.SearchResult, error) { return l.Search(req) })
		return err
	})
	switch {
	case ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultInvalidDNSyntax):
		return nil, errNoEntry
	case err != nil:
		return nil, unavailable("read", err)
	case len(res.Entries) != 1:
		return nil, errNoEntry
	}
	return res.Entries[0], nil
}
