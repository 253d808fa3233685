package ldapwire

import (
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// MaxFilterDepth bounds the nesting of and/or/not in a search filter. Real
// filters nest a handful of levels; the bound keeps a hostile filter from
// costing stack or time (asn1-ber's own MaxNestingDepth is 1000, and is
// never reached because this check runs first).
const MaxFilterDepth = 64

// Filter choice tags (RFC 4511 §4.5.1).
const (
	filterAnd        = 0
	filterOr         = 1
	filterNot        = 2
	filterEquality   = 3
	filterSubstrings = 4
	filterGE         = 5
	filterLE         = 6
	filterPresent    = 7
	filterApprox     = 8
	filterExtensible = 9
)

// decodeFilter checks the shape of a Filter element, then decodes it with
// asn1-ber and renders it with ldap.DecompileFilter.
func decodeFilter(f tlv) (*ber.Packet, string, error) {
	if err := checkFilter(f, 0); err != nil {
		return nil, "", err
	}
	p, err := ber.DecodePacketErr(f.raw)
	if err != nil {
		return nil, "", fmt.Errorf("%w: filter: %v", ErrMalformed, err)
	}
	fixFilterBooleans(p)
	s, err := ldap.DecompileFilter(p)
	if err != nil {
		return nil, "", fmt.Errorf("%w: filter: %v", ErrMalformed, err)
	}
	return p, s, nil
}

// checkFilter verifies that f is a Filter as RFC 4511 defines it, so that
// ldap.DecompileFilter only ever sees shapes it handles. Empty and/or sets
// are accepted (RFC 4526 absolute true and false).
func checkFilter(f tlv, depth int) error {
	if depth > MaxFilterDepth {
		return fmt.Errorf("%w: filter nested deeper than %d", ErrMalformed, MaxFilterDepth)
	}
	if f.class != classContext {
		return fmt.Errorf("%w: filter element %v", ErrMalformed, f)
	}
	switch f.tag {
	case filterAnd, filterOr:
		if !f.constructed {
			return fmt.Errorf("%w: and/or filter must be constructed", ErrMalformed)
		}
		for b := f.body; len(b) > 0; {
			c, rest, err := next(b)
			if err != nil {
				return fmt.Errorf("filter: %w", err)
			}
			if err := checkFilter(c, depth+1); err != nil {
				return err
			}
			b = rest
		}
		return nil
	case filterNot:
		if !f.constructed {
			return fmt.Errorf("%w: not filter must be constructed", ErrMalformed)
		}
		c, rest, err := next(f.body)
		if err != nil {
			return fmt.Errorf("filter: %w", err)
		}
		if len(rest) != 0 {
			return fmt.Errorf("%w: not filter with more than one operand", ErrMalformed)
		}
		return checkFilter(c, depth+1)
	case filterEquality, filterGE, filterLE, filterApprox:
		if !f.constructed {
			return fmt.Errorf("%w: assertion filter must be constructed", ErrMalformed)
		}
		desc, rest, err := expectPrimitive(f.body, classUniversal, tagOctetString, "filter attributeDesc")
		if err != nil {
			return err
		}
		if err := checkAttrDesc(desc); err != nil {
			return err
		}
		_, rest, err = expectPrimitive(rest, classUniversal, tagOctetString, "filter assertionValue")
		if err != nil {
			return err
		}
		if len(rest) != 0 {
			return fmt.Errorf("%w: trailing data in filter assertion", ErrMalformed)
		}
		return nil
	case filterSubstrings:
		if !f.constructed {
			return fmt.Errorf("%w: substrings filter must be constructed", ErrMalformed)
		}
		desc, rest, err := expectPrimitive(f.body, classUniversal, tagOctetString, "substrings type")
		if err != nil {
			return err
		}
		if err := checkAttrDesc(desc); err != nil {
			return err
		}
		subs, rest, err := expectConstructed(rest, classUniversal, tagSequence, "substrings")
		if err != nil {
			return err
		}
		if len(rest) != 0 || len(subs) == 0 {
			return fmt.Errorf("%w: substrings filter shape", ErrMalformed)
		}
		for i := 0; len(subs) > 0; i++ {
			s, r, err := next(subs)
			if err != nil {
				return fmt.Errorf("substrings: %w", err)
			}
			if s.class != classContext || s.constructed || s.tag > 2 {
				return fmt.Errorf("%w: substring element %v", ErrMalformed, s)
			}
			// initial only first, final only last (RFC 4511 §4.5.1.7.2).
			if (s.tag == 0 && i != 0) || (s.tag == 2 && len(r) != 0) {
				return fmt.Errorf("%w: substring initial/final out of place", ErrMalformed)
			}
			// An empty piece has no string form ("a**b" is not a filter).
			if len(s.body) == 0 {
				return fmt.Errorf("%w: empty substring", ErrMalformed)
			}
			subs = r
		}
		return nil
	case filterPresent:
		if f.constructed {
			return fmt.Errorf("%w: present filter must be primitive", ErrMalformed)
		}
		return checkAttrDesc(f.body)
	case filterExtensible:
		if !f.constructed {
			return fmt.Errorf("%w: extensible filter must be constructed", ErrMalformed)
		}
		last, hasValue, hasRuleOrType := -1, false, false
		for b := f.body; len(b) > 0; {
			c, rest, err := next(b)
			if err != nil {
				return fmt.Errorf("extensible filter: %w", err)
			}
			if c.class != classContext || c.constructed || c.tag < 1 || c.tag > 4 || c.tag <= last {
				return fmt.Errorf("%w: extensible filter element %v", ErrMalformed, c)
			}
			switch c.tag {
			case 1, 2: // matchingRule, type
				if err := checkAttrDesc(c.body); err != nil {
					return err
				}
				hasRuleOrType = true
			case 4:
				if _, err := parseBool(c.body); err != nil {
					return fmt.Errorf("extensible filter dnAttributes: %w", err)
				}
			}
			hasValue = hasValue || c.tag == 3
			last = c.tag
			b = rest
		}
		if !hasValue || !hasRuleOrType {
			return fmt.Errorf("%w: extensible filter needs matchValue and a type or rule", ErrMalformed)
		}
		return nil
	default:
		return fmt.Errorf("%w: unknown filter choice %d", ErrMalformed, f.tag)
	}
}

// fixFilterBooleans sets Value on the context-tagged dnAttributes booleans
// of extensible matches: asn1-ber leaves Value nil for non-universal
// elements, and ldap.DecompileFilter asserts it to bool.
func fixFilterBooleans(p *ber.Packet) {
	if p.ClassType != ber.ClassContext {
		return
	}
	switch p.Tag {
	case filterAnd, filterOr, filterNot:
		for _, c := range p.Children {
			fixFilterBooleans(c)
		}
	case filterExtensible:
		for _, c := range p.Children {
			if c.Tag == 4 && c.Data != nil {
				b := c.Data.Bytes()
				c.Value = len(b) == 1 && b[0] != 0
			}
		}
	}
}

// checkAttrDesc accepts an attribute description of RFC 4512 §2.5
// (a descriptor or numeric OID, then ";option"s), and a matching rule
// identifier, which has the same characters. Anything else has no
// unambiguous string form: "(a=b=c)" could be read two ways.
func checkAttrDesc(b []byte) error {
	if len(b) == 0 || len(b) > 1024 {
		return fmt.Errorf("%w: attribute description of %d bytes", ErrMalformed, len(b))
	}
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			(i > 0 && (c == '-' || c == '.' || c == ';'))
		if !ok {
			return fmt.Errorf("%w: attribute description %q", ErrMalformed, b)
		}
	}
	return nil
}
