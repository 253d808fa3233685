package names

import (
	"strings"
)

// PersonDN returns `uid=<id>,ou=people,<suffix>` with id escaped as an
// RFC 4514 attribute value.
func (p *Parser) PersonDN(id string) string { return p.build("uid", id, OUPeople) }

// ServiceDN returns `cn=<name>,ou=services,<suffix>`.
func (p *Parser) ServiceDN(name string) string { return p.build("cn", name, OUServices) }

// GroupDN returns `cn=<cn>,ou=groups,<suffix>`.
func (p *Parser) GroupDN(cn string) string { return p.build("cn", cn, OUGroups) }

// ContainerDN returns `ou=<ou>,<suffix>` for OUPeople, OUServices or
// OUGroups.
func (p *Parser) ContainerDN(ou string) string { return "ou=" + EscapeValue(ou) + "," + p.Suffix }

func (p *Parser) build(typ, value, ou string) string {
	return typ + "=" + EscapeValue(value) + ",ou=" + ou + "," + p.Suffix
}

// EscapeValue escapes s as an RFC 4514 attribute value: `"+,;<>\` and NUL
// (as \00), a leading space or '#', and a trailing space. Other control
// characters are hex-escaped too, so that a DN never carries them raw.
func EscapeValue(s string) string {
	if s == "" {
		return ""
	}
	const hexDigits = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case (i == 0 && (c == ' ' || c == '#')) || (i == len(s)-1 && c == ' '):
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\' || c == '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			b.WriteByte('\\')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
