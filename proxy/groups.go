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

// groupWithMembers is the entry of a virtual group for a search of its DN.
// Groups do not list their members; but every member / uniqueMember DN the
// filter asserts (EZproxy's and nginx's "(member=<user DN>)" test) is
// checked and, when the person is in the group, shown as a value, so the
// filter matches exactly when the person is a member.
func (c *conn) groupWithMembers(o *op, ident identity, category string, filter *ber.Packet) (*vEntry, error) {
	g := c.srv.groupEntry(category)
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
				if memberAttributes[attr] && n < maxFilterIDs {
					n++
					asserted[attr] = append(asserted[attr], packetString(p.Children[1]))
				}
			}
		}
	}
	walk(filter, 0)
	for _, attr := range []string{"member", "uniqueMember"} {
		var members []string
		for _, dn := range asserted[strings.ToLower(attr)] {
			ok, err := c.isMember(o, ident, category, dn)
			if err != nil {
				return nil, err
			}
			if ok {
				members = append(members, dn)
			}
		}
		g.add(attr, members...)
	}
	return g, nil
}
