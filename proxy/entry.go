package proxy

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/go-ldap/ldap/v3"
)

// vEntry is an entry of the virtual tree: user attributes and operational
// attributes (returned only with "+" or by name), in canonical casing.
type vEntry struct {
	dn    string
	attrs []ldapwire.Attribute
	oper  []ldapwire.Attribute
	// allOnStar: "*" and an empty list return the operational attributes
	// too (the Root DSE; see README.md).
	allOnStar bool
}

func (e *vEntry) add(name string, values ...string) {
	e.attrs = appendAttr(e.attrs, name, values)
}

// appendValues adds values to an attribute the entry has, or adds the
// attribute.
func (e *vEntry) appendValues(name string, values ...string) {
	for i := range e.attrs {
		if strings.EqualFold(e.attrs[i].Type, name) {
			e.attrs[i].Values = append(e.attrs[i].Values, values...)
			return
		}
	}
	e.add(name, values...)
}

func (e *vEntry) addOper(name string, values ...string) {
	e.oper = appendAttr(e.oper, name, values)
}

// appendAttr adds an attribute with its non-empty values; an attribute
// with no value is left out.
func appendAttr(list []ldapwire.Attribute, name string, values []string) []ldapwire.Attribute {
	var vs []string
	for _, v := range values {
		if v != "" {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return list
	}
	return append(list, ldapwire.Attribute{Type: name, Values: vs})
}

// get returns the values of an attribute (user or operational), matched
// case-insensitively and ignoring options (";lang-en").
func (e *vEntry) get(name string) ([]string, bool) {
	name = baseAttr(name)
	for _, list := range [][]ldapwire.Attribute{e.attrs, e.oper} {
		for _, a := range list {
			if strings.EqualFold(a.Type, name) {
				return a.Values, true
			}
		}
	}
	return nil, false
}

func baseAttr(name string) string {
	if i := strings.IndexByte(name, ';'); i >= 0 {
		return name[:i]
	}
	return name
}

// selectAttrs returns the attributes a search asked for (RFC 4511 §4.5.1.8):
// none for "1.1" alone, the user attributes for an empty list or "*", the
// operational ones for "+", and any named attribute, in canonical casing.
func (e *vEntry) selectAttrs(requested []string) []ldapwire.Attribute {
	all, oper := len(requested) == 0, false
	named := make(map[string]bool, len(requested))
	for _, r := range requested {
		switch r = strings.TrimSpace(r); r {
		case "*":
			all = true
		case "+":
			oper = true
		case "1.1", "":
		default:
			named[strings.ToLower(baseAttr(r))] = true
		}
	}
	if e.allOnStar && all {
		oper = true
	}
	var out []ldapwire.Attribute
	for _, a := range e.attrs {
		if all || named[strings.ToLower(a.Type)] {
			out = append(out, a)
		}
	}
	for _, a := range e.oper {
		if oper || named[strings.ToLower(a.Type)] {
			out = append(out, a)
		}
	}
	return out
}

// generalizedTime formats t as an LDAP GeneralizedTime in UTC.
func generalizedTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("20060102150405Z")
}

// personEntry is the virtual entry of a backend entry; dn is its DN.
func (s *Server) personEntry(dn string, be *backend.Entry) *vEntry {
	e := &vEntry{dn: dn}
	e.add("objectClass", backend.PersonObjectClasses...)
	e.add("uid", be.ID)
	e.add("cn", be.CommonName)
	e.add("sn", be.Surname)
	e.add("givenName", be.GivenName)
	e.add("mail", be.Mail)
	e.add("employeeType", be.Category)
	e.add("o", be.Institution)
	if be.Category != "" {
		e.add("memberOf", s.parser().GroupDN(be.Category))
	}
	keys := make([]string, 0, len(be.Extra))
	for k := range be.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, clash := e.get(k); clash {
			continue
		}
		e.add(k, be.Extra[k]...)
	}
	if _, ok := e.get(CardAttribute); !ok {
		e.add(CardAttribute, be.ID)
	}
	e.addOper("entryUUID", be.UUID)
	e.addOper("createTimestamp", generalizedTime(be.Created))
	e.addOper("modifyTimestamp", generalizedTime(be.Modified))
	return e
}

// containerEntry is the entry of the suffix or of one of the ou= containers.
func containerEntry(dn string) *vEntry {
	e := &vEntry{dn: dn}
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 || len(parsed.RDNs[0].Attributes) == 0 {
		e.add("objectClass", "top")
		return e
	}
	first := parsed.RDNs[0].Attributes[0]
	switch strings.ToLower(first.Type) {
	case "ou":
		e.add("objectClass", "top", "organizationalUnit")
		e.add("ou", first.Value)
	case "dc":
		e.add("objectClass", "top", "dcObject", "organization")
		e.add("dc", first.Value)
		e.add("o", first.Value)
	case "o":
		e.add("objectClass", "top", "organization")
		e.add("o", first.Value)
	default:
		e.add("objectClass", "top", "extensibleObject")
		e.add(first.Type, first.Value)
	}
	return e
}

// groupEntry is the virtual group of a category.
func (s *Server) groupEntry(cn string) *vEntry {
	e := &vEntry{dn: s.parser().GroupDN(cn)}
	e.add("objectClass", "top", "groupOfNames")
	e.add("cn", cn)
	if p := s.POSIX; p != nil {
		if gid, ok := p.gid(cn); ok {
			e.appendValues("objectClass", "posixGroup")
			e.add("gidNumber", strconv.FormatInt(gid, 10))
		}
	}
	return e
}

// rootDSE is the server's Root DSE (RFC 4512 §5.1).
func (s *Server) rootDSE() *vEntry {
	e := &vEntry{allOnStar: true}
	e.add("objectClass", "top", "extensibleObject")
	e.addOper("namingContexts", s.Suffix)
	e.addOper("defaultNamingContext", s.Suffix)
	e.addOper("supportedLDAPVersion", "3")
	ext := []string{ldapwire.OIDWhoAmI, ldapwire.OIDPasswordModify}
	if s.TLSConfig != nil {
		ext = append([]string{ldapwire.OIDStartTLS}, ext...)
	}
	e.addOper("supportedExtension", ext...)
	ctls := slices.Sorted(func(yield func(string) bool) {
		for oid := range knownControls {
			if !yield(oid) {
				return
			}
		}
	})
	e.addOper("supportedControl", ctls...)
	e.addOper("supportedFeatures",
		"1.3.6.1.4.1.4203.1.5.1", // all operational attributes ("+")
		"1.3.6.1.4.1.4203.1.5.3", // absolute true and false filters
	)
	e.addOper("subschemaSubentry", SubschemaDN)
	e.addOper("vendorName", "bindery")
	e.addOper("vendorVersion", s.VendorVersion)
	return e
}

// restrict returns the entry as a reader limited to some attributes sees
// it (visible nil: all of them). objectClass and uid stay.
func (e *vEntry) restrict(visible func(string) bool) *vEntry {
	if visible == nil || e == nil {
		return e
	}
	out := &vEntry{dn: e.dn, allOnStar: e.allOnStar}
	for _, a := range e.attrs {
		if visible(a.Type) {
			out.attrs = append(out.attrs, a)
		}
	}
	for _, a := range e.oper {
		if visible(a.Type) {
			out.oper = append(out.oper, a)
		}
	}
	return out
}
