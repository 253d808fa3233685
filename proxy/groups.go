package proxy

import (
	"strings"

	"github.com/bindery/bindery/proxy/names"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// memberAttributes are the attributes of a virtual group that hold person
// DNs (lower case).
var memberAttributes = map[string]bool{"member": true, "uniquemember": true}

// isMember reports whether the person named by memberDN is in the virtual
// group of a category: its employeeType is the category. A DN that names
// no person, or a person the reader may not see, is not a member.
func (c *conn) isMember(o *op, ident identity, category, memberDN string) (bool, error) {
	m, err := c.srv.parser().Parse(memberDN)
	if err != nil || m.Kind != names.Person {
		return false, nil
	}
	e, err := c.readPerson(o, ident, m.ID)
	if err != nil {
		if le, ok := err.(*ldapError); ok && le.Code == ldap.LDAPResultNoSuchObject {
			return false, nil
		}
		return false, err
	}
	cats, _ := e.get("employeeType")
	for _, cat := range cats {
		if strings.EqualFold(cat, category) {
			return true, nil
		}
	}
	return false, nil
}

// groupAssertions collects the member / uniqueMember DNs and memberUid
// IDs that a filter asserts by equality (at most maxFilterIDs), keyed by
// the lower-case attribute name.
func groupAssertions(filter *ber.Packet) map[string][]string {
	asserted := map[string][]string{}
	n := 0
	var walk func(p *ber.Packet, depth int)
	walk = func(p *ber.Packet, depth int) {
		if p == nil || depth > 64 {
			return
		}
		switch p.Tag {
		case ldap.FilterAnd, ldap.FilterOr, ldap.FilterNot:
			for _, ch := range p.Children {
				walk(ch, depth+1)
			}
		case ldap.FilterEqualityMatch:
			if len(p.Children) == 2 {
				attr := strings.ToLower(baseAttr(packetString(p.Children[0])))
				if (memberAttributes[attr] || attr == "memberuid") && n < maxFilterIDs {
					n++
					asserted[attr] = append(asserted[attr], packetString(p.Children[1]))
				}
			}
		}
	}
	walk(filter, 0)
	return asserted
}

// groupWithMembers is the entry of a virtual group for a search of its DN.
// Groups do not list their members; but every member / uniqueMember DN the
// filter asserts (EZproxy's and nginx's "(member=<user DN>)" test), and
// with the POSIX view every memberUid (SSSD's and nslcd's
// "(memberUid=<ID>)"), is checked and, when the person is in the group,
// shown as a value, so the filter matches exactly when the person is a
// member.
func (c *conn) groupWithMembers(o *op, ident identity, category string, filter *ber.Packet) (*vEntry, error) {
	gs, err := c.groupsWithMembers(o, ident, []string{category}, filter)
	if err != nil {
		return nil, err
	}
	return gs[0], nil
}

// groupsWithMembers builds the entries of several groups for one filter,
// looking each asserted person up once.
func (c *conn) groupsWithMembers(o *op, ident identity, categories []string, filter *ber.Packet) ([]*vEntry, error) {
	asserted := groupAssertions(filter)
	// category of each asserted person ("" when not found or not visible)
	catOf := map[string]string{}
	personCategory := func(key string, read func() (*vEntry, error)) (string, error) {
		if cat, ok := catOf[key]; ok {
			return cat, nil
		}
		e, err := read()
		if err != nil {
			if le, ok := err.(*ldapError); ok && le.Code == ldap.LDAPResultNoSuchObject {
				catOf[key] = ""
				return "", nil
			}
			return "", err
		}
		cats, _ := e.get("employeeType")
		cat := ""
		if len(cats) > 0 {
			cat = cats[0]
		}
		catOf[key] = cat
		return cat, nil
	}
	byDN := func(dn string) (string, error) {
		m, err := c.srv.parser().Parse(dn)
		if err != nil || m.Kind != names.Person {
			return "", nil
		}
		return personCategory(m.ID, func() (*vEntry, error) { return c.readPerson(o, ident, m.ID) })
	}
	byUID := func(id string) (string, error) {
		if !plausibleID(id) || c.srv.POSIX == nil {
			return "", nil
		}
		return personCategory(id, func() (*vEntry, error) { return c.readPerson(o, ident, id) })
	}
	var out []*vEntry
	for _, category := range categories {
		g := c.srv.groupEntry(category)
		for _, attr := range []string{"member", "uniqueMember", "memberUid"} {
			resolve := byDN
			if attr == "memberUid" {
				if _, ok := g.get("gidNumber"); !ok {
					continue
				}
				resolve = byUID
			}
			var members []string
			for _, v := range asserted[strings.ToLower(attr)] {
				cat, err := resolve(v)
				if err != nil {
					return nil, err
				}
				if cat != "" && strings.EqualFold(cat, category) {
					members = append(members, v)
				}
			}
			g.add(attr, members...)
		}
		out = append(out, g)
	}
	return out, nil
}

// posixGroups answers the group part of a search under the suffix (scope
// sub) or ou=groups (scope one or sub) with the POSIX view on: the groups
// of the categories with a gidNumber, for service accounts. Other readers,
// and servers without the POSIX view, get none.
func (c *conn) posixGroups(o *op, ident identity, filter *ber.Packet) ([]*vEntry, error) {
	p := c.srv.POSIX
	if p == nil || ident.kind != serviceIdentity || len(p.GIDNumbers) == 0 {
		return nil, nil
	}
	return c.groupsWithMembers(o, ident, p.categories(), filter)
}
