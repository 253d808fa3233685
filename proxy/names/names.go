// Package names turns the name in a BindRequest, or the DN of a search base
// or compare, into what it refers to in bindery's virtual tree: a person's
// login ID, a service account, a virtual group, or some other DN. It only
// parses; whether an ID is routable is the router's business.
package names

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// Kind is what a name refers to.
type Kind int

// Kinds of names.
const (
	// Anonymous is the empty name (an anonymous bind, or the Root DSE as a
	// search base).
	Anonymous Kind = iota
	// Person is a login ID: `uid=<id>,ou=people,<suffix>` (or cn=), a bare
	// ID, or `<id>@<upn suffix>`.
	Person
	// Service is `cn=<name>,ou=services,<suffix>`.
	Service
	// Group is `cn=<cn>,ou=groups,<suffix>`.
	Group
	// OtherDN is any other valid DN, inside the suffix or not.
	OtherDN
	// Suffix is the suffix itself (a search base).
	Suffix
	// Container is one of ou=people, ou=services, ou=groups under the
	// suffix; Name.ID is "people", "services" or "groups".
	Container
)

var kindNames = [...]string{"anonymous", "person", "service", "group", "other-dn", "suffix", "container"}

// String returns the kind's name for logs.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Name is a parsed name.
type Name struct {
	Kind Kind
	// ID is the person's login ID as typed (not case-normalised), the
	// service account name, the group cn, or the container's ou value;
	// empty for Anonymous, OtherDN and Suffix.
	ID string
}

// Limits on what Parse accepts.
const (
	// MaxIDLen is the longest ID, in bytes.
	MaxIDLen = 256
	// MaxNameLen is the longest name Parse looks at, in bytes.
	MaxNameLen = 4096
)

// ErrInvalid is wrapped by every error of Parse: the name is not a valid
// DN, or names an entry of the tree with an unusable value.
var ErrInvalid = errors.New("invalid name")

// Container values (the ou of the second RDN).
const (
	OUPeople   = "people"
	OUServices = "services"
	OUGroups   = "groups"
)

// Parser parses names against one suffix. Set the fields before the first
// call and do not change them afterwards; a Parser is safe for concurrent
// use. NewParser checks the suffix up front.
type Parser struct {
	// Suffix is the base of the virtual tree, e.g.
	// "dc=library,dc=example,dc=edu".
	Suffix string
	// UPNSuffix, e.g. "library.example.edu", enables `<id>@<UPNSuffix>`;
	// empty disables it.
	UPNSuffix string

	once      sync.Once
	suffix    []rdn
	suffixErr error
}

// NewParser returns a Parser after checking that suffix is a valid,
// non-empty DN with single-valued RDNs.
func NewParser(suffix, upnSuffix string) (*Parser, error) {
	p := &Parser{Suffix: suffix, UPNSuffix: upnSuffix}
	p.init()
	if p.suffixErr != nil {
		return nil, p.suffixErr
	}
	return p, nil
}

func (p *Parser) init() {
	p.once.Do(func() {
		dn, err := ldap.ParseDN(p.Suffix)
		switch {
		case err != nil:
			p.suffixErr = fmt.Errorf("names: suffix %q: %w", p.Suffix, err)
		case len(dn.RDNs) == 0:
			p.suffixErr = fmt.Errorf("names: suffix is empty")
		default:
			for _, r := range dn.RDNs {
				if len(r.Attributes) != 1 {
					p.suffixErr = fmt.Errorf("names: suffix %q has a multi-valued RDN", p.Suffix)
				}
			}
			p.suffix = toRDNs(dn.RDNs, nil)
		}
	})
}

// Parse parses a bind name or a DN. The forms are:
//
//	""                                    Anonymous
//	uid=<id>,ou=people,<suffix>           Person (cn= also; any case and
//	                                      RFC 4514 spacing and escapes)
//	cn=<name>,ou=services,<suffix>        Service
//	cn=<cn>,ou=groups,<suffix>            Group
//	<suffix>                              Suffix
//	ou=people|services|groups,<suffix>    Container
//	<id>  (no '=' in it)                  Person
//	<id>@<UPNSuffix>                      Person, when UPNSuffix is set
//	any other DN                          OtherDN
//
// The ID never shares name's memory: name may be a substring of a whole
// request (ldapwire shares a bind's name with the request's buffer), and
// whoever keeps the ID (a cache key, the throttle, the connection's
// identity) must not keep the request alive.
//
// Errors wrap ErrInvalid: a string that is not a DN (and has an '='), a
// multi-valued RDN naming an entry of the tree, or an ID that is empty,
// longer than MaxIDLen, not UTF-8 or holds control characters.
func (p *Parser) Parse(name string) (Name, error) {
	p.init()
	if p.suffixErr != nil {
		return Name{}, p.suffixErr
	}
	if name == "" {
		return Name{Kind: Anonymous}, nil
	}
	if len(name) > MaxNameLen {
		return Name{}, fmt.Errorf("names: parse: %w: name of %d bytes", ErrInvalid, len(name))
	}
	if !strings.Contains(name, "=") {
		id := name
		if p.UPNSuffix != "" {
			if at := strings.LastIndexByte(name, '@'); at >= 0 && asciiEqualFold(name[at+1:], p.UPNSuffix) {
				id = name[:at]
			}
		}
		if err := checkID(id); err != nil {
			return Name{}, fmt.Errorf("names: parse: %w", err)
		}
		return Name{Kind: Person, ID: strings.Clone(id)}, nil
	}
	var buf [8]rdn
	if rdns, ok := splitPlain(name, buf[:0]); ok {
		n, err := p.classify(rdns)
		n.ID = strings.Clone(n.ID)
		return n, err
	}
	return p.parseDN(name, buf[:0])
}

// parseDN is Parse for any DN, through ldap.ParseDN.
func (p *Parser) parseDN(name string, buf []rdn) (Name, error) {
	dn, err := ldap.ParseDN(name)
	if err != nil {
		return Name{}, fmt.Errorf("names: parse: %w: %v", ErrInvalid, err)
	}
	if len(dn.RDNs) == 0 {
		// Only blanks and '=' cannot get here, but be sure.
		return Name{}, fmt.Errorf("names: parse: %w: empty DN", ErrInvalid)
	}
	for _, r := range dn.RDNs {
		for _, a := range r.Attributes {
			if !validType(a.Type) {
				return Name{}, fmt.Errorf("names: parse: %w: attribute type %q", ErrInvalid, a.Type)
			}
		}
	}
	return p.classify(toRDNs(dn.RDNs, buf))
}

// rdn is one RDN: its first attribute type and value, and whether it has
// more than one.
type rdn struct {
	typ, val string
	multi    bool
}

func toRDNs(in []*ldap.RelativeDN, buf []rdn) []rdn {
	out := buf[:0]
	for _, r := range in {
		x := rdn{multi: len(r.Attributes) != 1}
		if len(r.Attributes) > 0 {
			x.typ, x.val = r.Attributes[0].Type, r.Attributes[0].Value
		}
		out = append(out, x)
	}
	return out
}

// splitPlain is the fast path of Parse for the DNs clients send in
// practice (uid=CU1234567,ou=people,dc=library,dc=example,dc=edu): when
// name has only printable ASCII without spaces, escapes, quotes or any of
// + # ; < >, and every RDN is type=value with a valid type, ldap.ParseDN
// would return exactly these types and values, so they are taken as
// substrings without allocating. ok is false for anything else (and when
// there are more RDNs than buf holds), and the caller uses ldap.ParseDN.
func splitPlain(name string, buf []rdn) (_ []rdn, ok bool) {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c <= ' ' || c >= 0x7f:
			return nil, false
		case c == '\\' || c == '"' || c == '+' || c == '#' || c == ';' || c == '<' || c == '>':
			return nil, false
		}
	}
	out := buf[:0]
	for rest := name; ; {
		part := rest
		comma := strings.IndexByte(rest, ',')
		if comma >= 0 {
			part, rest = rest[:comma], rest[comma+1:]
		}
		eq := strings.IndexByte(part, '=')
		if eq <= 0 || !validType(part[:eq]) || len(out) == cap(out) {
			return nil, false
		}
		out = append(out, rdn{typ: part[:eq], val: part[eq+1:]})
		if comma < 0 {
			return out, true
		}
	}
}

// classify places a parsed DN in the tree.
func (p *Parser) classify(rdns []rdn) (Name, error) {
	n, s := len(rdns), len(p.suffix)
	if n < s || n > s+2 || !p.underSuffix(rdns[n-s:]) {
		return Name{Kind: OtherDN}, nil
	}
	if n == s {
		return Name{Kind: Suffix}, nil
	}
	ou := rdns[n-s-1]
	if ou.multi || !asciiEqualFold(ou.typ, "ou") {
		return Name{Kind: OtherDN}, nil
	}
	var container string
	switch v := ou.val; {
	case asciiEqualFold(v, OUPeople):
		container = OUPeople
	case asciiEqualFold(v, OUServices):
		container = OUServices
	case asciiEqualFold(v, OUGroups):
		container = OUGroups
	default:
		return Name{Kind: OtherDN}, nil
	}
	if n == s+1 {
		return Name{Kind: Container, ID: container}, nil
	}
	first := rdns[0]
	if first.multi {
		return Name{}, fmt.Errorf("names: parse: %w: multi-valued RDN", ErrInvalid)
	}
	typ, val := first.typ, first.val
	var kind Kind
	switch {
	case container == OUPeople && (asciiEqualFold(typ, "uid") || asciiEqualFold(typ, "cn")):
		kind = Person
	case container == OUServices && asciiEqualFold(typ, "cn"):
		kind = Service
	case container == OUGroups && asciiEqualFold(typ, "cn"):
		kind = Group
	default:
		return Name{Kind: OtherDN}, nil
	}
	if err := checkID(val); err != nil {
		return Name{}, fmt.Errorf("names: parse: %w", err)
	}
	return Name{Kind: kind, ID: val}, nil
}

// underSuffix reports whether rdns equal the suffix, comparing attribute
// types and values without regard to ASCII case.
func (p *Parser) underSuffix(rdns []rdn) bool {
	for i, r := range rdns {
		if r.multi {
			return false
		}
		b := p.suffix[i]
		if !asciiEqualFold(r.typ, b.typ) || !asciiEqualFold(r.val, b.val) {
			return false
		}
	}
	return true
}

// validType reports whether t is an attribute type of RFC 4514 §3: a
// descriptor (ALPHA *(ALPHA / DIGIT / "-")) or a numeric OID. go-ldap's
// ParseDN does not check it, so "x)(uid=*" would otherwise pass as a DN.
func validType(t string) bool {
	if t == "" {
		return false
	}
	isAlpha := func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	if isAlpha(t[0]) {
		for i := 1; i < len(t); i++ {
			if c := t[i]; !isAlpha(c) && !isDigit(c) && c != '-' {
				return false
			}
		}
		return true
	}
	// numericoid = number 1*( DOT number ), number = DIGIT / LDIGIT 1*DIGIT
	for _, part := range strings.Split(t, ".") {
		if part == "" || (len(part) > 1 && part[0] == '0') {
			return false
		}
		for i := 0; i < len(part); i++ {
			if !isDigit(part[i]) {
				return false
			}
		}
	}
	return strings.Contains(t, ".")
}

// checkID refuses IDs that would be dangerous further on.
func checkID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty ID", ErrInvalid)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: ID of %d bytes (max %d)", ErrInvalid, len(id), MaxIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: ID is not UTF-8", ErrInvalid)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %U in ID", ErrInvalid, r)
		}
	}
	return nil
}

// asciiEqualFold compares under ASCII case folding only, so that no
// Unicode look-alike (the Kelvin sign for k) matches a configured name.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
