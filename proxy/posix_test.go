package proxy

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

// fakeNumbers is an in-memory backend.UIDNumbers.
type fakeNumbers struct {
	mu     sync.Mutex
	byUUID map[string]int64
	owner  map[int64]backend.NumberedAccount
}

func newFakeNumbers() *fakeNumbers {
	return &fakeNumbers{byUUID: map[string]int64{}, owner: map[int64]backend.NumberedAccount{}}
}

func (f *fakeNumbers) UIDNumber(ctx context.Context, a backend.NumberedAccount, candidate func(int) int64) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.byUUID[a.UUID]; ok {
		f.owner[n] = a
		return n, nil
	}
	for try := range 64 {
		n := candidate(try)
		if _, taken := f.owner[n]; !taken {
			f.byUUID[a.UUID], f.owner[n] = n, a
			return n, nil
		}
	}
	return 0, fmt.Errorf("fake: %w", backend.ErrUnavailable)
}

func (f *fakeNumbers) UIDOwner(ctx context.Context, n int64) (backend.NumberedAccount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.owner[n]
	if !ok {
		return a, fmt.Errorf("fake: %w", backend.ErrNotFound)
	}
	return a, nil
}

func testPOSIX() *POSIX {
	return &POSIX{
		UIDMin: 2000000000, UIDMax: 2000000999,
		GIDNumbers:    map[string]int64{"julac": 20001, "Staff": 20002},
		DefaultGID:    65534,
		HomeDirectory: "/home/{id}",
		Numbers:       newFakeNumbers(),
	}
}

func TestPOSIXCandidates(t *testing.T) {
	p := testPOSIX()
	seen := map[int64]bool{}
	for try := range 50 {
		n := p.candidate("0f8fad5b-d9cb-469f-a165-70867728950e", try)
		if n < p.UIDMin || n > p.UIDMax {
			t.Fatalf("try %d: %d out of range", try, n)
		}
		seen[n] = true
	}
	if len(seen) < 40 {
		t.Fatalf("50 tries gave only %d distinct candidates", len(seen))
	}
	if p.candidate("0F8FAD5B-D9CB-469F-A165-70867728950E", 0) != p.candidate("0f8fad5b-d9cb-469f-a165-70867728950e", 0) {
		t.Fatal("the candidate depends on the UUID's case")
	}
	if p.candidate("a", 0) == p.candidate("b", 0) && p.candidate("a", 1) == p.candidate("b", 1) {
		t.Fatal("candidates do not depend on the UUID")
	}
}

// TestPOSIXView: the look-ups nslcd and SSSD send, by name, by number,
// and for groups.
func TestPOSIXView(t *testing.T) {
	p := testPOSIX()
	numbers := p.Numbers.(*fakeNumbers)
	// The first candidate of CU1234567 is already someone else's: it gets
	// the next one, and keeps it.
	taken := p.candidate("uuid-CU1234567", 0)
	numbers.owner[taken] = backend.NumberedAccount{UUID: "uuid-gone", ID: "CU0000001"}
	e := newEnv(t, func(s *Server) { s.POSIX = p })
	c := e.dial()
	if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	one := func(base string, scope int, filter string, attrs ...string) *ldap.Entry {
		t.Helper()
		res, err := search(c, base, scope, filter, attrs...)
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("%s %s: %v %v", base, filter, dns(res), err)
		}
		return res.Entries[0]
	}
	nslcd := one(testSuffix, ldap.ScopeWholeSubtree, "(&(objectClass=posixAccount)(uid=cu1234567))",
		"uid", "uidNumber", "gidNumber", "homeDirectory", "loginShell", "objectClass", "cn")
	uid, _ := strconv.ParseInt(nslcd.GetAttributeValue("uidNumber"), 10, 64)
	if uid != p.candidate("uuid-CU1234567", 1) {
		t.Fatalf("uidNumber %d, want the second candidate %d (the first is taken)", uid, p.candidate("uuid-CU1234567", 1))
	}
	for attr, want := range map[string]string{"gidNumber": "20001", "homeDirectory": "/home/CU1234567", "loginShell": DefaultLoginShell} {
		if got := nslcd.GetAttributeValue(attr); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	if !slices.Contains(nslcd.GetAttributeValues("objectClass"), "posixAccount") {
		t.Errorf("objectClass %v", nslcd.GetAttributeValues("objectClass"))
	}
	sssd := one(testSuffix, ldap.ScopeWholeSubtree, "(&(uid=CU1234567)(objectclass=posixAccount)(uid=*)(&(uidNumber=*)(!(uidNumber=0))))", "uidNumber")
	if sssd.GetAttributeValue("uidNumber") != strconv.FormatInt(uid, 10) {
		t.Fatalf("uidNumber changed: %s", sssd.GetAttributeValue("uidNumber"))
	}
	// By number (getent passwd <uid>, ls -l).
	byNumber := one(testSuffix, ldap.ScopeWholeSubtree, fmt.Sprintf("(&(uidNumber=%d)(objectClass=posixAccount))", uid), "uid")
	if byNumber.DN != personDN("CU1234567") {
		t.Fatalf("uidNumber %d is %s", uid, byNumber.DN)
	}
	for _, f := range []string{
		fmt.Sprintf("(uidNumber=%d)", taken),          // held by an account that is gone
		"(&(uidNumber=12)(objectClass=posixAccount))", // out of range
		"(uidNumber=not-a-number)",
	} {
		if res, err := search(c, testSuffix, ldap.ScopeWholeSubtree, f); err != nil || len(res.Entries) != 0 {
			t.Errorf("%s: %v %v", f, dns(res), err)
		}
	}
	// The campus user gets a number too, and the default gid for a
	// category without a group... here staff has one (matched without case).
	jchan := one(testSuffix, ldap.ScopeWholeSubtree, "(&(objectClass=posixAccount)(uid=jchan))", "uidNumber", "gidNumber")
	if jchan.GetAttributeValue("gidNumber") != "20002" || jchan.GetAttributeValue("uidNumber") == strconv.FormatInt(uid, 10) {
		t.Fatalf("jchan: %v", jchan.Attributes)
	}
	e.pin.add("CU7777777", "x-pin-1234567", "alumni")
	if g := one(testSuffix, ldap.ScopeWholeSubtree, "(uid=CU7777777)", "gidNumber").GetAttributeValue("gidNumber"); g != "65534" {
		t.Fatalf("category without a group: gidNumber %s", g)
	}

	// Groups: SSSD's initgroups, nslcd's group by member, getent group.
	groups := func(base string, scope int, filter string) []string {
		t.Helper()
		res, err := search(c, base, scope, filter, "cn", "gidNumber", "memberUid")
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		var out []string
		for _, en := range res.Entries {
			out = append(out, en.GetAttributeValue("cn")+":"+en.GetAttributeValue("gidNumber")+":"+en.GetAttributeValue("memberUid"))
		}
		return out
	}
	for _, tc := range []struct {
		base   string
		scope  int
		filter string
		want   []string
	}{
		{testSuffix, ldap.ScopeWholeSubtree, "(&(memberuid=CU1234567)(objectclass=posixGroup)(cn=*)(&(gidNumber=*)(!(gidNumber=0))))", []string{"julac:20001:CU1234567"}},
		{testSuffix, ldap.ScopeWholeSubtree, "(&(objectClass=posixGroup)(|(memberUid=jchan)(member=" + personDN("jchan") + ")))", []string{"Staff:20002:jchan"}},
		{"ou=groups," + testSuffix, ldap.ScopeSingleLevel, "(&(objectClass=posixGroup)(gidNumber=20002))", []string{"Staff:20002:"}},
		{"ou=groups," + testSuffix, ldap.ScopeWholeSubtree, "(&(objectClass=posixGroup)(cn=julac))", []string{"julac:20001:"}},
		{testSuffix, ldap.ScopeWholeSubtree, "(objectClass=posixGroup)", []string{"Staff:20002:", "julac:20001:"}},
		{testSuffix, ldap.ScopeWholeSubtree, "(&(objectClass=posixGroup)(memberUid=CU7777777))", nil},
		{"cn=julac,ou=groups," + testSuffix, ldap.ScopeBaseObject, "(memberUid=cu1234567)", []string{"julac:20001:cu1234567"}},
	} {
		if got := groups(tc.base, tc.scope, tc.filter); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: %v, want %v", tc.base, tc.filter, got, tc.want)
		}
	}
	// A person bound as itself reads its own POSIX entry, and no group.
	pc := e.dial()
	if err := pc.Bind("CU1234567", "right-pin-123"); err != nil {
		t.Fatal(err)
	}
	if res, err := search(pc, personDN("CU1234567"), ldap.ScopeBaseObject, "(objectClass=posixAccount)", "uidNumber"); err != nil || len(res.Entries) != 1 {
		t.Fatalf("own entry: %v %v", res, err)
	}
	if res, err := search(pc, testSuffix, ldap.ScopeWholeSubtree, "(objectClass=posixGroup)"); err != nil || len(res.Entries) != 0 {
		t.Fatalf("a person lists groups: %v %v", dns(res), err)
	}
}

// TestNoPOSIXView: without [posix], Linux look-ups find nobody, as before.
func TestNoPOSIXView(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"(&(objectClass=posixAccount)(uid=CU1234567))", "(uidNumber=2000000001)", "(&(objectClass=posixGroup)(memberUid=CU1234567))"} {
		if res, err := search(c, testSuffix, ldap.ScopeWholeSubtree, f); err != nil || len(res.Entries) != 0 {
			t.Errorf("%s: %v %v", f, dns(res), err)
		}
	}
	res, err := search(c, personDN("CU1234567"), ldap.ScopeBaseObject, "(objectClass=*)", "*", "+")
	if err != nil || res.Entries[0].GetAttributeValue("uidNumber") != "" {
		t.Fatalf("uidNumber without [posix]: %v", err)
	}
}

// TestPOSIXListing: a listing account's filters on the POSIX attributes
// reach the backends as "maybe" and are decided on the entries, and a
// paged walk puts the groups on its first page only.
func TestPOSIXListing(t *testing.T) {
	p := testPOSIX()
	e, pins, _ := listEnv(t, func(s *Server) { s.POSIX = p })
	c := e.dial()
	if err := c.Bind(serviceDN("sync"), "sync-secret"); err != nil {
		t.Fatal(err)
	}
	res, err := search(c, "ou=people,"+testSuffix, ldap.ScopeWholeSubtree, "(&(objectClass=posixAccount)(gidNumber=20001))", "uidNumber")
	if err != nil || len(res.Entries) != 16 { // the julac patrons
		t.Fatalf("%d entries, %v", len(res.Entries), err)
	}
	for _, en := range res.Entries {
		if en.GetAttributeValue("uidNumber") == "" {
			t.Fatalf("%s has no uidNumber", en.DN)
		}
	}
	q := pins.queries[len(pins.queries)-1]
	if q.Filter.Op != backend.FilterAnd || len(q.Filter.Children) != 2 || q.Filter.Children[0].Op != backend.FilterAnd || len(q.Filter.Children[0].Children) != 0 {
		t.Fatalf("the backend was asked %+v, want (&(&)(&)): both parts maybe", q.Filter)
	}
	res, err = c.SearchWithPaging(ldap.NewSearchRequest(testSuffix, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(|(objectClass=posixAccount)(objectClass=posixGroup))", []string{"cn"}, nil), 10)
	if err != nil {
		t.Fatal(err)
	}
	groups := 0
	for _, en := range res.Entries {
		if strings.HasSuffix(en.DN, ",ou=groups,"+testSuffix) {
			groups++
		}
	}
	if groups != 2 || len(res.Entries) != 33+2 {
		t.Fatalf("paged walk: %d entries, %d groups", len(res.Entries), groups)
	}
}
