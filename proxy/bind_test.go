package proxy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

func TestBindOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		mod      func(*Server)
		prep     func(e *env)
		dn, pw   string
		wantCode int
		wantDiag string
	}{
		{name: "julac DN", dn: personDN("CU1234567"), pw: "right-pin-123"},
		{name: "julac DN lower case ID is normalised", dn: personDN("cu1234567"), pw: "right-pin-123"},
		{name: "bare ID", dn: "CU1234567", pw: "right-pin-123"},
		{name: "UPN", dn: "jchan@example.edu", pw: "portal-pw"},
		{name: "campus upper case", dn: "JCHAN", pw: "portal-pw"},
		{name: "service", dn: serviceDN("ils"), pw: "ils-secret"},
		{name: "service wrong password", dn: serviceDN("ils"), pw: "nope", wantCode: 49},
		{name: "service from a network not allowed", dn: serviceDN("faraway"), pw: "fa-secret", wantCode: 49},
		{name: "unknown service", dn: serviceDN("ghost"), pw: "x", wantCode: 49},
		{name: "wrong PIN", dn: personDN("CU1234567"), pw: "wrong", wantCode: 49, wantDiag: ""},
		{name: "unknown user", dn: personDN("CU7654321"), pw: "whatever", wantCode: 49},
		{name: "no route", dn: personDN("9999"), pw: "whatever", wantCode: 49},
		{name: "group DN", dn: "cn=julac,ou=groups," + testSuffix, pw: "x", wantCode: 49},
		{name: "foreign DN", dn: "uid=x,dc=other", pw: "x", wantCode: 49},
		{name: "empty password", dn: personDN("CU1234567"), pw: "", wantCode: 53, wantDiag: textUnauthBind},
		{name: "anonymous allowed by default", dn: "", pw: ""},
		{name: "anonymous refused", mod: func(s *Server) { s.DisallowAnonymous = true }, dn: "", pw: "", wantCode: 48, wantDiag: textAnonDisallowed},
		{name: "empty name with password", dn: "", pw: "x", wantCode: 49},
		{name: "require TLS", mod: func(s *Server) { s.RequireTLS = true }, dn: personDN("CU1234567"), pw: "right-pin-123", wantCode: 13, wantDiag: textConfidentiality},
		{name: "backend unavailable is 52 never 49", prep: func(e *env) { e.pin.authErr = backend.ErrUnavailable }, dn: "CU1234567", pw: "right-pin-123", wantCode: 52, wantDiag: textUnavailable},
		{name: "backend busy", prep: func(e *env) { e.pin.authErr = backend.ErrBusy }, dn: "CU1234567", pw: "right-pin-123", wantCode: 51},
		{name: "backend other error", prep: func(e *env) { e.pin.authErr = fmt.Errorf("disk on fire") }, dn: "CU1234567", pw: "right-pin-123", wantCode: 80},
		{name: "locked is plain 49", prep: func(e *env) { e.pin.users["CU1234567"].reason = backend.ReasonLocked }, dn: "CU1234567", pw: "right-pin-123", wantCode: 49, wantDiag: ""},
		{name: "AD wrong PIN", mod: func(s *Server) { s.Diagnostics = "ad" }, dn: "CU1234567", pw: "bad", wantCode: 49, wantDiag: "data 52e,"},
		{name: "AD unknown user is 52e", mod: func(s *Server) { s.Diagnostics = "ad" }, dn: "CU0000001", pw: "bad", wantCode: 49, wantDiag: "data 52e,"},
		{name: "AD locked", mod: func(s *Server) { s.Diagnostics = "ad" }, prep: func(e *env) { e.pin.users["CU1234567"].reason = backend.ReasonLocked }, dn: "CU1234567", pw: "right-pin-123", wantCode: 49, wantDiag: "data 775,"},
		{name: "AD suspended", mod: func(s *Server) { s.Diagnostics = "ad" }, prep: func(e *env) { e.pin.users["CU1234567"].reason = backend.ReasonSuspended }, dn: "CU1234567", pw: "right-pin-123", wantCode: 49, wantDiag: "data 533,"},
		{name: "AD expired", mod: func(s *Server) { s.Diagnostics = "ad" }, prep: func(e *env) { e.pin.users["CU1234567"].reason = backend.ReasonExpired }, dn: "CU1234567", pw: "right-pin-123", wantCode: 49, wantDiag: "data 701,"},
		{name: "AD pending", mod: func(s *Server) { s.Diagnostics = "ad" }, prep: func(e *env) { e.pin.users["CU1234567"].reason = backend.ReasonPending }, dn: "CU1234567", pw: "right-pin-123", wantCode: 49, wantDiag: "data 530,"},
		{name: "AD no PIN", mod: func(s *Server) { s.Diagnostics = "ad" }, prep: func(e *env) { e.pin.users["CU1234567"].reason = backend.ReasonNoPIN }, dn: "CU1234567", pw: "right-pin-123", wantCode: 49, wantDiag: "data 773,"},
		{name: "require patron: not a patron", prep: func(e *env) {
			d := *e.srv.Routes()
			d.List = append([]Route(nil), d.List...)
			d.List[1].RequirePatron = e.pin
			e.srv.SetRoutes(&d)
		}, dn: "jchan", pw: "portal-pw", wantCode: 49},
		{name: "require patron: active patron", prep: func(e *env) {
			d := *e.srv.Routes()
			d.List = append([]Route(nil), d.List...)
			d.List[1].RequirePatron = e.pin
			e.pin.patronState = map[string]backend.Reason{"jchan": ""}
			e.srv.SetRoutes(&d)
		}, dn: "jchan", pw: "portal-pw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.mod)
			if tc.prep != nil {
				tc.prep(e)
			}
			c := e.dial()
			_, err := c.SimpleBind(&ldap.SimpleBindRequest{Username: tc.dn, Password: tc.pw, AllowEmptyPassword: true})
			if got := code(err); got != tc.wantCode {
				t.Fatalf("bind %q: code %d (%v), want %d", tc.dn, got, err, tc.wantCode)
			}
			if err != nil {
				var le *ldap.Error
				if !asLDAPError(err, &le) {
					t.Fatalf("not an ldap error: %v", err)
				}
				diag := le.Err.Error()
				if tc.wantDiag == "" && diag != "" && tc.wantCode == 49 {
					t.Errorf("49 diagnostic %q, want empty", diag)
				}
				if !strings.Contains(diag, tc.wantDiag) {
					t.Errorf("diagnostic %q does not contain %q", diag, tc.wantDiag)
				}
			}
		})
	}
}

func asLDAPError(err error, le **ldap.Error) bool {
	e, ok := err.(*ldap.Error)
	if ok {
		*le = e
	}
	return ok
}

func TestSASLThenSimpleBind(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	err := c.ExternalBind()
	if code(err) != 7 {
		t.Fatalf("SASL EXTERNAL: %v, want 7", err)
	}
	if err := c.Bind("CU1234567", "right-pin-123"); err != nil {
		t.Fatalf("simple bind after SASL: %v", err)
	}
}

func TestPanicIsInternalErrorAndConnectionSurvives(t *testing.T) {
	e := newEnv(t, nil)
	e.pin.panicID = "CU6666666"
	c := e.dial()
	if err := c.Bind("CU6666666", "x"); code(err) != 80 {
		t.Fatalf("bind into a panic: %v, want 80", err)
	}
	if err := c.Bind("CU1234567", "right-pin-123"); err != nil {
		t.Fatalf("bind after panic: %v", err)
	}
}

func TestFailedRebindLeavesConnectionAnonymous(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind("CU1234567", "wrong"); code(err) != 49 {
		t.Fatalf("bad bind: %v", err)
	}
	_, err := c.Search(ldap.NewSearchRequest(testSuffix, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(uid=CU1234567)", nil, nil))
	if code(err) != 50 {
		t.Fatalf("search after failed bind: %v, want 50", err)
	}
	who, err := c.WhoAmI(nil)
	if err != nil {
		t.Fatal(err)
	}
	if who.AuthzID != "" {
		t.Fatalf("whoami after failed bind: %q, want empty", who.AuthzID)
	}
}

func TestWhoAmI(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	for _, tc := range []struct{ dn, pw, want string }{
		{"cu1234567", "right-pin-123", "dn:" + personDN("CU1234567")},
		{serviceDN("ils"), "ils-secret", "dn:" + serviceDN("ils")},
	} {
		if err := c.Bind(tc.dn, tc.pw); err != nil {
			t.Fatal(err)
		}
		who, err := c.WhoAmI(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(who.AuthzID, tc.want) {
			t.Errorf("whoami %q, want %q", who.AuthzID, tc.want)
		}
	}
}

func TestThousandBindsOnOneConnection(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	for i := range 1000 {
		pw := "right-pin-123"
		want := 0
		if i%3 == 1 {
			pw, want = "wrong", 49
		}
		if err := c.Bind("CU1234567", pw); code(err) != want {
			t.Fatalf("bind %d: %v, want %d", i, err, want)
		}
	}
}

func TestMustChangeSession(t *testing.T) {
	e := newEnv(t, nil)
	e.pin.users["CU1234567"].mustChange = true
	c := e.dial()
	res, err := c.SimpleBind(&ldap.SimpleBindRequest{
		Username: "CU1234567", Password: "right-pin-123",
		Controls: []ldap.Control{ldap.NewControlBeheraPasswordPolicy()},
	})
	if err != nil {
		t.Fatalf("must-change bind: %v", err)
	}
	ctl, ok := ldap.FindControl(res.Controls, ldap.ControlTypeBeheraPasswordPolicy).(*ldap.ControlBeheraPasswordPolicy)
	if !ok || ctl.Error != 2 {
		t.Fatalf("ppolicy control %+v, want changeAfterReset", res.Controls)
	}
	// nslcd's pam_authc_search BASE: the own entry, scope base, may be read.
	own, err := c.Search(ldap.NewSearchRequest(personDN("cu1234567"), ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", []string{"uid"}, nil))
	if err != nil || len(own.Entries) != 1 || own.Entries[0].GetAttributeValue("uid") != "CU1234567" {
		t.Fatalf("own entry in must-change session: %v %v", own, err)
	}
	// Nothing else: another entry, the own entry below a subtree, the Root DSE.
	for _, req := range []*ldap.SearchRequest{
		ldap.NewSearchRequest(personDN("CITYU5012345"), ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil),
		ldap.NewSearchRequest(personDN("CU1234567"), ldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", nil, nil),
		ldap.NewSearchRequest("ou=people,"+testSuffix, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(uid=CU1234567)", nil, nil),
		ldap.NewSearchRequest("", ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil),
	} {
		if _, err := c.Search(req); code(err) != 50 || !strings.Contains(err.Error(), textRestricted) {
			t.Fatalf("search %s scope %d in must-change session: %v", req.BaseDN, req.Scope, err)
		}
	}
	if _, err := c.WhoAmI(nil); code(err) != 50 {
		t.Fatalf("whoami in must-change session: %v", err)
	}
	mod := ldap.NewModifyRequest(personDN("CU1234567"), nil)
	mod.Replace("mail", []string{"x@y"})
	if err := c.Modify(mod); code(err) != 50 {
		t.Fatalf("modify in must-change session: %v", err)
	}
	if _, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", "right-pin-123", "new-pin-12345")); err != nil {
		t.Fatalf("password modify: %v", err)
	}
	if _, err := c.WhoAmI(nil); err != nil {
		t.Fatalf("whoami after the change: %v", err)
	}
	// Without the control, no control comes back.
	e.pin.users["CU1234567"].mustChange = true
	res, err = c.SimpleBind(&ldap.SimpleBindRequest{Username: "CU1234567", Password: "new-pin-12345"})
	if err != nil || len(res.Controls) != 0 {
		t.Fatalf("bind without ppolicy: %v %v", err, res)
	}
}

func TestLockedWithRevealLockout(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.RevealLockout = true })
	e.pin.users["CU1234567"].reason = backend.ReasonLocked
	c := e.dial()
	_, err := c.SimpleBind(&ldap.SimpleBindRequest{
		Username: "CU1234567", Password: "right-pin-123",
		Controls: []ldap.Control{ldap.NewControlBeheraPasswordPolicy()},
	})
	if code(err) != 49 {
		t.Fatalf("locked bind: %v", err)
	}
	// go-ldap drops the response controls of a failed bind, so check the
	// encoding path through a raw connection instead.
	r := dialRaw(t, e.addr)
	r.send(rawBind(1, "CU1234567", "right-pin-123", ppolicyRequestControl()))
	p := r.read()
	if got := resultCode(p); got != 49 {
		t.Fatalf("raw locked bind: %d", got)
	}
	ctl, err := responsePpolicy(p)
	if err != nil || ctl.Error != 1 {
		t.Fatalf("ppolicy on the locked 49: %+v %v, want accountLocked", ctl, err)
	}
	// Without RevealLockout, nothing.
	e2 := newEnv(t, nil)
	e2.pin.users["CU1234567"].reason = backend.ReasonLocked
	r = dialRaw(t, e2.addr)
	r.send(rawBind(2, "CU1234567", "right-pin-123", ppolicyRequestControl()))
	if _, err := responsePpolicy(r.read()); err == nil {
		t.Fatal("ppolicy control without RevealLockout")
	}
}

// TestPasswordsStayAsSent: the password a backend is given shares the
// request's bytes (sharedPassword); a backend may keep it past the bind
// (a call that outlives a client that hung up), so the later requests of
// the connection must not change it.
func TestPasswordsStayAsSent(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	var sent []string
	for i := range 20 {
		pw := fmt.Sprintf("pw-%02d-%s", i, strings.Repeat("x", i))
		sent = append(sent, pw)
		if err := c.Bind(personDN("CU1234567"), pw); code(err) != 49 {
			t.Fatalf("bind %d: %v", i, err)
		}
	}
	e.pin.mu.Lock()
	got := append([]string(nil), e.pin.passwords...)
	e.pin.mu.Unlock()
	if len(got) != len(sent) {
		t.Fatalf("backend saw %d passwords, want %d", len(got), len(sent))
	}
	for i := range sent {
		if got[i] != sent[i] {
			t.Errorf("password %d is now %q, sent %q", i, got[i], sent[i])
		}
	}
}
