package proxy

import (
	"strings"

	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/bindery/bindery/proxy/names"
	"github.com/go-ldap/ldap/v3"
)

// compare answers a Compare request (RFC 4511 §4.10) on a person's entry
// (any of its attributes, e.g. memberOf or employeeType) or on a virtual
// group (member / uniqueMember, as Apache's "Require ldap-group" asks).
// Access is that of a search: the person itself or a service account with
// CanSearch.
func (c *conn) compare(o *op, req *ldapwire.CompareRequest) error {
	ident := c.identity()
	o.log("dn", req.DN, "attr", req.Attr)
	if ident.kind == anonymous {
		return newError(ldap.LDAPResultInsufficientAccessRights, textNoAccess)
	}
	n, err := c.srv.parser().Parse(req.DN)
	if err != nil {
		return newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
	}
	value := string(req.Value)
	switch n.Kind {
	case names.Person:
		e, err := c.readPerson(o, ident, n.ID)
		if err != nil {
			return err
		}
		return compareValues(o, e, req.Attr, value)
	case names.Group:
		attr := strings.ToLower(baseAttr(req.Attr))
		if attr != "member" && attr != "uniquemember" {
			return compareValues(o, c.srv.groupEntry(n.ID), req.Attr, value)
		}
		ok, err := c.isMember(o, ident, n.ID, value)
		if err != nil {
			return err
		}
		o.code = ldap.LDAPResultCompareFalse
		if ok {
			o.code = ldap.LDAPResultCompareTrue
		}
		return nil
	}
	return newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
}

// compareValues sets compareTrue or compareFalse, or fails with 16 when
// the entry has no such attribute.
func compareValues(o *op, e *vEntry, attr, value string) error {
	values, ok := e.get(attr)
	if !ok {
		return newError(ldap.LDAPResultNoSuchAttribute, "no such attribute")
	}
	o.code = ldap.LDAPResultCompareFalse
	for _, v := range values {
		if valueEqual(baseAttr(attr), value, v) {
			o.code = ldap.LDAPResultCompareTrue
			break
		}
	}
	return nil
}
