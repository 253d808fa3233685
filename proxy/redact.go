package proxy

import (
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// DefaultSecretAttributes are the attributes whose values are masked
// wherever a search filter is logged, when Server.SecretAttributes is
// empty.
var DefaultSecretAttributes = []string{"userPassword", "unicodePwd", "sambaNTPassword"}

// masked replaces a secret value in a logged filter.
const masked = "***"

// secretAttrs returns the lower-cased names to mask: SecretAttributes (or
// the defaults), always with userPassword.
func (s *Server) secretAttrs() []string {
	s.secretOnce.Do(func() {
		names := s.SecretAttributes
		if len(names) == 0 {
			names = DefaultSecretAttributes
		}
		seen := map[string]bool{"userpassword": true}
		s.secrets = []string{"userpassword"}
		for _, n := range names {
			if l := strings.ToLower(n); !seen[l] {
				seen[l] = true
				s.secrets = append(s.secrets, l)
			}
		}
	})
	return s.secrets
}

// loggedFilter is the filter as it may be logged: the string the client
// sent, unless it names a secret attribute, whose values are then masked,
// e.g. (&(uid=jchan)(userPassword=***)).
func (s *Server) loggedFilter(p *ber.Packet, str string) string {
	lower := strings.ToLower(str)
	hit := false
	for _, a := range s.secretAttrs() {
		if strings.Contains(lower, a) {
			hit = true
			break
		}
	}
	if !hit {
		return str
	}
	if p == nil {
		// Only a string (never from the wire): parse it to find the values.
		var err error
		if p, err = ldap.CompileFilter(str); err != nil {
			return masked
		}
	}
	var b strings.Builder
	if !writeFilter(&b, p, s.isSecret, 0) {
		return masked // a shape the decoder would not have let through
	}
	return b.String()
}

func (s *Server) isSecret(attr string) bool {
	attr = strings.ToLower(baseAttr(attr))
	for _, a := range s.secretAttrs() {
		if attr == a {
			return true
		}
	}
	return false
}

// writeFilter writes p in RFC 4515 form, as ldap.DecompileFilter does,
// with the values of secret attributes masked. It reports false for a
// packet it cannot render.
func writeFilter(b *strings.Builder, p *ber.Packet, secret func(string) bool, depth int) bool {
	if depth > 100 {
		return false
	}
	str := func(q *ber.Packet) string { return ber.DecodeString(q.Data.Bytes()) }
	value := func(attr string, q *ber.Packet) string {
		if secret(attr) {
			return masked
		}
		return ldap.EscapeFilter(str(q))
	}
	b.WriteByte('(')
	switch p.Tag {
	case ldap.FilterAnd, ldap.FilterOr, ldap.FilterNot:
		b.WriteByte("&|!"[p.Tag])
		for _, c := range p.Children {
			if !writeFilter(b, c, secret, depth+1) {
				return false
			}
		}
	case ldap.FilterEqualityMatch, ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual, ldap.FilterApproxMatch:
		if len(p.Children) != 2 {
			return false
		}
		attr := str(p.Children[0])
		b.WriteString(ldap.EscapeFilter(attr))
		b.WriteString(map[ber.Tag]string{ldap.FilterEqualityMatch: "=", ldap.FilterGreaterOrEqual: ">=",
			ldap.FilterLessOrEqual: "<=", ldap.FilterApproxMatch: "~="}[p.Tag])
		b.WriteString(value(attr, p.Children[1]))
	case ldap.FilterPresent:
		b.WriteString(ldap.EscapeFilter(str(p)))
		b.WriteString("=*")
	case ldap.FilterSubstrings:
		if len(p.Children) != 2 {
			return false
		}
		attr := str(p.Children[0])
		b.WriteString(ldap.EscapeFilter(attr))
		b.WriteByte('=')
		if secret(attr) {
			b.WriteString(masked)
			break
		}
		for i, c := range p.Children[1].Children {
			if i == 0 && c.Tag != ldap.FilterSubstringsInitial {
				b.WriteByte('*')
			}
			b.WriteString(ldap.EscapeFilter(str(c)))
			if c.Tag != ldap.FilterSubstringsFinal {
				b.WriteByte('*')
			}
		}
	case ldap.FilterExtensibleMatch:
		var attr, rule, val string
		dn := false
		var valPacket *ber.Packet
		for _, c := range p.Children {
			switch c.Tag {
			case ldap.MatchingRuleAssertionMatchingRule:
				rule = str(c)
			case ldap.MatchingRuleAssertionType:
				attr = str(c)
			case ldap.MatchingRuleAssertionMatchValue:
				valPacket = c
			case ldap.MatchingRuleAssertionDNAttributes:
				dn, _ = c.Value.(bool)
			}
		}
		if valPacket != nil {
			val = value(attr, valPacket)
		}
		b.WriteString(ldap.EscapeFilter(attr))
		if dn {
			b.WriteString(":dn")
		}
		if rule != "" {
			b.WriteByte(':')
			b.WriteString(ldap.EscapeFilter(rule))
		}
		b.WriteString(":=")
		b.WriteString(val)
	default:
		return false
	}
	b.WriteByte(')')
	return true
}
