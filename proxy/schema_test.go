package proxy

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// TestAnonymousSession: an anonymous bind succeeds by default and reads
// what an unbound client reads (the Root DSE, cn=Subschema), nothing more;
// DisallowAnonymous answers it 48.
func TestAnonymousSession(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	if err := c.UnauthenticatedBind(""); err != nil {
		t.Fatalf("anonymous bind: %v", err)
	}
	res, err := search(c, "", ldap.ScopeBaseObject, "(objectClass=*)")
	if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("subschemaSubentry") != SubschemaDN {
		t.Fatalf("root DSE: %v %v", res, err)
	}
	if _, err := search(c, "CN=SUBSCHEMA", ldap.ScopeBaseObject, "(objectClass=subschema)", "attributeTypes"); err != nil {
		t.Fatalf("subschema: %v", err)
	}
	if _, err := search(c, testSuffix, ldap.ScopeWholeSubtree, "(uid=CU1234567)"); code(err) != 50 {
		t.Fatalf("people after an anonymous bind: %v, want 50", err)
	}
	if _, err := c.WhoAmI(nil); err != nil {
		t.Fatalf("whoami: %v", err)
	}

	e = newEnv(t, func(s *Server) { s.DisallowAnonymous = true })
	c = e.dial()
	err = c.UnauthenticatedBind("")
	if code(err) != 48 || !strings.Contains(err.Error(), textAnonDisallowed) {
		t.Fatalf("refused anonymous bind: %v, want 48", err)
	}
	// Unbound reads stay as they are.
	if res, err := search(c, "", ldap.ScopeBaseObject, "(objectClass=*)"); err != nil || len(res.Entries) != 1 {
		t.Fatalf("root DSE unbound: %v %v", res, err)
	}
}

var (
	// RFC 4512 §4.1.2 and §4.1.1, as far as bindery uses them.
	attrTypeRE = regexp.MustCompile(`^\( [0-9][0-9.]*[0-9] NAME ('[A-Za-z][A-Za-z0-9-]*'|\( ('[A-Za-z][A-Za-z0-9-]*' )+\))( SUP [A-Za-z]+)?( EQUALITY [A-Za-z][A-Za-z0-9]*)?( ORDERING [A-Za-z][A-Za-z0-9]*)?( SUBSTR [A-Za-z][A-Za-z0-9]*)?( SYNTAX [0-9.]+)?( SINGLE-VALUE)?( NO-USER-MODIFICATION)?( USAGE (directoryOperation|dSAOperation))? \)$`)
	objClassRE = regexp.MustCompile(`^\( [0-9][0-9.]*[0-9] NAME '[A-Za-z]+'( SUP [A-Za-z]+)? (ABSTRACT|STRUCTURAL|AUXILIARY)( MUST ([A-Za-z]+|\( [A-Za-z]+( \$ [A-Za-z]+)+ \)))?( MAY ([A-Za-z]+|\( [A-Za-z]+( \$ [A-Za-z]+)+ \)))? \)$`)
	nameRE     = regexp.MustCompile(`NAME (?:'([^']+)'|\(([^)]*)\))`)
	refRE      = regexp.MustCompile(`(SUP|EQUALITY|ORDERING|SUBSTR|SYNTAX|MUST|MAY) (\( [^)]* \)|[^ ]+)`)
)

// TestSubschema: cn=Subschema is readable without a bind, well formed, and
// consistent: every attribute an object class names, every matching rule
// and syntax an attribute names is defined; every attribute of a person,
// a group and the Root DSE is defined; the POSIX part only with POSIX.
func TestSubschema(t *testing.T) {
	for _, posix := range []bool{false, true} {
		e := newEnv(t, func(s *Server) {
			s.ExtraAttributes = []string{"departmentNumber", "cn"}
			if posix {
				s.POSIX = testPOSIX()
			}
		})
		c := e.dial()
		res, err := search(c, SubschemaDN, ldap.ScopeBaseObject, "(objectClass=subschema)", "+")
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("posix %v: %v %v", posix, res, err)
		}
		sch := res.Entries[0]
		defined := map[string]bool{}
		for _, list := range []string{"attributeTypes", "objectClasses", "matchingRules"} {
			for _, v := range sch.GetAttributeValues(list) {
				m := nameRE.FindStringSubmatch(v)
				if m == nil {
					t.Fatalf("%s without a NAME: %s", list, v)
				}
				for _, n := range strings.Fields(strings.ReplaceAll(m[1]+" "+m[2], "'", "")) {
					defined[strings.ToLower(n)] = true
				}
			}
		}
		for _, v := range sch.GetAttributeValues("ldapSyntaxes") {
			defined[strings.Fields(v)[1]] = true
		}
		for _, v := range sch.GetAttributeValues("attributeTypes") {
			if !attrTypeRE.MatchString(v) && !strings.HasPrefix(v, "( departmentNumber-oid ") {
				t.Errorf("malformed attribute type: %s", v)
			}
		}
		for _, v := range sch.GetAttributeValues("objectClasses") {
			if !objClassRE.MatchString(v) {
				t.Errorf("malformed object class: %s", v)
			}
		}
		for _, list := range []string{"attributeTypes", "objectClasses"} {
			for _, v := range sch.GetAttributeValues(list) {
				for _, m := range refRE.FindAllStringSubmatch(v, -1) {
					for _, ref := range strings.Fields(strings.Trim(m[2], "()")) {
						if ref != "$" && !defined[strings.ToLower(ref)] {
							t.Errorf("%s refers to undefined %s", v, ref)
						}
					}
				}
			}
		}
		// What bindery serves is defined.
		c2 := e.dial()
		if err := c2.Bind(serviceDN("ils"), "ils-secret"); err != nil {
			t.Fatal(err)
		}
		var served []*ldap.Entry
		for _, q := range []struct{ base, filter string }{{personDN("CU1234567"), "(objectClass=*)"}, {"cn=julac,ou=groups," + testSuffix, "(objectClass=*)"}, {"", "(objectClass=*)"}, {SubschemaDN, "(objectClass=*)"}} {
			r, err := search(c2, q.base, ldap.ScopeBaseObject, q.filter, "*", "+")
			if err != nil || len(r.Entries) != 1 {
				t.Fatalf("%s: %v", q.base, err)
			}
			served = append(served, r.Entries[0])
		}
		for _, en := range served {
			for _, a := range en.Attributes {
				if a.Name == "defaultNamingContext" {
					continue // Active Directory's, without a standard definition
				}
				if !defined[strings.ToLower(a.Name)] {
					t.Errorf("posix %v: %s serves %s, which cn=Subschema does not define", posix, en.DN, a.Name)
				}
			}
			for _, oc := range en.GetAttributeValues("objectClass") {
				if !defined[strings.ToLower(oc)] {
					t.Errorf("%s: object class %s undefined", en.DN, oc)
				}
			}
		}
		if got := defined["uidnumber"] && defined["posixaccount"]; got != posix {
			t.Errorf("posix %v: uidNumber/posixAccount defined = %v", posix, got)
		}
		if !defined["departmentnumber"] {
			t.Errorf("extra attribute not published")
		}
		if n := strings.Count(strings.Join(sch.GetAttributeValues("attributeTypes"), "\n"), "'cn'"); n != 1 {
			t.Errorf("cn defined %d times", n)
		}
		// Only base scope finds it; "+" is needed for the definitions.
		if r, err := search(c, SubschemaDN, ldap.ScopeWholeSubtree, "(objectClass=*)"); err != nil || len(r.Entries) != 0 {
			t.Errorf("subtree search of cn=Subschema: %v %v", r, err)
		}
		if r, err := search(c, SubschemaDN, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil || len(r.Entries) != 1 || r.Entries[0].GetAttributeValue("attributeTypes") != "" ||
			!slices.Contains(r.Entries[0].GetAttributeValues("objectClass"), "subschema") {
			t.Errorf("subschema without +: %v %v", r, err)
		}
	}
}
