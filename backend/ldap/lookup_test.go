package ldapbackend

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/bindery/bindery/internal/slapdtest"
	"github.com/go-ldap/ldap/v3"
)

// admin opens a connection to s bound as its rootdn, for changing the
// directory under the backend's feet.
func admin(t *testing.T, s *slapdtest.Server) *ldap.Conn {
	t.Helper()
	l, err := ldap.DialURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Bind(s.AdminDN(), s.AdminPassword()); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLookupsSaveTheSearch(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	b := newBackend(t, Config{URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW, LookupTTL: time.Minute})
	if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
		t.Fatalf("first login: ok=%v err=%v", ok, err)
	}
	// With searches impossible, a remembered person still logs in (one
	// bind) and the directory still judges the password.
	b.service.close()
	res, ok, err := auth(b, "jchan", jchanPW)
	if !ok || err != nil || res.Entry.CommonName != "Jackie Chan" {
		t.Fatalf("login with the DN remembered and no searches: ok=%v err=%v entry=%+v", ok, err, res.Entry)
	}
	// A wrong password needs a search (is the DN stale?), which now fails:
	// unavailable, never a 49 it cannot be sure of.
	_, ok, err = auth(b, "jchan", "wrong")
	if ok {
		t.Fatal("wrong password accepted")
	}
	wantUnavailable(t, err)
	// Someone never seen needs the search.
	_, _, err = auth(b, "u3551234", "another#PIN9")
	wantUnavailable(t, err)
}

func TestLookupsWithoutTTLSearchEveryTime(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	b := newBackend(t, Config{URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW})
	if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
		t.Fatalf("first login: ok=%v err=%v", ok, err)
	}
	b.service.close()
	_, _, err := auth(b, "jchan", jchanPW)
	wantUnavailable(t, err)
}

func TestLookupsFollowDirectoryChanges(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	b := newBackend(t, Config{URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW, LookupTTL: time.Hour})
	l := admin(t, s)
	if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
		t.Fatalf("first login: ok=%v err=%v", ok, err)
	}

	// Moved to another branch: the remembered DN fails, a new search
	// finds the person, the right password still works.
	if err := l.Add(&ldap.AddRequest{DN: "ou=alumni," + slapdtest.BaseDN, Attributes: []ldap.Attribute{
		{Type: "objectClass", Vals: []string{"organizationalUnit"}}, {Type: "ou", Vals: []string{"alumni"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.ModifyDN(ldap.NewModifyDNRequest("uid=jchan,"+slapdtest.PeopleDN, "uid=jchan", true, "ou=alumni,"+slapdtest.BaseDN)); err != nil {
		t.Fatal(err)
	}
	res, ok, err := auth(b, "jchan", jchanPW)
	if !ok || err != nil {
		t.Fatalf("login after the entry moved: ok=%v err=%v reason=%q", ok, err, res.Reason)
	}
	if dn, _, known := b.known.get("jchan"); !known || dn != "uid=jchan,ou=alumni,"+slapdtest.BaseDN {
		t.Fatalf("remembered DN = %q (known %v), want the new one", dn, known)
	}

	// A password changed upstream takes effect at once.
	mod := ldap.NewModifyRequest("uid=jchan,ou=alumni,"+slapdtest.BaseDN, nil)
	mod.Replace("userPassword", []string{"new-campus-PW1"})
	if err := l.Modify(mod); err != nil {
		t.Fatal(err)
	}
	res, ok, err = auth(b, "jchan", jchanPW)
	wantRefused(t, res, ok, err, backend.ReasonBadCredentials)
	if _, ok, err := auth(b, "jchan", "new-campus-PW1"); !ok || err != nil {
		t.Fatalf("new upstream password: ok=%v err=%v", ok, err)
	}

	// Deleted: refused as unknown, and forgotten.
	if err := l.Del(ldap.NewDelRequest("uid=jchan,ou=alumni,"+slapdtest.BaseDN, nil)); err != nil {
		t.Fatal(err)
	}
	res, ok, err = auth(b, "jchan", "new-campus-PW1")
	wantRefused(t, res, ok, err, backend.ReasonUnknownUser)
	if _, _, known := b.known.get("jchan"); known {
		t.Fatal("a deleted person's DN is still remembered")
	}
}

func TestLookupsExpireAndStayBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newLookups(time.Minute, 2)
	l.now = func() time.Time { return now }
	e := &backend.Entry{ID: "a"}
	l.add("a", "uid=a", e)
	l.add("b", "uid=b", e)
	l.add("c", "uid=c", e)
	if _, _, ok := l.get("a"); ok {
		t.Error("the least recently used of 3 in a 2-entry memory is still there")
	}
	if dn, _, ok := l.get("c"); !ok || dn != "uid=c" {
		t.Errorf("get(c) = %q, %v", dn, ok)
	}
	now = now.Add(time.Minute)
	if _, _, ok := l.get("c"); ok {
		t.Error("an entry as old as the ttl is still served")
	}
	off := newLookups(0, 100)
	off.add("a", "uid=a", e)
	if _, _, ok := off.get("a"); ok {
		t.Error("lookup_ttl 0 remembers")
	}
}

// TestSweepNeutralizesIdleBindConnections: without anyone calling
// neutralize, the backend's own sweep rebinds an idle bind connection
// anonymously within a few seconds of a login.
func TestSweepNeutralizesIdleBindConnections(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	b := newBackend(t, Config{URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW})
	if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
		t.Fatalf("login: ok=%v err=%v", ok, err)
	}
	userBound := func() bool {
		b.binds.mu.Lock()
		defer b.binds.mu.Unlock()
		for _, c := range b.binds.idle {
			if c.asUser {
				return true
			}
		}
		return false
	}
	if !userBound() {
		t.Fatal("no idle bind connection holds the user right after the login")
	}
	waitFor(t, "the sweep to rebind the idle connection", func() bool { return !userBound() })
	c, err := b.binds.get(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	who, err := whoAmI(c)
	b.binds.put(c)
	if err != nil || who != "" {
		t.Fatalf("identity after the sweep = %q, %v; want anonymous", who, err)
	}
}

// TestIdleAlive: an idle connection is usable until the server closes it
// or sends something unasked (a Notice of Disconnection).
func TestIdleAlive(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dialed := func() (*conn, net.Conn) {
		t.Helper()
		raw, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		srv, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close(); srv.Close() })
		return &conn{nc: raw, raw: raw, r: bufio.NewReader(raw)}, srv
	}

	c, _ := dialed()
	if !c.idleAlive() {
		t.Error("a quiet open connection is not alive")
	}
	c, srv := dialed()
	srv.Close()
	waitFor(t, "a connection the server closed to look dead", func() bool { return !c.idleAlive() })
	c, srv = dialed()
	if _, err := srv.Write(ldapwire.AppendNoticeOfDisconnection(nil, 52, "bye")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a connection with an unasked message to look dead", func() bool { return !c.idleAlive() })
}
