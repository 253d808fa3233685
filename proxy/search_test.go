package proxy

import (
	"slices"
	"strings"
	"testing"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

func search(c *ldap.Conn, base string, scope int, filter string, attrs ...string) (*ldap.SearchResult, error) {
	return c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
}

func dns(res *ldap.SearchResult) []string {
	var out []string
	if res == nil {
		return nil
	}
	for _, e := range res.Entries {
		out = append(out, e.DN)
	}
	return out
}

func TestServiceSearchFilters(t *testing.T) {
	cu := personDN("CU1234567")
	tests := []struct {
		filter      string
		want        []string
		wantLookups int64 // -1: don't check
	}{
		{"(&(objectClass=person)(uid=CU1234567))", []string{cu}, 1},
		{"(uid=cu1234567)", []string{cu}, 1},
		{"(|(uid=jchan)(mail=nobody))", []string{personDN("jchan")}, -1},
		{"(uid=JChan)", []string{personDN("jchan")}, -1},
		{"(mail=jchan@example.edu)", []string{personDN("jchan")}, -1},
		{"(&(uid=CU1234567)(employeeType=staff))", nil, 1},
		{"(&(uid=CU1234567)(employeeType=JULAC))", []string{cu}, 1},
		{"(&(uid=CU1234567)(memberOf=cn=julac,ou=groups," + testSuffix + "))", []string{cu}, 1},
		{"(&(uid=CU1234567)(!(employeeType=julac)))", nil, 1},
		{"(&(uid=CU1234567)(cn=Name*))", []string{cu}, 1},
		{"(|(uid=CU1234567)(cn=CU1234567)(uid=cu1234567))", []string{cu}, 1},
		{"(|(uid=CU1234567)(uid=CITYU5012345))", []string{cu, personDN("CITYU5012345")}, 2},
		{"(uid=*)", nil, 0},
		{"(uid=a*)", nil, 0},
		{"(uid=CU*)", nil, 0},
		{`(uid=\2a)`, nil, 0},
		{`(uid=x\29\28uid=\2a)`, nil, 0},
		{"(objectClass=*)", nil, 0},
		{"(!(uid=CU1234567))", nil, 0},
		{"(uid=CU7654321)", nil, 1},
		{"(uid=nobody-at-all)", nil, 0},
		{"(&)", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			e := newEnv(t, nil)
			c := e.dial()
			if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
				t.Fatal(err)
			}
			for _, base := range []string{testSuffix, "ou=people," + testSuffix} {
				before := e.pin.lookupCalls.Load()
				res, err := search(c, base, ldap.ScopeWholeSubtree, tc.filter)
				if err != nil {
					t.Fatalf("search %s: %v", tc.filter, err)
				}
				got := dns(res)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("base %s filter %s: got %v, want %v", base, tc.filter, got, tc.want)
				}
				if n := e.pin.lookupCalls.Load() - before; tc.wantLookups >= 0 && n != tc.wantLookups {
					t.Errorf("pin lookups %d, want %d", n, tc.wantLookups)
				}
			}
		})
	}
}

func TestSearchEntryAttributes(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		attrs []string
		want  []string
	}{
		{nil, []string{"objectClass", "uid", "cn", "sn", "givenName", "mail", "employeeType", "o", "memberOf", "employeeNumber"}},
		{[]string{"*"}, []string{"objectClass", "uid", "cn", "sn", "givenName", "mail", "employeeType", "o", "memberOf", "employeeNumber"}},
		{[]string{"1.1"}, nil},
		{[]string{"UID", "MAIL"}, []string{"uid", "mail"}},
		{[]string{"+"}, []string{"entryUUID", "createTimestamp"}},
		{[]string{"uid", "entryuuid"}, []string{"uid", "entryUUID"}},
	}
	for _, tc := range tests {
		res, err := search(c, testSuffix, ldap.ScopeWholeSubtree, "(uid=CU1234567)", tc.attrs...)
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("search: %v %v", err, res)
		}
		var got []string
		for _, a := range res.Entries[0].Attributes {
			got = append(got, a.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("attrs %v: got %v, want %v", tc.attrs, got, tc.want)
		}
	}
	res, _ := search(c, testSuffix, ldap.ScopeWholeSubtree, "(uid=CU1234567)")
	if got := res.Entries[0].GetAttributeValue("memberOf"); got != "cn=julac,ou=groups,"+testSuffix {
		t.Errorf("memberOf %q", got)
	}
	if got := res.Entries[0].GetAttributeValues("objectClass"); !slices.Equal(got, backend.PersonObjectClasses) {
		t.Errorf("objectClass %v", got)
	}
}

func TestSearchAccess(t *testing.T) {
	tests := []struct {
		name     string
		bindDN   string
		pw       string
		base     string
		scope    int
		filter   string
		wantCode int
		want     []string
	}{
		{name: "anonymous root DSE", base: "", scope: ldap.ScopeBaseObject, filter: "(objectClass=*)", want: []string{""}},
		{name: "anonymous people", base: testSuffix, scope: ldap.ScopeWholeSubtree, filter: "(uid=CU1234567)", wantCode: 50},
		{name: "anonymous own DN", base: personDN("CU1234567"), scope: ldap.ScopeBaseObject, filter: "(objectClass=*)", wantCode: 50},
		{name: "person reads itself", bindDN: "cu1234567", pw: "right-pin-123", base: personDN("CU1234567"), scope: ldap.ScopeBaseObject, filter: "(objectClass=*)", want: []string{personDN("CU1234567")}},
		{name: "person reads itself by filter", bindDN: "cu1234567", pw: "right-pin-123", base: "ou=people," + testSuffix, scope: ldap.ScopeSingleLevel, filter: "(uid=CU1234567)", want: []string{personDN("CU1234567")}},
		{name: "person cannot read another", bindDN: "cu1234567", pw: "right-pin-123", base: personDN("CITYU5012345"), scope: ldap.ScopeBaseObject, filter: "(objectClass=*)", wantCode: 32},
		{name: "person cannot search another", bindDN: "cu1234567", pw: "right-pin-123", base: testSuffix, scope: ldap.ScopeWholeSubtree, filter: "(|(uid=CITYU5012345)(uid=CU1234567))", want: []string{personDN("CU1234567")}},
		{name: "service base read", bindDN: serviceDN("ils"), pw: "ils-secret", base: personDN("cu1234567"), scope: ldap.ScopeBaseObject, filter: "(objectClass=*)", want: []string{personDN("CU1234567")}},
		{name: "service base read missing", bindDN: serviceDN("ils"), pw: "ils-secret", base: personDN("CU7654321"), scope: ldap.ScopeBaseObject, filter: "(objectClass=*)", wantCode: 32},
		{name: "service without CanSearch", bindDN: serviceDN("nosearch"), pw: "ns-secret", base: testSuffix, scope: ldap.ScopeWholeSubtree, filter: "(uid=CU1234567)", wantCode: 50},
		{name: "suffix entry", bindDN: serviceDN("nosearch"), pw: "ns-secret", base: testSuffix, scope: ldap.ScopeBaseObject, filter: "(objectClass=*)", want: []string{testSuffix}},
		{name: "people container", bindDN: serviceDN("ils"), pw: "ils-secret", base: "ou=people," + testSuffix, scope: ldap.ScopeBaseObject, filter: "(objectClass=organizationalUnit)", want: []string{"ou=people," + testSuffix}},
		{name: "outside the suffix", bindDN: serviceDN("ils"), pw: "ils-secret", base: "dc=other", scope: ldap.ScopeWholeSubtree, filter: "(uid=CU1234567)", wantCode: 32},
		{name: "bad base DN", bindDN: serviceDN("ils"), pw: "ils-secret", base: "not a dn", scope: ldap.ScopeWholeSubtree, filter: "(uid=CU1234567)", wantCode: 34},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			c := e.dial()
			if tc.bindDN != "" {
				if err := c.Bind(tc.bindDN, tc.pw); err != nil {
					t.Fatal(err)
				}
			}
			res, err := search(c, tc.base, tc.scope, tc.filter)
			if code(err) != tc.wantCode {
				t.Fatalf("code %d (%v), want %d", code(err), err, tc.wantCode)
			}
			if err == nil && !slices.Equal(dns(res), tc.want) {
				t.Fatalf("got %v, want %v", dns(res), tc.want)
			}
		})
	}
}

func TestRootDSE(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.VendorVersion = "1.2.3" })
	c := e.dial()
	for _, attrs := range [][]string{nil, {"*"}, {"+"}, {"namingContexts", "supportedControl", "supportedExtension", "supportedLDAPVersion", "vendorVersion"}} {
		res, err := search(c, "", ldap.ScopeBaseObject, "(objectClass=*)", attrs...)
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("root DSE %v: %v", attrs, err)
		}
		dse := res.Entries[0]
		if got := dse.GetAttributeValue("namingContexts"); got != testSuffix {
			t.Errorf("%v: namingContexts %q", attrs, got)
		}
		if got := dse.GetAttributeValue("supportedLDAPVersion"); got != "3" {
			t.Errorf("%v: supportedLDAPVersion %q", attrs, got)
		}
		if !slices.Contains(dse.GetAttributeValues("supportedControl"), ldap.ControlTypeBeheraPasswordPolicy) {
			t.Errorf("%v: supportedControl %v", attrs, dse.GetAttributeValues("supportedControl"))
		}
		if ext := dse.GetAttributeValues("supportedExtension"); !slices.Contains(ext, "1.3.6.1.4.1.4203.1.11.1") || slices.Contains(ext, "1.3.6.1.4.1.1466.20037") {
			t.Errorf("%v: supportedExtension %v (no TLS configured)", attrs, ext)
		}
		if got := dse.GetAttributeValue("vendorVersion"); got != "1.2.3" {
			t.Errorf("%v: vendorVersion %q", attrs, got)
		}
		if dse.GetAttributeValue("supportedSASLMechanisms") != "" {
			t.Errorf("SASL mechanisms advertised")
		}
	}
	res, err := search(c, "", ldap.ScopeBaseObject, "(objectClass=*)", "1.1")
	if err != nil || len(res.Entries) != 1 || len(res.Entries[0].Attributes) != 0 {
		t.Fatalf("root DSE 1.1: %v %+v", err, res)
	}
}

func TestSearchBackendErrors(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{backend.ErrUnavailable, 52},
		{backend.ErrBusy, 51},
		{errFake, 80},
	}
	for _, tc := range tests {
		e := newEnv(t, nil)
		e.pin.lookupErr = tc.err
		c := e.dial()
		if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
			t.Fatal(err)
		}
		// jchan (campus) would be found; no partial results.
		res, err := search(c, testSuffix, ldap.ScopeWholeSubtree, "(|(uid=jchan)(uid=CU1234567))")
		if code(err) != tc.want {
			t.Fatalf("%v: code %d (%v), want %d", tc.err, code(err), err, tc.want)
		}
		if res != nil && len(res.Entries) != 0 {
			t.Fatalf("partial results: %v", dns(res))
		}
	}
}

func TestSizeLimit(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	res, err := c.Search(ldap.NewSearchRequest(testSuffix, ldap.ScopeWholeSubtree, 0, 1, 0, false, "(|(uid=jchan)(uid=CU1234567))", nil, nil))
	if code(err) != 4 {
		t.Fatalf("size limit: %v", err)
	}
	if res == nil || len(res.Entries) != 1 {
		t.Fatalf("entries before the size limit: %v", dns(res))
	}
}

func TestCriticalControlsAndModify(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	req := ldap.NewSearchRequest(testSuffix, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(uid=CU1234567)", nil,
		[]ldap.Control{ldap.NewControlString("1.2.3.4.5", true, "")})
	if _, err := c.Search(req); code(err) != 12 {
		t.Fatalf("unknown critical control: %v", err)
	}
	req.Controls = []ldap.Control{ldap.NewControlString("1.2.3.4.5", false, ""), ldap.NewControlManageDsaIT(true)}
	if res, err := c.Search(req); err != nil || len(res.Entries) != 1 {
		t.Fatalf("non-critical unknown control and ManageDsaIT: %v", err)
	}
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(testSuffix, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(uid=CU1234567)", nil, nil), 10)
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("paged search: %v", err)
	}
	mod := ldap.NewModifyRequest(personDN("CU1234567"), nil)
	mod.Replace("mail", []string{"x@example.edu"})
	if err := c.Modify(mod); code(err) != 53 || !strings.Contains(err.Error(), textReadOnly) {
		t.Fatalf("modify: %v", err)
	}
	if err := c.Del(ldap.NewDelRequest(personDN("CU1234567"), nil)); code(err) != 53 {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.Extended(ldap.NewExtendedRequest("1.2.3.99", nil)); code(err) != 2 {
		t.Fatalf("unknown extended: %v", err)
	}
	if _, err := c.WhoAmI(nil); err != nil {
		t.Fatalf("connection after unknown extended: %v", err)
	}
}

func TestCompare(t *testing.T) {
	group := "cn=julac,ou=groups," + testSuffix
	tests := []struct {
		bindDN, pw string
		dn, attr   string
		value      string
		want       bool
		wantCode   int
	}{
		{serviceDN("ils"), "ils-secret", personDN("CU1234567"), "memberOf", group, true, 0},
		{serviceDN("ils"), "ils-secret", personDN("CU1234567"), "memberOf", "CN=Julac, OU=Groups, " + testSuffix, true, 0},
		{serviceDN("ils"), "ils-secret", personDN("CU1234567"), "employeeType", "STAFF", false, 0},
		{serviceDN("ils"), "ils-secret", personDN("CU1234567"), "uid", "cu1234567", true, 0},
		{serviceDN("ils"), "ils-secret", personDN("CU1234567"), "objectClass", "inetOrgPerson", true, 0},
		{serviceDN("ils"), "ils-secret", personDN("CU1234567"), "title", "x", false, 16},
		{serviceDN("ils"), "ils-secret", personDN("CU7654321"), "uid", "x", false, 32},
		{serviceDN("ils"), "ils-secret", group, "member", personDN("CU1234567"), true, 0},
		{serviceDN("ils"), "ils-secret", group, "uniqueMember", personDN("jchan"), false, 0},
		{serviceDN("nosearch"), "ns-secret", personDN("CU1234567"), "uid", "CU1234567", false, 50},
		{"CU1234567", "right-pin-123", personDN("CU1234567"), "employeeType", "julac", true, 0},
		{"CU1234567", "right-pin-123", personDN("CITYU5012345"), "employeeType", "julac", false, 32},
		{"", "", personDN("CU1234567"), "uid", "CU1234567", false, 50},
	}
	for _, tc := range tests {
		e := newEnv(t, nil)
		c := e.dial()
		if tc.bindDN != "" {
			if err := c.Bind(tc.bindDN, tc.pw); err != nil {
				t.Fatal(err)
			}
		}
		got, err := c.Compare(tc.dn, tc.attr, tc.value)
		if code(err) != tc.wantCode {
			t.Fatalf("compare %s %s=%s as %s: code %d (%v), want %d", tc.dn, tc.attr, tc.value, tc.bindDN, code(err), err, tc.wantCode)
		}
		if err == nil && got != tc.want {
			t.Errorf("compare %s %s=%s: %v, want %v", tc.dn, tc.attr, tc.value, got, tc.want)
		}
	}
}
