package proxy

import (
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// idAttributes are the attributes whose equality values in a search filter
// name login IDs (lower case).
var idAttributes = map[string]bool{"uid": true, "cn": true, "mail": true, "employeenumber": true}

// filterIDs collects the equality values on ID attributes from the positive
// part of a filter (under and/or, never under not). Substring, presence and
// every other kind of filter name no ID: bindery never expands a listing.
func filterIDs(p *ber.Packet) []string {
	return filterValues(p, "")
}

// filterValues collects the equality values on one attribute (lower case;
// "" for the ID attributes) from the positive part of a filter.
func filterValues(p *ber.Packet, want string) []string {
	var ids []string
	var walk func(p *ber.Packet, depth int)
	walk = func(p *ber.Packet, depth int) {
		if p == nil || depth > 64 {
			return
		}
		switch p.Tag {
		case ldap.FilterAnd, ldap.FilterOr:
			for _, ch := range p.Children {
				walk(ch, depth+1)
			}
		case ldap.FilterEqualityMatch:
			if len(p.Children) != 2 {
				return
			}
			attr := strings.ToLower(baseAttr(packetString(p.Children[0])))
			if (want == "" && idAttributes[attr]) || attr == want {
				ids = append(ids, packetString(p.Children[1]))
			}
		}
	}
	walk(p, 0)
	return ids
}

// plausibleID reports whether a value from a filter may be looked up: a
// literal login ID, never anything that looks like a pattern or carries
// filter syntax or control characters.
func plausibleID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for _, r := range id {
		switch {
		case r < 0x20, r == 0x7f, r == '*', r == '(', r == ')', r == '\\':
			return false
		}
	}
	return true
}

func packetString(p *ber.Packet) string {
	if p == nil || p.Data == nil {
		return ""
	}
	return string(p.Data.Bytes())
}

// dnValued are the attributes whose values are DNs, compared as DNs.
var dnValued = map[string]bool{"memberof": true, "member": true, "uniquemember": true}

// valueEqual compares an assertion value with an attribute value: as DNs
// for DN-valued attributes, otherwise case-insensitively.
func valueEqual(attr, a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	if dnValued[strings.ToLower(attr)] {
		da, err1 := ldap.ParseDN(a)
		db, err2 := ldap.ParseDN(b)
		return err1 == nil && err2 == nil && da.EqualFold(db)
	}
	return false
}

// matchFilter evaluates a search filter against an entry. Every attribute
// of the virtual tree is a case-insensitive string; approximate match is
// equality; extensible match is false. Absolute true (&) and false (|) follow
// RFC 4526.
func matchFilter(p *ber.Packet, e *vEntry) bool {
	return match(p, e, 0)
}

func match(p *ber.Packet, e *vEntry, depth int) bool {
	if p == nil || depth > 64 {
		return false
	}
	switch p.Tag {
	case ldap.FilterAnd:
		for _, ch := range p.Children {
			if !match(ch, e, depth+1) {
				return false
			}
		}
		return true
	case ldap.FilterOr:
		for _, ch := range p.Children {
			if match(ch, e, depth+1) {
				return true
			}
		}
		return false
	case ldap.FilterNot:
		return len(p.Children) == 1 && !match(p.Children[0], e, depth+1)
	case ldap.FilterPresent:
		_, ok := e.get(packetString(p))
		return ok
	case ldap.FilterEqualityMatch, ldap.FilterApproxMatch, ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual:
		if len(p.Children) != 2 {
			return false
		}
		attr, want := packetString(p.Children[0]), packetString(p.Children[1])
		values, _ := e.get(attr)
		for _, v := range values {
			switch p.Tag {
			case ldap.FilterGreaterOrEqual:
				if strings.ToLower(v) >= strings.ToLower(want) {
					return true
				}
			case ldap.FilterLessOrEqual:
				if strings.ToLower(v) <= strings.ToLower(want) {
					return true
				}
			default:
				if valueEqual(attr, want, v) {
					return true
				}
			}
		}
		return false
	case ldap.FilterSubstrings:
		if len(p.Children) != 2 {
			return false
		}
		values, _ := e.get(packetString(p.Children[0]))
		for _, v := range values {
			if substringMatch(strings.ToLower(v), p.Children[1].Children) {
				return true
			}
		}
		return false
	}
	return false
}

func substringMatch(v string, parts []*ber.Packet) bool {
	for i, part := range parts {
		s := strings.ToLower(packetString(part))
		switch part.Tag {
		case ldap.FilterSubstringsInitial:
			if i != 0 || !strings.HasPrefix(v, s) {
				return false
			}
			v = v[len(s):]
		case ldap.FilterSubstringsAny:
			j := strings.Index(v, s)
			if j < 0 {
				return false
			}
			v = v[j+len(s):]
		case ldap.FilterSubstringsFinal:
			if i != len(parts)-1 || !strings.HasSuffix(v, s) {
				return false
			}
			v = ""
		default:
			return false
		}
	}
	return true
}
