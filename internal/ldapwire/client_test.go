package ldapwire

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// TestClientBind decodes go-ldap's simple binds and checks the client's view
// of the BindResponse we encode.
func TestClientBind(t *testing.T) {
	tests := []struct {
		name     string
		dn, pw   string
		controls []ldap.Control
		res      Result
		resCtl   []Control
		wantCode int
		wantPP   *ldap.ControlBeheraPasswordPolicy // expected client-side control
	}{
		{name: "success", dn: "uid=CU1234567,ou=people,dc=library,dc=example,dc=edu", pw: "s3cret-PIN#1",
			res: Result{Code: 0}},
		{name: "invalid credentials", dn: "jchan", pw: "wrong",
			res: Result{Code: 49, DiagnosticMessage: "80090308: LdapErr: DSID-0C09044E, data 52e, v4563"}, wantCode: 49},
		{name: "unwilling", dn: "uid=x,ou=people,dc=library,dc=example,dc=edu", pw: "p",
			res: Result{Code: 53, MatchedDN: "ou=people,dc=library,dc=example,dc=edu", DiagnosticMessage: "unauthenticated bind (DN with no password) disallowed"}, wantCode: 53},
		{name: "must change", dn: "u3551234", pw: "otp-12345678",
			controls: []ldap.Control{ldap.NewControlBeheraPasswordPolicy()},
			res:      Result{Code: 0}, resCtl: []Control{PpolicyResponseControl(PpolicyChangeAfterReset, -1, -1)},
			wantPP: &ldap.ControlBeheraPasswordPolicy{Expire: -1, Grace: -1, Error: PpolicyChangeAfterReset, ErrorString: "Password must be changed"}},
		{name: "expiry warning", dn: "u3551234", pw: "pin-12345678",
			controls: []ldap.Control{ldap.NewControlBeheraPasswordPolicy()},
			res:      Result{Code: 0}, resCtl: []Control{PpolicyResponseControl(PpolicyNone, 86400, -1)},
			wantPP: &ldap.ControlBeheraPasswordPolicy{Expire: 86400, Grace: -1, Error: -1}},
		{name: "long password and dn", dn: "uid=" + strings.Repeat("a", 300) + ",ou=people,dc=x", pw: strings.Repeat("p", 1000),
			res: Result{Code: 49, DiagnosticMessage: strings.Repeat("d", 500)}, wantCode: 49},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, s := newPipe(t)
			req := ldap.NewSimpleBindRequest(tc.dn, tc.pw, tc.controls)
			ch := async(func() (*ldap.SimpleBindResult, error) { return l.SimpleBind(req) })
			m, _ := s.read()
			b, ok := m.Op.(*BindRequest)
			if !ok {
				t.Fatalf("op = %T", m.Op)
			}
			if b.Version != 3 || b.Name != tc.dn || string(b.Password) != tc.pw || !b.Simple || b.AuthMethod != AuthSimple {
				t.Fatalf("bind = %+v", b)
			}
			if len(tc.controls) > 0 {
				if _, ok := FindControl(m.Controls, OIDPasswordPolicy); !ok {
					t.Fatalf("controls = %+v", m.Controls)
				}
			}
			s.write(AppendBindResponse(nil, m.ID, tc.res, tc.resCtl))
			res, err := wait(t, ch)
			if got := ldapCode(err); got != tc.wantCode {
				t.Fatalf("code = %d (%v), want %d", got, err, tc.wantCode)
			}
			if tc.wantCode != 0 && !strings.Contains(err.Error(), tc.res.DiagnosticMessage) {
				t.Fatalf("error %q lacks diagnostic %q", err, tc.res.DiagnosticMessage)
			}
			if tc.wantPP != nil {
				if res == nil || len(res.Controls) != 1 {
					t.Fatalf("result controls = %+v", res)
				}
				pp, ok := res.Controls[0].(*ldap.ControlBeheraPasswordPolicy)
				if !ok {
					t.Fatalf("control = %T", res.Controls[0])
				}
				if !reflect.DeepEqual(pp, tc.wantPP) {
					t.Fatalf("ppolicy = %+v, want %+v", pp, tc.wantPP)
				}
			}
		})
	}
}

// TestClientSearch decodes go-ldap's search requests, filters included, and
// serves entries and done in one write.
func TestClientSearch(t *testing.T) {
	filters := []struct{ in, want string }{
		{"(&(objectClass=person)(uid=CU1234567))", ""},
		{"(uid=*)", ""},
		{"(cn=J*n*Chan)", ""},
		{"(cn=*chan)", ""},
		{"(cn=jo*)", ""},
		{"(|(uid=a)(!(uid=b))(mail=x@y))", ""},
		{"(age>=10)", ""},
		{"(age<=10)", ""},
		{"(cn~=jon)", ""},
		{"(cn:dn:2.5.13.5:=John)", ""},
		{"(:dn:2.5.13.5:=John)", ""},
		{"(uid=x\\29\\28uid=\\2a)", ""},
		{"(cn=\\e9\\99\\b3)", ""},
		{"(cn=陳)", "(cn=\\e9\\99\\b3)"},
		{"(&)", ""},
		{"(|)", ""},
	}
	for _, f := range filters {
		t.Run(f.in, func(t *testing.T) {
			l, s := newPipe(t)
			sr := ldap.NewSearchRequest("ou=people,dc=library,dc=example,dc=edu", ldap.ScopeWholeSubtree,
				ldap.DerefAlways, 7, 30, false, f.in, []string{"uid", "cn", "memberOf"}, nil)
			ch := async(func() (*ldap.SearchResult, error) { return l.Search(sr) })
			m, _ := s.read()
			q, ok := m.Op.(*SearchRequest)
			if !ok {
				t.Fatalf("op = %T", m.Op)
			}
			want := f.want
			if want == "" {
				want = f.in
			}
			if q.FilterString != want {
				t.Fatalf("filter = %q, want %q", q.FilterString, want)
			}
			if q.Filter == nil || q.BaseDN != sr.BaseDN || q.Scope != ScopeSub || q.DerefAliases != 3 ||
				q.SizeLimit != 7 || q.TimeLimit != 30 || q.TypesOnly || !reflect.DeepEqual(q.Attributes, sr.Attributes) {
				t.Fatalf("search = %+v", q)
			}
			var out []byte
			out = AppendSearchEntry(out, m.ID, "uid=CU1234567,ou=people,dc=library,dc=example,dc=edu", []Attribute{
				{Type: "uid", Values: []string{"CU1234567"}},
				{Type: "cn", Values: []string{"Chan Tai Man", "陳大文"}},
				{Type: "memberOf", Values: []string{"cn=julac,ou=groups,dc=library,dc=example,dc=edu"}},
				{Type: "empty"},
			}, nil)
			out = AppendSearchEntry(out, m.ID, "uid=big,ou=people", []Attribute{{Type: "description", Values: []string{strings.Repeat("x", 70000)}}}, nil)
			out = AppendSearchDone(out, m.ID, Result{}, nil)
			s.write(out)
			res, err := wait(t, ch)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Entries) != 2 {
				t.Fatalf("entries = %d", len(res.Entries))
			}
			e := res.Entries[0]
			if e.DN != "uid=CU1234567,ou=people,dc=library,dc=example,dc=edu" ||
				!reflect.DeepEqual(e.GetAttributeValues("cn"), []string{"Chan Tai Man", "陳大文"}) ||
				e.GetAttributeValue("uid") != "CU1234567" || len(e.Attributes) != 4 || len(e.GetAttributeValues("empty")) != 0 {
				t.Fatalf("entry = %+v", e)
			}
			if got := res.Entries[1].GetAttributeValue("description"); len(got) != 70000 {
				t.Fatalf("big value length %d", len(got))
			}
		})
	}
}

// TestClientSearchTypesOnly checks the typesOnly flag and typesOnly entries.
func TestClientSearchTypesOnly(t *testing.T) {
	l, s := newPipe(t)
	sr := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, true, "(objectClass=*)", nil, nil)
	ch := async(func() (*ldap.SearchResult, error) { return l.Search(sr) })
	m, _ := s.read()
	q := m.Op.(*SearchRequest)
	if !q.TypesOnly || q.Scope != ScopeBase || q.BaseDN != "" || len(q.Attributes) != 0 {
		t.Fatalf("search = %+v", q)
	}
	out := AppendSearchEntryTypesOnly(nil, m.ID, "", []Attribute{{Type: "namingContexts", Values: []string{"dc=x"}}}, nil)
	out = AppendSearchDone(out, m.ID, Result{}, nil)
	s.write(out)
	res, err := wait(t, ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || len(res.Entries[0].Attributes) != 1 || res.Entries[0].Attributes[0].Name != "namingContexts" ||
		len(res.Entries[0].Attributes[0].Values) != 0 {
		t.Fatalf("entries = %+v", res.Entries[0])
	}
}

// TestClientSearchDoneError checks a failing search as the client sees it.
func TestClientSearchDoneError(t *testing.T) {
	l, s := newPipe(t)
	sr := ldap.NewSearchRequest("dc=x", ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, "(uid=a)", nil, nil)
	ch := async(func() (*ldap.SearchResult, error) { return l.Search(sr) })
	m, _ := s.read()
	if q := m.Op.(*SearchRequest); q.Scope != ScopeOne {
		t.Fatalf("scope = %d", q.Scope)
	}
	msg := "Operations are restricted to bind/unbind/abandon/StartTLS/modify password"
	s.write(AppendSearchDone(nil, m.ID, Result{Code: 50, DiagnosticMessage: msg}, nil))
	_, err := wait(t, ch)
	if ldapCode(err) != 50 || !strings.Contains(err.Error(), msg) {
		t.Fatalf("err = %v", err)
	}
}

// TestClientPaging runs go-ldap's SearchWithPaging against paged responses.
func TestClientPaging(t *testing.T) {
	l, s := newPipe(t)
	sr := ldap.NewSearchRequest("ou=people,dc=x", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=person)", []string{"uid"}, nil)
	ch := async(func() (*ldap.SearchResult, error) { return l.SearchWithPaging(sr, 2) })
	pages := [][]string{{"a", "b"}, {"c"}}
	cookies := [][]byte{[]byte("page-2"), nil}
	var wantCookie []byte
	for i, page := range pages {
		m, _ := s.read()
		c, ok := FindControl(m.Controls, OIDPagedResults)
		if !ok || !c.HasValue {
			t.Fatalf("page %d: controls = %+v", i, m.Controls)
		}
		size, cookie, err := DecodePagedResults(c.Value)
		if err != nil || size != 2 || !bytes.Equal(cookie, wantCookie) {
			t.Fatalf("page %d: size=%d cookie=%q err=%v", i, size, cookie, err)
		}
		var out []byte
		for _, uid := range page {
			out = AppendSearchEntry(out, m.ID, "uid="+uid+",ou=people,dc=x", []Attribute{{Type: "uid", Values: []string{uid}}}, nil)
		}
		out = AppendSearchDone(out, m.ID, Result{}, []Control{PagedResultsControl(0, cookies[i])})
		s.write(out)
		wantCookie = cookies[i]
	}
	res, err := wait(t, ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 3 || res.Entries[2].GetAttributeValue("uid") != "c" {
		t.Fatalf("entries = %d", len(res.Entries))
	}
}

// TestClientCompare decodes a Compare and answers compareTrue/False.
func TestClientCompare(t *testing.T) {
	for _, code := range []int{6, 5} {
		l, s := newPipe(t)
		group := "cn=julac,ou=groups,dc=library,dc=example,dc=edu"
		ch := async(func() (bool, error) { return l.Compare("uid=a,ou=people,dc=x", "memberOf", group) })
		m, _ := s.read()
		c, ok := m.Op.(*CompareRequest)
		if !ok || c.DN != "uid=a,ou=people,dc=x" || c.Attr != "memberOf" || string(c.Value) != group {
			t.Fatalf("compare = %+v", m.Op)
		}
		s.write(AppendCompareResponse(nil, m.ID, Result{Code: code}, nil))
		ok, err := wait(t, ch)
		if err != nil || ok != (code == 6) {
			t.Fatalf("compare: %v %v", ok, err)
		}
	}
}

// TestClientExtended covers WhoAmI, Password Modify and StartTLS.
func TestClientExtended(t *testing.T) {
	t.Run("whoami", func(t *testing.T) {
		l, s := newPipe(t)
		ch := async(func() (*ldap.WhoAmIResult, error) { return l.WhoAmI(nil) })
		m, _ := s.read()
		e, ok := m.Op.(*ExtendedRequest)
		if !ok || e.OID != OIDWhoAmI || e.HasValue {
			t.Fatalf("op = %+v", m.Op)
		}
		s.write(AppendExtendedResponse(nil, m.ID, Result{}, "", []byte("dn:uid=a,ou=people,dc=x"), true, nil))
		res, err := wait(t, ch)
		if err != nil || res.AuthzID != "dn:uid=a,ou=people,dc=x" {
			t.Fatalf("whoami = %+v, %v", res, err)
		}
	})
	pm := []struct {
		name               string
		user, old, new     string
		res                Result
		gen                string
		wantCode           int
		wantHasU, wantHasO bool
	}{
		{name: "generated", user: "uid=a,ou=people,dc=x", old: "oldPIN-123456", new: "", gen: "newGEN-998877", wantHasU: true, wantHasO: true},
		{name: "self change", old: "oldPIN-123456", new: "newPIN-654321", wantHasO: true},
		{name: "quality", user: "u1", new: "short", res: Result{Code: 19, DiagnosticMessage: "Password fails quality checking policy"}, wantCode: 19, wantHasU: true},
	}
	for _, tc := range pm {
		t.Run("passwd "+tc.name, func(t *testing.T) {
			l, s := newPipe(t)
			ch := async(func() (*ldap.PasswordModifyResult, error) {
				return l.PasswordModify(ldap.NewPasswordModifyRequest(tc.user, tc.old, tc.new))
			})
			m, _ := s.read()
			e, ok := m.Op.(*ExtendedRequest)
			if !ok || e.OID != OIDPasswordModify || !e.HasValue {
				t.Fatalf("op = %+v", m.Op)
			}
			p, err := DecodePasswordModify(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			if p.UserIdentity != tc.user || p.HasUserIdentity != tc.wantHasU || string(p.OldPassword) != tc.old ||
				p.HasOld != tc.wantHasO || string(p.NewPassword) != tc.new || p.HasNew != (tc.new != "") {
				t.Fatalf("password modify = %+v", p)
			}
			var val []byte
			if tc.res.Code == 0 {
				val = PasswordModifyResponseValue(tc.gen)
			}
			s.write(AppendExtendedResponse(nil, m.ID, tc.res, "", val, val != nil, nil))
			res, err := wait(t, ch)
			if ldapCode(err) != tc.wantCode {
				t.Fatalf("err = %v", err)
			}
			if tc.wantCode == 0 && res.GeneratedPassword != tc.gen {
				t.Fatalf("generated = %q", res.GeneratedPassword)
			}
		})
	}
	t.Run("starttls refused", func(t *testing.T) {
		l, s := newPipe(t)
		ch := async0(func() error { return l.StartTLS(nil) })
		m, _ := s.read()
		e, ok := m.Op.(*ExtendedRequest)
		if !ok || e.OID != OIDStartTLS || e.HasValue {
			t.Fatalf("op = %+v", m.Op)
		}
		s.write(AppendExtendedResponse(nil, m.ID, Result{Code: 2, DiagnosticMessage: "unsupported"}, OIDStartTLS, nil, false, nil))
		_, err := wait(t, ch)
		if ldapCode(err) != 2 {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestClientUnsupported decodes write operations and answers them.
func TestClientUnsupported(t *testing.T) {
	dn := "uid=a,ou=people,dc=x"
	tests := []struct {
		name    string
		call    func(l *ldap.Conn) error
		tag     int
		respTag int
	}{
		{"modify", func(l *ldap.Conn) error {
			r := ldap.NewModifyRequest(dn, nil)
			r.Replace("mail", []string{"a@b"})
			return l.Modify(r)
		}, TagModifyRequest, TagModifyResponse},
		{"add", func(l *ldap.Conn) error {
			r := ldap.NewAddRequest(dn, nil)
			r.Attribute("objectClass", []string{"person"})
			return l.Add(r)
		}, TagAddRequest, TagAddResponse},
		{"delete", func(l *ldap.Conn) error { return l.Del(ldap.NewDelRequest(dn, nil)) }, TagDelRequest, TagDelResponse},
		{"modrdn", func(l *ldap.Conn) error {
			return l.ModifyDN(ldap.NewModifyDNRequest(dn, "uid=b", true, ""))
		}, TagModifyDNRequest, TagModifyDNResponse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, s := newPipe(t)
			ch := async0(func() error { return tc.call(l) })
			m, _ := s.read()
			u, ok := m.Op.(*UnsupportedRequest)
			if !ok || u.Tag != tc.tag || u.ResponseTag != tc.respTag || u.DN != dn {
				t.Fatalf("op = %+v", m.Op)
			}
			s.write(AppendResult(nil, m.ID, u.ResponseTag, Result{Code: 53, DiagnosticMessage: "read-only"}, nil))
			_, err := wait(t, ch)
			if ldapCode(err) != 53 {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestClientExternalBindAndUnbind covers a SASL bind and Unbind from go-ldap.
func TestClientExternalBindAndUnbind(t *testing.T) {
	l, s := newPipe(t)
	ch := async0(l.ExternalBind)
	m, _ := s.read()
	b, ok := m.Op.(*BindRequest)
	if !ok || b.Simple || b.AuthMethod != AuthSASL || b.SASLMechanism != "EXTERNAL" {
		t.Fatalf("op = %+v", m.Op)
	}
	s.write(AppendBindResponse(nil, m.ID, Result{Code: 7, DiagnosticMessage: "SASL mechanism not supported"}, nil))
	if _, err := wait(t, ch); ldapCode(err) != 7 {
		t.Fatalf("err = %v", err)
	}
	ch = async0(l.Unbind)
	m, _ = s.read()
	if _, ok := m.Op.(*UnbindRequest); !ok {
		t.Fatalf("op = %T", m.Op)
	}
	if _, err := wait(t, ch); err != nil {
		t.Fatal(err)
	}
}

// clientSeeds returns the raw bytes of requests written by go-ldap, for the
// fuzz corpus and the benchmarks.
func clientSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	l, s := newPipe(t)
	capture := func(name string, call func() error, resp func(id int64) []byte) {
		ch := async0(call)
		m, raw := s.read()
		seeds[name] = raw
		s.write(resp(m.ID))
		wait(t, ch)
	}
	bindOK := func(id int64) []byte { return AppendBindResponse(nil, id, Result{}, nil) }
	capture("bind", func() error {
		_, err := l.SimpleBind(ldap.NewSimpleBindRequest("uid=CU1234567,ou=people,dc=library,dc=example,dc=edu", "s3cret-PIN#1", nil))
		return err
	}, bindOK)
	capture("bind-ppolicy", func() error {
		_, err := l.SimpleBind(ldap.NewSimpleBindRequest("jchan", "pw", []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}))
		return err
	}, bindOK)
	capture("bind-sasl", l.ExternalBind, bindOK)
	capture("search", func() error {
		_, err := l.Search(ldap.NewSearchRequest("dc=library,dc=example,dc=edu", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(&(objectClass=person)(|(uid=CU1234567)(cn=J*n*)(!(age>=3))(cn:dn:2.5.13.5:=x)))", []string{"uid", "cn"},
			[]ldap.Control{ldap.NewControlPaging(100)}))
		return err
	}, func(id int64) []byte { return AppendSearchDone(nil, id, Result{}, nil) })
	capture("compare", func() error {
		_, err := l.Compare("uid=a,ou=people,dc=x", "memberOf", "cn=julac,ou=groups,dc=x")
		return err
	}, func(id int64) []byte { return AppendCompareResponse(nil, id, Result{Code: 6}, nil) })
	capture("passwd", func() error {
		_, err := l.PasswordModify(ldap.NewPasswordModifyRequest("u1", "old-PIN-1234", "new-PIN-5678"))
		return err
	}, func(id int64) []byte { return AppendExtendedResponse(nil, id, Result{}, "", nil, false, nil) })
	capture("whoami", func() error { _, err := l.WhoAmI(nil); return err },
		func(id int64) []byte { return AppendExtendedResponse(nil, id, Result{}, "", nil, false, nil) })
	capture("delete", func() error { return l.Del(ldap.NewDelRequest("uid=a,dc=x", nil)) },
		func(id int64) []byte { return AppendResult(nil, id, TagDelResponse, Result{Code: 53}, nil) })
	seeds["abandon"] = handAbandon(5, 3)
	return seeds
}
