package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/bindery/bindery/proxy/names"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// maxFilterIDs bounds the IDs one search filter may name.
const maxFilterIDs = 64

// tree holds the parsed DNs of the virtual tree's fixed entries.
type tree struct {
	suffix, people, services, groups *ldap.DN
}

func (s *Server) tree() tree {
	parse := func(dn string) *ldap.DN {
		d, err := ldap.ParseDN(dn)
		if err != nil {
			return &ldap.DN{}
		}
		return d
	}
	return tree{
		suffix:   parse(s.Suffix),
		people:   parse("ou=people," + s.Suffix),
		services: parse("ou=services," + s.Suffix),
		groups:   parse("ou=groups," + s.Suffix),
	}
}

// search answers a Search request (RFC 4511 §4.5). See README.md for what
// each identity may read.
func (c *conn) search(o *op, req *ldapwire.SearchRequest) error {
	filter := req.Filter
	if filter == nil {
		f, err := ldap.CompileFilter(req.FilterString)
		if err != nil {
			return &ldapError{Code: ldap.LDAPResultProtocolError, Diag: "bad search filter", Err: err}
		}
		filter = f
	}
	o.log("base", req.BaseDN, "scope", req.Scope, "filter", c.srv.loggedFilter(filter, req.FilterString))
	if o.hasControl(ldapwire.OIDPagedResults) {
		// Every answer fits one page: tell the client there is no more.
		o.controls = append(o.controls, ldapwire.PagedResultsControl(0, nil))
	}
	ident := c.identity()
	if isSubschemaDN(req.BaseDN) {
		// Readable without binding, like the Root DSE (RFC 4512 §4.2).
		if req.Scope != ldapwire.ScopeBase {
			return c.sendEntries(o, req, filter, nil)
		}
		return c.sendEntries(o, req, filter, []*vEntry{c.srv.subschema()})
	}
	if strings.TrimSpace(req.BaseDN) == "" {
		if req.Scope != ldapwire.ScopeBase {
			if ident.kind == anonymous {
				return newError(ldap.LDAPResultInsufficientAccessRights, textNoAccess)
			}
			return newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
		}
		return c.sendEntries(o, req, filter, []*vEntry{c.srv.rootDSE()})
	}
	if ident.kind == anonymous {
		return newError(ldap.LDAPResultInsufficientAccessRights, textNoAccess)
	}
	base, err := ldap.ParseDN(req.BaseDN)
	if err != nil {
		return &ldapError{Code: ldap.LDAPResultInvalidDNSyntax, Diag: "invalid DN", Err: err}
	}
	t := c.srv.tree()
	scope := req.Scope
	switch {
	case base.EqualFold(t.suffix):
		switch scope {
		case ldapwire.ScopeBase:
			return c.sendEntries(o, req, filter, []*vEntry{containerEntry(c.srv.Suffix)})
		case ldapwire.ScopeOne:
			return c.sendEntries(o, req, filter, []*vEntry{
				containerEntry(t.people.String()), containerEntry(t.services.String()), containerEntry(t.groups.String()),
			})
		}
		if err := c.searchPeople(o, req, filter, ident); err != nil {
			return err
		}
		return c.appendPOSIXGroups(o, req, filter, ident)
	case base.EqualFold(t.people):
		if scope == ldapwire.ScopeBase {
			return c.sendEntries(o, req, filter, []*vEntry{containerEntry(t.people.String())})
		}
		return c.searchPeople(o, req, filter, ident)
	case base.EqualFold(t.services), base.EqualFold(t.groups):
		if scope == ldapwire.ScopeBase {
			return c.sendEntries(o, req, filter, []*vEntry{containerEntry(base.String())})
		}
		if base.EqualFold(t.groups) {
			return c.appendPOSIXGroups(o, req, filter, ident)
		}
		return c.sendEntries(o, req, filter, nil)
	case t.people.AncestorOfFold(base):
		if scope != ldapwire.ScopeBase && scope != ldapwire.ScopeSub {
			return c.sendEntries(o, req, filter, nil)
		}
		n, err := c.srv.parser().Parse(req.BaseDN)
		if err != nil || n.Kind != names.Person {
			return newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
		}
		e, err := c.readPerson(o, ident, n.ID)
		if err != nil {
			return err
		}
		return c.sendEntries(o, req, filter, []*vEntry{e})
	case t.groups.AncestorOfFold(base):
		n, err := c.srv.parser().Parse(req.BaseDN)
		if err != nil || n.Kind != names.Group || (scope != ldapwire.ScopeBase && scope != ldapwire.ScopeSub) {
			return newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
		}
		if ident.kind != serviceIdentity {
			return newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
		}
		g, err := c.groupWithMembers(o, ident, n.ID, filter)
		if err != nil {
			return err
		}
		return c.sendEntries(o, req, filter, []*vEntry{g})
	}
	return newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
}

// canSearch reports whether the identity may look up other people. A
// person may read its own entry only; a service account needs CanSearch.
func (o *op) canSearch(ident identity) bool {
	if ident.kind != serviceIdentity {
		return false
	}
	sa, ok := o.routes.Service(ident.id)
	return ok && sa.CanSearch
}

// readPerson returns the entry of one person for a base read of its DN:
// the person itself, or a service account with CanSearch. Anyone else gets
// 32 (a person) or 50 (a service account without CanSearch), and a missing
// entry 32.
func (c *conn) readPerson(o *op, ident identity, id string) (*vEntry, error) {
	if ident.kind == serviceIdentity && !o.canSearch(ident) {
		return nil, newError(ldap.LDAPResultInsufficientAccessRights, textNoAccess)
	}
	route, nid, ok := o.routes.Route(id)
	if !ok {
		return nil, newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
	}
	if ident.kind == personIdentity && nid != ident.id {
		return nil, newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
	}
	e, err := c.lookup(o, route, nid)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
	}
	return e, nil
}

// lookup asks the route's backend for a normalised ID; a missing entry is
// (nil, nil).
func (c *conn) lookup(o *op, route *Route, nid string) (*vEntry, error) {
	ctx, cancel := o.backendCtx()
	be, err := route.Backend.Lookup(ctx, nid)
	cancel()
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, backendError(o.ctx, "lookup", err)
	}
	if be == nil {
		return nil, nil
	}
	e := c.srv.personEntry(c.srv.parser().PersonDN(nid), be)
	c.posixify(o, e, be)
	return e.restrict(o.visible(c.identity())), nil
}

// isSubschemaDN reports whether dn names the subschema subentry.
func isSubschemaDN(dn string) bool {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) != 1 || len(d.RDNs[0].Attributes) != 1 {
		return false
	}
	a := d.RDNs[0].Attributes[0]
	return strings.EqualFold(a.Type, "cn") && strings.EqualFold(a.Value, "subschema")
}

// appendPOSIXGroups adds the POSIX groups that match the filter to a
// search's answer (see posixGroups); on a paged search only to the first
// page.
func (c *conn) appendPOSIXGroups(o *op, req *ldapwire.SearchRequest, filter *ber.Packet, ident identity) error {
	if c.srv.POSIX == nil {
		return nil
	}
	if ctl, ok := ldapwire.FindControl(o.msg.Controls, ldapwire.OIDPagedResults); ok {
		if _, cookie, err := ldapwire.DecodePagedResults(ctl.Value); err != nil || len(cookie) > 0 {
			return nil
		}
	}
	groups, err := c.posixGroups(o, ident, filter)
	if err != nil {
		return err
	}
	code, diag := o.code, o.diag
	err = c.sendEntries(o, req, filter, groups)
	if code != 0 {
		o.code, o.diag = code, diag
	}
	return err
}

// canList reports whether the identity may list people (see
// ServiceAccount.CanList).
func (o *op) canList(ident identity) bool {
	if ident.kind != serviceIdentity {
		return false
	}
	sa, ok := o.routes.Service(ident.id)
	return ok && sa.CanSearch && sa.CanList
}

// visible is the attribute test of the identity: nil (everything) unless
// it is a service account with Attributes.
func (o *op) visible(ident identity) func(string) bool {
	if ident.kind != serviceIdentity {
		return nil
	}
	sa, ok := o.routes.Service(ident.id)
	if !ok || len(sa.Attributes) == 0 {
		return nil
	}
	return func(attr string) bool {
		attr = baseAttr(attr)
		if strings.EqualFold(attr, "objectClass") || strings.EqualFold(attr, "uid") {
			return true
		}
		for _, a := range sa.Attributes {
			if strings.EqualFold(a, attr) {
				return true
			}
		}
		return false
	}
}

// searchPeople answers a search under ou=people: every ID the filter names
// (see filterIDs) is routed like a bind, looked up, and returned when the
// entry matches the whole filter. A filter that names no ID finds nothing.
func (c *conn) searchPeople(o *op, req *ldapwire.SearchRequest, filter *ber.Packet, ident identity) error {
	if ident.kind == serviceIdentity && !o.canSearch(ident) {
		return newError(ldap.LDAPResultInsufficientAccessRights, textNoAccess)
	}
	if ids, bounded := boundedIDs(filter); o.canList(ident) && (!bounded || !c.allRoutable(o, ids)) {
		return c.listPeople(o, req, filter)
	}
	ids := filterIDs(filter)
	owners, err := c.uidOwners(o, filterValues(filter, "uidnumber"))
	if err != nil {
		return err
	}
	ids = append(ids, owners...)
	if len(ids) > maxFilterIDs {
		return newError(ldap.LDAPResultAdminLimitExceeded, fmt.Sprintf("filter names more than %d IDs", maxFilterIDs))
	}
	upn := "@" + strings.ToLower(c.srv.UPNSuffix)
	seen := make(map[string]bool)
	var entries []*vEntry
	for _, id := range ids {
		if c.srv.UPNSuffix != "" && strings.HasSuffix(strings.ToLower(id), upn) {
			id = id[:len(id)-len(upn)]
		}
		if !plausibleID(id) {
			continue
		}
		route, nid, ok := o.routes.Route(id)
		if !ok {
			continue
		}
		if ident.kind == personIdentity && nid != ident.id {
			continue
		}
		key := strings.ToLower(route.Name + "\x00" + nid)
		if seen[key] {
			continue
		}
		seen[key] = true
		e, err := c.lookup(o, route, nid)
		if err != nil {
			return err
		}
		if e == nil || seen["dn\x00"+strings.ToLower(e.dn)] {
			continue
		}
		seen["dn\x00"+strings.ToLower(e.dn)] = true
		entries = append(entries, e)
	}
	o.log("ids", len(ids))
	return c.sendEntries(o, req, filter, entries)
}

// allRoutable reports whether every value names a login ID that a route
// takes (after stripping @<UPNSuffix>). A listing account's filter such as
// (cn=Chan Tai Man) or (mail=someone@example.edu) names values that are
// no login ID: it is answered by a listing instead of look-ups.
func (c *conn) allRoutable(o *op, ids []string) bool {
	upn := "@" + strings.ToLower(c.srv.UPNSuffix)
	for _, id := range ids {
		if c.srv.UPNSuffix != "" && strings.HasSuffix(strings.ToLower(id), upn) {
			id = id[:len(id)-len(upn)]
		}
		if !plausibleID(id) {
			return false
		}
		if _, _, ok := o.routes.Route(id); !ok {
			return false
		}
	}
	return true
}

// sendEntries encodes the entries that match the filter into the
// operation's response, honouring SizeLimit and TypesOnly.
func (c *conn) sendEntries(o *op, req *ldapwire.SearchRequest, filter *ber.Packet, entries []*vEntry) error {
	n := 0
	for _, e := range entries {
		if !matchFilter(filter, e) {
			continue
		}
		if req.SizeLimit > 0 && int64(n) >= req.SizeLimit {
			o.code = ldap.LDAPResultSizeLimitExceeded
			o.diag = "size limit exceeded"
			break
		}
		attrs := e.selectAttrs(req.Attributes)
		if req.TypesOnly {
			o.buf = ldapwire.AppendSearchEntryTypesOnly(o.buf, o.id, e.dn, attrs, nil)
		} else {
			o.buf = ldapwire.AppendSearchEntry(o.buf, o.id, e.dn, attrs, nil)
		}
		n++
	}
	o.log("entries", n)
	return nil
}
