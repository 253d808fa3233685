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
// direct bind with DNTemplate. With LookupTTL the DN and entry found for
// an ID are remembered, so that the next login of that ID is one bind; a
// refused bind on a remembered DN searches again before answering.
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

	dn, entry, known := b.known.get(cr.ID)
	if b.s.DNTemplate != "" {
		dn = b.userDN(cr.ID)
	} else if !known {
		var res backend.Result
		var err error
		if dn, entry, res, err = b.locate(ctx, cr.ID); err != nil || dn == "" {
			return res, false, err
		}
	}
	got, res, err := b.bindAs(ctx, dn, cr, entry)
	if err == nil && got == nil && known && b.s.DNTemplate == "" &&
		(res.Reason == backend.ReasonBadCredentials || res.Reason == backend.ReasonUnknownUser) {
		// The remembered DN may have gone stale: search again, and bind
		// again only when the person's DN changed.
		b.known.remove(cr.ID)
		ndn, nentry, nres, err := b.locate(ctx, cr.ID)
		if err != nil || ndn == "" {
			return nres, false, err
		}
		if ndn != dn {
			got, res, err = b.bindAs(ctx, ndn, cr, nentry)
			dn = ndn
		}
	}
	if err != nil {
		return backend.Result{}, false, fmt.Errorf("ldap %s: authenticate: %w", b.s.Name, err)
	}
	if got == nil {
		return res, false, nil
	}
	b.known.add(cr.ID, dn, got)
	return backend.Result{Entry: got}, true, nil
}

// locate finds the DN and entry of id by a search. An ID with no entry or
// more than one is a refusal (res with ReasonUnknownUser, dn ""); only an
// upstream that cannot answer is an error.
func (b *Backend) locate(ctx context.Context, id string) (dn string, entry *backend.Entry, res backend.Result, err error) {
	e, err := b.find(ctx, id)
	switch {
	case errors.Is(err, errNoEntry), errors.Is(err, errAmbiguous):
		return "", nil, backend.Result{Reason: backend.ReasonUnknownUser}, nil
	case err != nil:
		return "", nil, backend.Result{}, fmt.Errorf("ldap %s: authenticate: %w", b.s.Name, err)
	}
	if e.DN == "" {
		// A bind with no name and a password is not a user bind.
		return "", nil, backend.Result{}, fmt.Errorf("ldap %s: authenticate: %w", b.s.Name,
			unavailable("search", errors.New("entry without a DN")))
	}
	return e.DN, b.toEntry(id, e), backend.Result{}, nil
}

// bindAs binds as dn on a bind connection: the entry on success, a refusal
// reason in res, or an error wrapping backend.ErrUnavailable.
func (b *Backend) bindAs(ctx context.Context, dn string, cr backend.Credentials, entry *backend.Entry) (*backend.Entry, backend.Result, error) {
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
		return nil, backend.Result{}, err
	case refused:
		return nil, backend.Result{Reason: reason}, nil
	}
	return got, backend.Result{}, nil
}

// userBind binds as dn on c. After a success it reads the entry (DN
// template mode, on the user's own connection) and marks c as holding a
// user's identity. A failed bind (49) leaves the connection anonymous by
// itself (RFC 4511).
func (b *Backend) userBind(ctx context.Context, c *conn, dn string, cr backend.Credentials, entry *backend.Entry) (backend.Reason, bool, *backend.Entry, error) {
	err := c.bind(ctx, dn, cr.Password)
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
	// c keeps the user's identity until its next bind, or until it has
	// been idle a moment (pool.neutralize): the bind pool runs nothing but
	// binds, each of which replaces the identity first, so an immediate
	// anonymous rebind would cost the directory a round trip per login
	// only to be overwritten by the next one.
	c.asUser = true
	return "", false, entry, nil
}

// readOwnEntry reads dn on the user-bound connection. An LDAP refusal
// (no access, no such object) gives a nil entry and no error; a transport
// failure gives an error.
func (b *Backend) readOwnEntry(ctx context.Context, c *conn, dn string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, b.timeLimit(), false,
		"(objectClass=*)", b.s.fetch, nil)
	res, err := c.search(ctx, req)
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
	entry := b.toEntry(id, e)
	// A look-up usually comes just before that person's bind (the
	// search-then-bind flow of EZproxy, Apache, ...).
	b.known.add(id, e.DN, entry)
	return entry, nil
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
		res, err = c.search(ctx, req)
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
		res, err = c.search(ctx, req)
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
