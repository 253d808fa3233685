package proxy

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/proxy/names"
	"github.com/go-ldap/ldap/v3"
)

// listingFake is a fake backend that can list: it returns every entry
// (ignoring the filter: a superset, which the proxy narrows), sorted by ID,
// pageSize at a time, the cursor being the index of the next one.
type listingFake struct {
	*fakeBackend
	block   bool // Search waits for its context to end
	queries []backend.Query
}

func (l *listingFake) Search(ctx context.Context, q backend.Query) (backend.Page, error) {
	if l.block {
		<-ctx.Done()
		return backend.Page{}, fmt.Errorf("fake: search: %w: %w", backend.ErrUnavailable, ctx.Err())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, q)
	ids := make([]string, 0, len(l.users))
	for id := range l.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	start := 0
	if q.Cursor != "" {
		n, err := strconv.Atoi(q.Cursor)
		if err != nil {
			return backend.Page{}, fmt.Errorf("fake: %w", backend.ErrCursor)
		}
		start = n
	}
	size := q.PageSize
	if size <= 0 {
		size = 500
	}
	var p backend.Page
	end := min(start+size, len(ids))
	for _, id := range ids[start:end] {
		e := l.users[id].entry
		p.Entries = append(p.Entries, &e)
	}
	if end < len(ids) {
		p.Cursor = strconv.Itoa(end)
	}
	return p, nil
}

// listEnv is a server whose two backends can list: 30 JULAC patrons
// (julac or alumni), jchan and two more campus users; "jchan" also has a
// library account in the PIN backend, which must not show twice.
func listEnv(t *testing.T, mod func(*Server)) (*env, *listingFake, *listingFake) {
	e := newEnv(t, mod)
	pins := &listingFake{fakeBackend: e.pin}
	campus := &listingFake{fakeBackend: e.campus}
	for i := range 28 {
		cat := "julac"
		if i%2 == 1 {
			cat = "alumni"
		}
		e.pin.add(fmt.Sprintf("CU%07d", 1000000+i), "pw", cat)
	}
	e.pin.add("jchan", "library-pw", "staff") // routes to campus: dropped from the PIN listing
	e.campus.add("amy", "pw", "student")
	e.campus.add("bob", "pw", "student")
	e.srv.SetRoutes(&Routes{
		List: []Route{
			{Name: "julac", Match: regexp.MustCompile(`^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{5,9}$`), Case: CaseUpper, BackendName: "pin", Backend: pins},
			{Name: "card", Match: regexp.MustCompile(`^[0-9]{6,14}$`), BackendName: "pin", Backend: pins},
			{Name: "campus", Match: regexp.MustCompile(`^[a-z][a-z0-9]{1,15}$`), Case: CaseLower, BackendName: "campus", Backend: campus},
		},
		ServiceAccounts: []ServiceAccount{
			{Name: "ils", Verify: password("ils-secret"), CanSearch: true},
			{Name: "sync", Verify: password("sync-secret"), CanSearch: true, CanList: true},
			{Name: "narrow", Verify: password("narrow-secret"), CanSearch: true, CanList: true, Attributes: []string{"cn", "employeeType"}},
		},
	})
	return e, pins, campus
}

func TestListing(t *testing.T) {
	e, pins, _ := listEnv(t, nil)
	sync := e.dial()
	if err := sync.Bind(serviceDN("sync"), "sync-secret"); err != nil {
		t.Fatal(err)
	}
	ils := e.dial()
	if err := ils.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	const everyone = 30 + 3 // 30 PIN patrons (CU1234567, CITYU5012345, 28 more) + 3 campus
	tests := []struct {
		name   string
		conn   *ldap.Conn
		filter string
		want   int
		first  string // DN of one entry that must be there
	}{
		{"everyone", sync, "(objectClass=person)", everyone, personDN("jchan")},
		{"presence", sync, "(uid=*)", everyone, personDN("CU1000000")},
		{"category", sync, "(employeeType=alumni)", 14, personDN("CU1000001")},
		{"memberOf", sync, "(memberOf=cn=julac,ou=groups," + testSuffix + ")", 16, personDN("CU1234567")},
		{"memberOf other suffix", sync, "(memberOf=cn=julac,ou=groups,dc=other)", 0, ""},
		{"not", sync, "(&(objectClass=person)(!(employeeType=julac)))", 17, personDN("amy")},
		{"substring on cn", sync, "(cn=Name CU100000*)", 10, personDN("CU1000009")},
		{"substring on mail", sync, "(mail=*@example.edu)", everyone, ""},
		{"or of ID and listing", sync, "(|(uid=amy)(employeeType=staff))", 2, personDN("jchan")},
		{"cn equality that is no ID", sync, "(cn=Name bob)", 1, personDN("bob")},
		{"card number attribute", sync, "(employeeNumber=CU1000003)", 1, personDN("CU1000003")},
		{"escaped star finds nothing", sync, `(uid=\2a)`, 0, ""},
		// can_search without can_list: a listing finds nothing.
		{"no can_list: presence", ils, "(uid=*)", 0, ""},
		{"no can_list: objectClass", ils, "(objectClass=person)", 0, ""},
		{"no can_list: substring", ils, "(cn=Name*)", 0, ""},
		{"no can_list: ID look-up works", ils, "(uid=cu1000003)", 1, personDN("CU1000003")},
		{"no can_list: card number look-up", ils, "(&(objectClass=person)(employeeNumber=CU1000003))", 1, personDN("CU1000003")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := search(tt.conn, "ou=people,"+testSuffix, ldap.ScopeWholeSubtree, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			got := dns(res)
			if len(got) != tt.want {
				t.Fatalf("%d entries, want %d: %v", len(got), tt.want, got)
			}
			if tt.first != "" && !slices.Contains(got, tt.first) {
				t.Fatalf("%s missing from %v", tt.first, got)
			}
			seen := map[string]bool{}
			for _, dn := range got {
				if seen[dn] {
					t.Fatalf("%s twice", dn)
				}
				seen[dn] = true
			}
		})
	}
	t.Run("jchan comes from campus", func(t *testing.T) {
		res, err := search(sync, "ou=people,"+testSuffix, ldap.ScopeWholeSubtree, "(uid=jchan)", "employeeType")
		if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("employeeType") != "staff" {
			t.Fatalf("%v %v", res, err)
		}
	})
	t.Run("the filter reaches the backend translated", func(t *testing.T) {
		pins.mu.Lock()
		pins.queries = nil
		pins.mu.Unlock()
		if _, err := search(sync, "ou=people,"+testSuffix, ldap.ScopeWholeSubtree, "(memberOf=cn=alumni,ou=groups,"+testSuffix+")"); err != nil {
			t.Fatal(err)
		}
		pins.mu.Lock()
		defer pins.mu.Unlock()
		if len(pins.queries) == 0 {
			t.Fatal("no query")
		}
		f := pins.queries[0].Filter
		if f.Op != backend.FilterEqual || f.Attr != "employeeType" || f.Value != "alumni" {
			t.Fatalf("filter %+v", f)
		}
	})
}

func TestListingSizeLimit(t *testing.T) {
	e, _, _ := listEnv(t, func(s *Server) { s.SizeLimit = 5 })
	c := e.dial()
	if err := c.Bind(serviceDN("sync"), "sync-secret"); err != nil {
		t.Fatal(err)
	}
	res, err := search(c, "ou=people,"+testSuffix, ldap.ScopeWholeSubtree, "(objectClass=person)")
	if code(err) != ldap.LDAPResultSizeLimitExceeded || res == nil || len(res.Entries) != 5 {
		t.Fatalf("got %v, %v", err, res)
	}
	// The client's own smaller limit.
	req := ldap.NewSearchRequest("ou=people,"+testSuffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 3, 0, false, "(objectClass=person)", nil, nil)
	res, err = c.Search(req)
	if code(err) != ldap.LDAPResultSizeLimitExceeded || res == nil || len(res.Entries) != 3 {
		t.Fatalf("client limit: %v, %v", err, res)
	}
	// Exactly at the limit is no error.
	res, err = search(c, "ou=people,"+testSuffix, ldap.ScopeWholeSubtree, "(employeeType=student)")
	if err != nil || len(res.Entries) != 2 {
		t.Fatalf("under the limit: %v %v", err, res)
	}
	// Paged: each page is capped at the size limit, the walk is not.
	res, err = c.SearchWithPaging(ldap.NewSearchRequest("ou=people,"+testSuffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=person)", nil, nil), 100)
	if err != nil || len(res.Entries) != 33 {
		t.Fatalf("paged walk: %v, %d entries", err, len(res.Entries))
	}
}

func TestListingPaging(t *testing.T) {
	e, _, _ := listEnv(t, nil)
	c := e.dial()
	if err := c.Bind(serviceDN("sync"), "sync-secret"); err != nil {
		t.Fatal(err)
	}
	for _, size := range []uint32{1, 2, 7, 30, 31, 1000} {
		t.Run(strconv.Itoa(int(size)), func(t *testing.T) {
			res, err := c.SearchWithPaging(ldap.NewSearchRequest("ou=people,"+testSuffix, ldap.ScopeWholeSubtree,
				ldap.NeverDerefAliases, 0, 0, false, "(objectClass=person)", []string{"uid"}, nil), size)
			if err != nil {
				t.Fatal(err)
			}
			got := dns(res)
			if len(got) != 33 {
				t.Fatalf("%d entries, want 33", len(got))
			}
			seen := map[string]bool{}
			for _, dn := range got {
				if seen[dn] {
					t.Fatalf("%s twice", dn)
				}
				seen[dn] = true
			}
		})
	}

	page := func(conn *ldap.Conn, filter string, cookie []byte) (*ldap.SearchResult, []byte, error) {
		pc := ldap.NewControlPaging(5)
		pc.SetCookie(cookie)
		res, err := conn.Search(ldap.NewSearchRequest("ou=people,"+testSuffix, ldap.ScopeWholeSubtree,
			ldap.NeverDerefAliases, 0, 0, false, filter, []string{"uid"}, []ldap.Control{pc}))
		if err != nil {
			return res, nil, err
		}
		rc, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if rc == nil {
			return res, nil, fmt.Errorf("no paging control in the response")
		}
		return res, rc.Cookie, nil
	}
	res, cookie, err := page(c, "(objectClass=person)", nil)
	if err != nil || len(res.Entries) != 5 || len(cookie) == 0 {
		t.Fatalf("first page: %v %v %x", err, res, cookie)
	}
	tampered := slices.Clone(cookie)
	tampered[1] ^= 1
	other := e.dial()
	if err := other.Bind(serviceDN("narrow"), "narrow-secret"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		conn   *ldap.Conn
		filter string
		cookie []byte
	}{
		{"tampered", c, "(objectClass=person)", tampered},
		{"garbage", c, "(objectClass=person)", []byte("garbage-cookie-garbage")},
		{"another filter", c, "(uid=*)", cookie},
		{"another identity", other, "(objectClass=person)", cookie},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := page(tc.conn, tc.filter, tc.cookie)
			if code(err) != ldap.LDAPResultUnwillingToPerform {
				t.Fatalf("got %v, want 53", err)
			}
		})
	}
	// The genuine cookie still works, also on another connection of the same account.
	c2 := e.dial()
	if err := c2.Bind(serviceDN("sync"), "sync-secret"); err != nil {
		t.Fatal(err)
	}
	res2, _, err := page(c2, "(objectClass=person)", cookie)
	if err != nil || len(res2.Entries) != 5 || slices.Contains(dns(res2), res.Entries[0].DN) {
		t.Fatalf("second page: %v %v", err, res2)
	}
	// An ID look-up answers in one page with an empty cookie.
	res, cookie, err = page(c, "(uid=CU1234567)", nil)
	if err != nil || len(res.Entries) != 1 || len(cookie) != 0 {
		t.Fatalf("look-up page: %v %d %x", err, len(res.Entries), cookie)
	}
}

func TestListingAttributeRights(t *testing.T) {
	e, _, _ := listEnv(t, nil)
	c := e.dial()
	if err := c.Bind(serviceDN("narrow"), "narrow-secret"); err != nil {
		t.Fatal(err)
	}
	res, err := search(c, "ou=people,"+testSuffix, ldap.ScopeWholeSubtree, "(uid=CU1234567)", "*", "+")
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("%v %v", err, res)
	}
	var got []string
	for _, a := range res.Entries[0].Attributes {
		got = append(got, a.Name)
	}
	if want := []string{"objectClass", "uid", "cn", "employeeType"}; !slices.Equal(got, want) {
		t.Fatalf("attributes %v, want %v", got, want)
	}
	// A hidden attribute cannot be used as an oracle in a filter or a compare.
	for _, f := range []string{"(mail=CU1234567@example.edu)", "(mail=*)", "(&(uid=CU1234567)(mail=*))", "(o=Example*)"} {
		res, err := search(c, "ou=people,"+testSuffix, ldap.ScopeWholeSubtree, f)
		if err != nil || len(res.Entries) != 0 {
			t.Fatalf("%s: %v %v", f, err, dns(res))
		}
	}
	if _, err := c.Compare(personDN("CU1234567"), "mail", "CU1234567@example.edu"); code(err) != ldap.LDAPResultNoSuchAttribute {
		t.Fatalf("compare on a hidden attribute: %v", err)
	}
	if ok, err := c.Compare(personDN("CU1234567"), "employeeType", "julac"); err != nil || !ok {
		t.Fatalf("compare on a visible attribute: %v %v", ok, err)
	}
}

func TestListingTimeLimit(t *testing.T) {
	e, pins, _ := listEnv(t, func(s *Server) { s.TimeLimit = 100 * time.Millisecond })
	pins.block = true
	c := e.dial()
	if err := c.Bind(serviceDN("sync"), "sync-secret"); err != nil {
		t.Fatal(err)
	}
	_, err := search(c, "ou=people,"+testSuffix, ldap.ScopeWholeSubtree, "(objectClass=person)")
	if code(err) != ldap.LDAPResultTimeLimitExceeded {
		t.Fatalf("got %v, want 3", err)
	}
}

func TestGroupMemberSearch(t *testing.T) {
	e, _, _ := listEnv(t, nil)
	c := e.dial()
	if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	group := "cn=julac,ou=groups," + testSuffix
	tests := []struct {
		filter string
		want   int
	}{
		{"(objectClass=*)", 1},
		{"(member=" + personDN("CU1234567") + ")", 1},
		{"(member=UID=cu1234567, OU=People," + testSuffix + ")", 1},
		{"(&(objectClass=groupOfNames)(uniqueMember=" + personDN("CU1234567") + "))", 1},
		{"(member=" + personDN("CU1000001") + ")", 0}, // alumni
		{"(member=" + personDN("jchan") + ")", 0},
		{"(member=" + personDN("nobody") + ")", 0},
		{"(member=cn=ils,ou=services," + testSuffix + ")", 0},
	}
	for _, tt := range tests {
		res, err := search(c, group, ldap.ScopeBaseObject, tt.filter, "member")
		if err != nil || len(res.Entries) != tt.want {
			t.Fatalf("%s: %v %v", tt.filter, err, res)
		}
	}
	res, _ := search(c, group, ldap.ScopeBaseObject, "(member="+personDN("CU1234567")+")", "member")
	if got := res.Entries[0].GetAttributeValues("member"); !slices.Equal(got, []string{personDN("CU1234567")}) {
		t.Fatalf("member values %v", got)
	}
}

func TestBoundedIDs(t *testing.T) {
	tests := []struct {
		filter  string
		bounded bool
		ids     string
	}{
		{"(uid=a)", true, "a"},
		{"(&(objectClass=person)(uid=a))", true, "a"},
		{"(|(uid=a)(mail=b))", true, "a b"},
		{"(|(uid=a)(sn=b))", false, ""},
		{"(&(|(uid=a)(cn=b))(objectClass=*))", true, "a b"},
		{"(employeeNumber=123456)", true, "123456"},
		{"(uid=*)", false, ""},
		{"(uid=a*)", false, ""},
		{"(!(uid=a))", false, ""},
		{"(objectClass=person)", false, ""},
		{"(sn=a)", false, ""},
	}
	for _, tt := range tests {
		p, err := ldap.CompileFilter(tt.filter)
		if err != nil {
			t.Fatal(err)
		}
		ids, ok := boundedIDs(p)
		if ok != tt.bounded || (ok && strings.Join(ids, " ") != tt.ids) {
			t.Errorf("%s: bounded %v ids %v", tt.filter, ok, ids)
		}
	}
}

func TestTranslateFilter(t *testing.T) {
	parser, err := names.NewParser(testSuffix, "")
	if err != nil {
		t.Fatal(err)
	}
	hidden := func(a string) bool { return !strings.EqualFold(a, "mail") }
	tr := translator{parser: parser, visible: hidden}
	render := func(f *backend.Filter) string {
		var r func(f *backend.Filter) string
		r = func(f *backend.Filter) string {
			switch f.Op {
			case backend.FilterAnd, backend.FilterOr, backend.FilterNot:
				op := map[backend.FilterOp]string{backend.FilterAnd: "&", backend.FilterOr: "|", backend.FilterNot: "!"}[f.Op]
				s := "(" + op
				for _, c := range f.Children {
					s += r(c)
				}
				return s + ")"
			case backend.FilterEqual:
				return "(" + f.Attr + "=" + f.Value + ")"
			case backend.FilterPresent:
				return "(" + f.Attr + "=*)"
			}
			return "(" + f.Attr + "=" + f.Initial + "*" + strings.Join(f.Any, "*") + "*" + f.Final + ")"
		}
		return r(f)
	}
	tests := []struct{ in, want string }{
		{"(uid=a)", "(uid=a)"},
		{`(cn=\2a)`, "(cn=*)"}, // a literal star as the value: the backend escapes it
		{"(cn=Ch*n)", "(cn=Ch**n)"},
		{"(memberOf=cn=julac,ou=groups," + testSuffix + ")", "(employeeType=julac)"},
		{"(memberOf=cn=julac,ou=people," + testSuffix + ")", "(|)"},
		{"(memberOf=*)", "(employeeType=*)"},
		{"(mail=x)", "(|)"}, // hidden: absent
		{"(!(mail=*))", "(!(|))"},
		{"(uid>=a)", "(&)"},                // maybe: true in a superset
		{"(!(uid>=a))", "(!(|))"},          // and false under a negation
		{"(uid:caseExactMatch:=a)", "(|)"}, // extensible match: false, as matchFilter
	}
	for _, tt := range tests {
		p, err := ldap.CompileFilter(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := render(tr.translate(p, true, 0)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, got, tt.want)
		}
	}
}

type wrapper struct{ backend.Authenticator }

func (w wrapper) Unwrap() backend.Authenticator { return w.Authenticator }

func TestSearcherBehindAWrapper(t *testing.T) {
	f := &listingFake{fakeBackend: newFake()}
	if _, ok := backend.As[backend.Searcher](wrapper{wrapper{f}}); !ok {
		t.Fatal("searcher behind two wrappers not found")
	}
	if _, ok := backend.As[backend.Searcher](newFake()); ok {
		t.Fatal("a backend that cannot list was taken for a searcher")
	}
}
