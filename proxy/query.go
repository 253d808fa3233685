package proxy

import (
	"strings"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/proxy/names"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// CardAttribute is the attribute that carries a person's login / card
// number (Sierra's KEY_ATTRIBUTE, Evergreen's ID attribute): the login ID,
// unless the backend supplies its own value (an ldap backend mapping
// employeeNumber). Equality on it names an ID, like uid.
const CardAttribute = "employeeNumber"

// boundedIDs reports whether every entry matching the filter must have one
// of a finite set of IDs named by equality on an ID attribute (uid, cn,
// mail, employeeNumber), and returns those values. An and is bounded when
// one of its parts is; an or when all of its parts are; nothing else is.
// A bounded filter is answered by look-ups, never by a listing.
func boundedIDs(p *ber.Packet) ([]string, bool) {
	var ids []string
	var walk func(p *ber.Packet, depth int) bool
	walk = func(p *ber.Packet, depth int) bool {
		if p == nil || depth > 64 {
			return false
		}
		switch p.Tag {
		case ldap.FilterAnd:
			bounded := false
			for _, ch := range p.Children {
				if walk(ch, depth+1) {
					bounded = true
				}
			}
			return bounded
		case ldap.FilterOr:
			if len(p.Children) == 0 {
				return true // absolute false: matches nothing
			}
			for _, ch := range p.Children {
				if !walk(ch, depth+1) {
					return false
				}
			}
			return true
		case ldap.FilterEqualityMatch:
			if len(p.Children) != 2 {
				return false
			}
			attr := strings.ToLower(baseAttr(packetString(p.Children[0])))
			switch {
			case idAttributes[attr]:
				ids = append(ids, packetString(p.Children[1]))
				return true
			case attr == "uidnumber":
				// A reverse look-up: answered through the uidNumber store
				// (posix.go), never by a listing.
				return true
			case attr == "memberuid":
				return true // no person has one
			case attr == "objectclass":
				// Groups only: no person matches.
				v := strings.ToLower(packetString(p.Children[1]))
				return v == "posixgroup" || v == "groupofnames" || v == "groupofuniquenames"
			}
		}
		return false
	}
	ok := walk(p, 0)
	return ids, ok
}

// translator turns a decoded LDAP filter into a backend.Filter over the
// virtual attributes. Attributes the reader may not see are absent;
// memberOf on a virtual group becomes employeeType; what a backend could
// not decide exactly (ordering, memberOf substrings) becomes "maybe":
// true when the result must be a superset, false under a negation, so the
// backend's answer is always a superset that matchFilter then narrows.
type translator struct {
	parser  *names.Parser
	visible func(attr string) bool
}

// sees reports whether the reader may see attr (visible nil: everything).
func (t *translator) sees(attr string) bool { return t.visible == nil || t.visible(attr) }

var (
	filterTrue  = &backend.Filter{Op: backend.FilterAnd}
	filterFalse = &backend.Filter{Op: backend.FilterOr}
)

func maybeFilter(sup bool) *backend.Filter {
	if sup {
		return filterTrue
	}
	return filterFalse
}

func (t *translator) translate(p *ber.Packet, sup bool, depth int) *backend.Filter {
	if p == nil || depth > 64 {
		return maybeFilter(sup)
	}
	switch p.Tag {
	case ldap.FilterAnd, ldap.FilterOr:
		op := backend.FilterAnd
		if p.Tag == ldap.FilterOr {
			op = backend.FilterOr
		}
		f := &backend.Filter{Op: op}
		for _, ch := range p.Children {
			f.Children = append(f.Children, t.translate(ch, sup, depth+1))
		}
		return f
	case ldap.FilterNot:
		if len(p.Children) != 1 {
			return filterFalse
		}
		return &backend.Filter{Op: backend.FilterNot, Children: []*backend.Filter{t.translate(p.Children[0], !sup, depth+1)}}
	case ldap.FilterPresent:
		attr := baseAttr(packetString(p))
		if !t.sees(attr) {
			return filterFalse
		}
		if posixAttributes[strings.ToLower(attr)] {
			return maybeFilter(sup) // computed by the proxy
		}
		if strings.EqualFold(attr, "memberOf") {
			attr = "employeeType"
		}
		return &backend.Filter{Op: backend.FilterPresent, Attr: attr}
	case ldap.FilterEqualityMatch, ldap.FilterApproxMatch:
		if len(p.Children) != 2 {
			return filterFalse
		}
		attr, value := baseAttr(packetString(p.Children[0])), packetString(p.Children[1])
		if !t.sees(attr) {
			return filterFalse
		}
		if posixAttributes[strings.ToLower(attr)] ||
			(strings.EqualFold(attr, "objectClass") && strings.EqualFold(value, "posixAccount")) {
			return maybeFilter(sup) // computed by the proxy
		}
		if strings.EqualFold(attr, "memberOf") {
			n, err := t.parser.Parse(value)
			if err != nil || n.Kind != names.Group {
				return filterFalse
			}
			attr, value = "employeeType", n.ID
		}
		return &backend.Filter{Op: backend.FilterEqual, Attr: attr, Value: value}
	case ldap.FilterSubstrings:
		if len(p.Children) != 2 {
			return filterFalse
		}
		attr := baseAttr(packetString(p.Children[0]))
		if !t.sees(attr) {
			return filterFalse
		}
		if strings.EqualFold(attr, "memberOf") || posixAttributes[strings.ToLower(attr)] {
			return maybeFilter(sup)
		}
		f := &backend.Filter{Op: backend.FilterSubstring, Attr: attr}
		for _, part := range p.Children[1].Children {
			s := packetString(part)
			switch part.Tag {
			case ldap.FilterSubstringsInitial:
				f.Initial = s
			case ldap.FilterSubstringsAny:
				f.Any = append(f.Any, s)
			case ldap.FilterSubstringsFinal:
				f.Final = s
			}
		}
		return f
	case ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual:
		if len(p.Children) == 2 && !t.sees(baseAttr(packetString(p.Children[0]))) {
			return filterFalse
		}
		return maybeFilter(sup)
	}
	return filterFalse // extensible match: matchFilter says false too
}
