package proxy

import (
	"strings"
	"sync"
)

// SubschemaDN is the DN of the subschema subentry (RFC 4512 §4.2) that the
// Root DSE names in subschemaSubentry.
const SubschemaDN = "cn=Subschema"

// The schema below describes what bindery serves and nothing more: the
// attributes of people, groups, containers, the Root DSE and the
// subschema entry itself, with the OIDs, syntaxes and matching rules of
// the RFCs that define them (RFC 4512, 4517, 4519, 4530, 2798, 2307,
// 3045). Object classes list in MUST and MAY only attributes that bindery
// defines here.

// Syntax OIDs (RFC 4517 §3.3 unless noted).
const (
	synAttrTypeDesc  = "1.3.6.1.4.1.1466.115.121.1.3"
	synDN            = "1.3.6.1.4.1.1466.115.121.1.12"
	synDirString     = "1.3.6.1.4.1.1466.115.121.1.15"
	synGenTime       = "1.3.6.1.4.1.1466.115.121.1.24"
	synIA5           = "1.3.6.1.4.1.1466.115.121.1.26"
	synInteger       = "1.3.6.1.4.1.1466.115.121.1.27"
	synMRDesc        = "1.3.6.1.4.1.1466.115.121.1.30"
	synNameUID       = "1.3.6.1.4.1.1466.115.121.1.34"
	synOCDesc        = "1.3.6.1.4.1.1466.115.121.1.37"
	synOID           = "1.3.6.1.4.1.1466.115.121.1.38"
	synSyntaxDesc    = "1.3.6.1.4.1.1466.115.121.1.54"
	synSubstrAssert  = "1.3.6.1.4.1.1466.115.121.1.58"
	synSubtreeSpec   = "1.3.6.1.4.1.1466.115.121.1.45" // RFC 3672
	synUUID          = "1.3.6.1.1.16.1"                // RFC 4530
	usageDirOp       = "directoryOperation"
	usageDSAOp       = "dSAOperation"
	mrOIDMatch       = "objectIdentifierMatch"
	mrOIDFirst       = "objectIdentifierFirstComponentMatch"
	mrDNMatch        = "distinguishedNameMatch"
	mrCaseIgnore     = "caseIgnoreMatch"
	mrCaseIgnoreOrd  = "caseIgnoreOrderingMatch"
	mrCaseIgnoreSub  = "caseIgnoreSubstringsMatch"
	mrIA5Ignore      = "caseIgnoreIA5Match"
	mrIA5IgnoreSub   = "caseIgnoreIA5SubstringsMatch"
	mrIA5Exact       = "caseExactIA5Match"
	mrInteger        = "integerMatch"
	mrIntegerOrd     = "integerOrderingMatch"
	mrGenTime        = "generalizedTimeMatch"
	mrGenTimeOrd     = "generalizedTimeOrderingMatch"
	mrUniqueMember   = "uniqueMemberMatch"
	mrUUID           = "uuidMatch"
	mrUUIDOrd        = "uuidOrderingMatch"
	schemaCreateTime = "20260101000000Z"
)

type syntaxDef struct{ oid, desc string }

var schemaSyntaxes = []syntaxDef{
	{synAttrTypeDesc, "Attribute Type Description"},
	{synDN, "DN"},
	{synDirString, "Directory String"},
	{synGenTime, "Generalized Time"},
	{synIA5, "IA5 String"},
	{synInteger, "INTEGER"},
	{synMRDesc, "Matching Rule Description"},
	{synNameUID, "Name And Optional UID"},
	{synOCDesc, "Object Class Description"},
	{synOID, "OID"},
	{synSyntaxDesc, "LDAP Syntax Description"},
	{synSubstrAssert, "Substring Assertion"},
	{synSubtreeSpec, "SubtreeSpecification"},
	{synUUID, "UUID"},
}

type ruleDef struct{ oid, name, syntax string }

var schemaRules = []ruleDef{
	{"2.5.13.0", mrOIDMatch, synOID},
	{"2.5.13.1", mrDNMatch, synDN},
	{"2.5.13.2", mrCaseIgnore, synDirString},
	{"2.5.13.3", mrCaseIgnoreOrd, synDirString},
	{"2.5.13.4", mrCaseIgnoreSub, synSubstrAssert},
	{"2.5.13.14", mrInteger, synInteger},
	{"2.5.13.15", mrIntegerOrd, synInteger},
	{"2.5.13.23", mrUniqueMember, synNameUID},
	{"2.5.13.27", mrGenTime, synGenTime},
	{"2.5.13.28", mrGenTimeOrd, synGenTime},
	{"2.5.13.30", mrOIDFirst, synOID},
	{"1.3.6.1.4.1.1466.109.114.1", mrIA5Exact, synIA5},
	{"1.3.6.1.4.1.1466.109.114.2", mrIA5Ignore, synIA5},
	{"1.3.6.1.4.1.1466.109.114.3", mrIA5IgnoreSub, synSubstrAssert},
	{"1.3.6.1.1.16.2", mrUUID, synUUID},
	{"1.3.6.1.1.16.3", mrUUIDOrd, synUUID},
}

type attrDef struct {
	oid    string
	names  []string
	sup    string
	eq     string
	ord    string
	sub    string
	syntax string
	single bool
	noMod  bool
	usage  string
	posix  bool // published only with the POSIX view
}

// nameAttr is the common shape of the RFC 4519 attributes whose SUP is name.
func nameAttr(oid string, names ...string) attrDef {
	return attrDef{oid: oid, names: names, sup: "name"}
}

var schemaAttrs = []attrDef{
	{oid: "2.5.4.0", names: []string{"objectClass"}, eq: mrOIDMatch, syntax: synOID},
	{oid: "2.5.4.41", names: []string{"name"}, eq: mrCaseIgnore, sub: mrCaseIgnoreSub, syntax: synDirString},
	nameAttr("2.5.4.3", "cn", "commonName"),
	nameAttr("2.5.4.4", "sn", "surname"),
	nameAttr("2.5.4.42", "givenName"),
	nameAttr("2.5.4.10", "o", "organizationName"),
	nameAttr("2.5.4.11", "ou", "organizationalUnitName"),
	{oid: "0.9.2342.19200300.100.1.1", names: []string{"uid", "userid"}, eq: mrCaseIgnore, sub: mrCaseIgnoreSub, syntax: synDirString},
	{oid: "0.9.2342.19200300.100.1.3", names: []string{"mail", "rfc822Mailbox"}, eq: mrIA5Ignore, sub: mrIA5IgnoreSub, syntax: synIA5},
	{oid: "0.9.2342.19200300.100.1.25", names: []string{"dc", "domainComponent"}, eq: mrIA5Ignore, sub: mrIA5IgnoreSub, syntax: synIA5, single: true},
	{oid: "2.16.840.1.113730.3.1.3", names: []string{"employeeNumber"}, eq: mrCaseIgnore, sub: mrCaseIgnoreSub, syntax: synDirString, single: true},
	{oid: "2.16.840.1.113730.3.1.4", names: []string{"employeeType"}, eq: mrCaseIgnore, sub: mrCaseIgnoreSub, syntax: synDirString},
	{oid: "2.5.4.49", names: []string{"distinguishedName"}, eq: mrDNMatch, syntax: synDN},
	{oid: "2.5.4.31", names: []string{"member"}, sup: "distinguishedName"},
	{oid: "2.5.4.50", names: []string{"uniqueMember"}, eq: mrUniqueMember, syntax: synNameUID},
	// memberOf: the OID Active Directory and OpenLDAP's memberof overlay
	// use. bindery returns it as a user attribute.
	{oid: "1.2.840.113556.1.2.102", names: []string{"memberOf"}, eq: mrDNMatch, syntax: synDN},
	// RFC 2307 (the POSIX view, [posix]).
	{oid: "1.3.6.1.1.1.1.0", names: []string{"uidNumber"}, eq: mrInteger, ord: mrIntegerOrd, syntax: synInteger, single: true, posix: true},
	{oid: "1.3.6.1.1.1.1.1", names: []string{"gidNumber"}, eq: mrInteger, ord: mrIntegerOrd, syntax: synInteger, single: true, posix: true},
	{oid: "1.3.6.1.1.1.1.3", names: []string{"homeDirectory"}, eq: mrIA5Exact, syntax: synIA5, single: true, posix: true},
	{oid: "1.3.6.1.1.1.1.4", names: []string{"loginShell"}, eq: mrIA5Exact, syntax: synIA5, single: true, posix: true},
	{oid: "1.3.6.1.1.1.1.12", names: []string{"memberUid"}, eq: mrIA5Exact, syntax: synIA5, posix: true},
	// Operational attributes (RFC 4512, 4530, 3045).
	{oid: "1.3.6.1.1.16.4", names: []string{"entryUUID"}, eq: mrUUID, ord: mrUUIDOrd, syntax: synUUID, single: true, noMod: true, usage: usageDirOp},
	{oid: "2.5.18.1", names: []string{"createTimestamp"}, eq: mrGenTime, ord: mrGenTimeOrd, syntax: synGenTime, single: true, noMod: true, usage: usageDirOp},
	{oid: "2.5.18.2", names: []string{"modifyTimestamp"}, eq: mrGenTime, ord: mrGenTimeOrd, syntax: synGenTime, single: true, noMod: true, usage: usageDirOp},
	{oid: "2.5.18.6", names: []string{"subtreeSpecification"}, syntax: synSubtreeSpec, single: true, usage: usageDirOp},
	{oid: "2.5.18.10", names: []string{"subschemaSubentry"}, eq: mrDNMatch, syntax: synDN, single: true, noMod: true, usage: usageDirOp},
	{oid: "2.5.21.4", names: []string{"matchingRules"}, eq: mrOIDFirst, syntax: synMRDesc, usage: usageDirOp},
	{oid: "2.5.21.5", names: []string{"attributeTypes"}, eq: mrOIDFirst, syntax: synAttrTypeDesc, usage: usageDirOp},
	{oid: "2.5.21.6", names: []string{"objectClasses"}, eq: mrOIDFirst, syntax: synOCDesc, usage: usageDirOp},
	{oid: "1.3.6.1.4.1.1466.101.120.16", names: []string{"ldapSyntaxes"}, eq: mrOIDFirst, syntax: synSyntaxDesc, usage: usageDirOp},
	{oid: "1.3.6.1.4.1.1466.101.120.5", names: []string{"namingContexts"}, syntax: synDN, usage: usageDSAOp},
	{oid: "1.3.6.1.4.1.1466.101.120.7", names: []string{"supportedExtension"}, syntax: synOID, usage: usageDSAOp},
	{oid: "1.3.6.1.4.1.1466.101.120.13", names: []string{"supportedControl"}, syntax: synOID, usage: usageDSAOp},
	{oid: "1.3.6.1.4.1.1466.101.120.15", names: []string{"supportedLDAPVersion"}, syntax: synInteger, usage: usageDSAOp},
	{oid: "1.3.6.1.4.1.4203.1.3.5", names: []string{"supportedFeatures"}, eq: mrOIDMatch, syntax: synOID, usage: usageDSAOp},
	{oid: "1.3.6.1.1.4", names: []string{"vendorName"}, eq: mrIA5Exact, syntax: synIA5, single: true, noMod: true, usage: usageDSAOp},
	{oid: "1.3.6.1.1.5", names: []string{"vendorVersion"}, eq: mrIA5Exact, syntax: synIA5, single: true, noMod: true, usage: usageDSAOp},
}

type classDef struct {
	oid   string
	name  string
	sup   string
	kind  string // ABSTRACT, STRUCTURAL, AUXILIARY
	must  []string
	may   []string
	posix bool
}

var schemaClasses = []classDef{
	{oid: "2.5.6.0", name: "top", kind: "ABSTRACT", must: []string{"objectClass"}},
	{oid: "2.5.6.4", name: "organization", sup: "top", kind: "STRUCTURAL", must: []string{"o"}},
	{oid: "2.5.6.5", name: "organizationalUnit", sup: "top", kind: "STRUCTURAL", must: []string{"ou"}},
	{oid: "1.3.6.1.4.1.1466.344", name: "dcObject", sup: "top", kind: "AUXILIARY", must: []string{"dc"}},
	{oid: "2.5.6.6", name: "person", sup: "top", kind: "STRUCTURAL", must: []string{"sn", "cn"}},
	{oid: "2.5.6.7", name: "organizationalPerson", sup: "person", kind: "STRUCTURAL", may: []string{"ou"}},
	{oid: "2.16.840.1.113730.3.2.2", name: "inetOrgPerson", sup: "organizationalPerson", kind: "STRUCTURAL",
		may: []string{"employeeNumber", "employeeType", "givenName", "mail", "o", "uid"}},
	{oid: "2.5.6.9", name: "groupOfNames", sup: "top", kind: "STRUCTURAL", must: []string{"member", "cn"}, may: []string{"o", "ou"}},
	{oid: "1.3.6.1.1.1.2.0", name: "posixAccount", sup: "top", kind: "AUXILIARY",
		must: []string{"cn", "uid", "uidNumber", "gidNumber", "homeDirectory"}, may: []string{"loginShell"}, posix: true},
	{oid: "1.3.6.1.1.1.2.2", name: "posixGroup", sup: "top", kind: "STRUCTURAL", must: []string{"cn", "gidNumber"}, may: []string{"memberUid"}, posix: true},
	{oid: "1.3.6.1.4.1.1466.101.120.111", name: "extensibleObject", sup: "top", kind: "AUXILIARY"},
	{oid: "2.5.17.0", name: "subentry", sup: "top", kind: "STRUCTURAL", must: []string{"cn", "subtreeSpecification"}},
	{oid: "2.5.20.1", name: "subschema", kind: "AUXILIARY",
		may: []string{"objectClasses", "attributeTypes", "matchingRules", "ldapSyntaxes"}},
}

// qdescrs renders one name or a list of names (RFC 4512 §4.1).
func qdescrs(names []string) string {
	if len(names) == 1 {
		return "'" + names[0] + "'"
	}
	return "( '" + strings.Join(names, "' '") + "' )"
}

// oids renders a list of attribute names joined by $.
func oids(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return "( " + strings.Join(names, " $ ") + " )"
}

func (a attrDef) String() string {
	var b strings.Builder
	b.WriteString("( " + a.oid + " NAME " + qdescrs(a.names))
	if a.sup != "" {
		b.WriteString(" SUP " + a.sup)
	}
	if a.eq != "" {
		b.WriteString(" EQUALITY " + a.eq)
	}
	if a.ord != "" {
		b.WriteString(" ORDERING " + a.ord)
	}
	if a.sub != "" {
		b.WriteString(" SUBSTR " + a.sub)
	}
	if a.syntax != "" {
		b.WriteString(" SYNTAX " + a.syntax)
	}
	if a.single {
		b.WriteString(" SINGLE-VALUE")
	}
	if a.noMod {
		b.WriteString(" NO-USER-MODIFICATION")
	}
	if a.usage != "" {
		b.WriteString(" USAGE " + a.usage)
	}
	b.WriteString(" )")
	return b.String()
}

func (c classDef) String() string {
	var b strings.Builder
	b.WriteString("( " + c.oid + " NAME '" + c.name + "'")
	if c.sup != "" {
		b.WriteString(" SUP " + c.sup)
	}
	b.WriteString(" " + c.kind)
	if len(c.must) > 0 {
		b.WriteString(" MUST " + oids(c.must))
	}
	if len(c.may) > 0 {
		b.WriteString(" MAY " + oids(c.may))
	}
	b.WriteString(" )")
	return b.String()
}

// extraAttr is the definition of an attribute a backend adds (Entry.Extra,
// e.g. mapped from the campus directory) that bindery does not know: a
// directory string under a name-based descriptor OID, as OpenLDAP and
// other servers publish attributes without a registered OID.
func extraAttr(name string) attrDef {
	return attrDef{oid: name + "-oid", names: []string{name}, eq: mrCaseIgnore, sub: mrCaseIgnoreSub, syntax: synDirString}
}

// subschema returns the cn=Subschema entry, built once.
func (s *Server) subschema() *vEntry {
	s.schemaOnce.Do(func() { s.schema = s.buildSubschema() })
	return s.schema
}

func (s *Server) buildSubschema() *vEntry {
	e := &vEntry{dn: SubschemaDN}
	e.add("objectClass", "top", "subentry", "subschema", "extensibleObject")
	e.add("cn", "Subschema")
	var syntaxes, rules, attrs, classes []string
	for _, d := range schemaSyntaxes {
		syntaxes = append(syntaxes, "( "+d.oid+" DESC '"+d.desc+"' )")
	}
	for _, r := range schemaRules {
		rules = append(rules, "( "+r.oid+" NAME '"+r.name+"' SYNTAX "+r.syntax+" )")
	}
	known := map[string]bool{}
	for _, a := range schemaAttrs {
		if a.posix && s.POSIX == nil {
			continue
		}
		for _, n := range a.names {
			known[strings.ToLower(n)] = true
		}
		attrs = append(attrs, a.String())
	}
	for _, n := range s.ExtraAttributes {
		if n == "" || known[strings.ToLower(n)] {
			continue
		}
		known[strings.ToLower(n)] = true
		attrs = append(attrs, extraAttr(n).String())
	}
	for _, c := range schemaClasses {
		if c.posix && s.POSIX == nil {
			continue
		}
		classes = append(classes, c.String())
	}
	e.addOper("ldapSyntaxes", syntaxes...)
	e.addOper("matchingRules", rules...)
	e.addOper("attributeTypes", attrs...)
	e.addOper("objectClasses", classes...)
	e.addOper("subtreeSpecification", "{}")
	e.addOper("createTimestamp", schemaCreateTime)
	e.addOper("modifyTimestamp", schemaCreateTime)
	return e
}

// schemaState is kept in the Server (built on first read; the fields it
// reads must not change after Serve).
type schemaState struct {
	schemaOnce sync.Once
	schema     *vEntry
}
