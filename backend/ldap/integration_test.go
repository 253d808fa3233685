package ldapbackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/bindery/bindery/internal/slapdtest"
	"github.com/google/uuid"
)

const (
	jchanPW   = "s3cret-PIN"
	servicePW = "service-secret"
	serviceDN = "cn=bindery,ou=services," + slapdtest.BaseDN
)

var people = []slapdtest.User{
	{UID: "jchan", CN: "Jackie Chan", SN: "Chan", GivenName: "Jackie", Mail: "jchan@example.org", EmployeeType: "staff", Password: jchanPW},
	{UID: "u3551234", CN: "Wing Lee", SN: "Lee", GivenName: "Wing", Mail: "u3551234@example.org", EmployeeType: "student", Password: "another#PIN9"},
	{UID: "dup", Password: "dup-password-1"},
	{UID: "nopw"},
}

// fixture: people, a second OU with another "dup", and a service account.
func fixture() string {
	return slapdtest.PeopleLDIF(people) +
		slapdtest.OULDIF("staff", slapdtest.BaseDN) +
		slapdtest.UserLDIF("ou=staff,"+slapdtest.BaseDN, slapdtest.User{UID: "dup", Password: "dup-password-2"}) +
		slapdtest.OULDIF("services", slapdtest.BaseDN) +
		"dn: " + serviceDN + "\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: bindery\n" +
		"userPassword: " + slapdtest.SSHA(servicePW) + "\n\n"
}

// startSlapd starts a server with the fixture; parallel tests each get one.
func startSlapd(t *testing.T, tls bool) *slapdtest.Server {
	t.Helper()
	return slapdtest.Start(t, slapdtest.Options{LDIF: fixture(), TLS: tls})
}

func newBackend(t *testing.T, cfg Config) *Backend {
	t.Helper()
	if cfg.BaseDN == "" && cfg.DNTemplate == "" {
		cfg.BaseDN = slapdtest.BaseDN
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func auth(b *Backend, id, pw string) (backend.Result, bool, error) {
	return b.Authenticate(context.Background(), backend.Credentials{ID: id, Password: pw, ClientAddr: "127.0.0.1:1"})
}

// wantRefused fails unless the result is ok=false, err=nil with reason.
func wantRefused(t *testing.T, res backend.Result, ok bool, err error, reason backend.Reason) {
	t.Helper()
	if err != nil || ok || res.Entry != nil {
		t.Fatalf("got ok=%v entry=%v err=%v, want a refusal", ok, res.Entry, err)
	}
	if res.Reason != reason {
		t.Fatalf("reason %q, want %q", res.Reason, reason)
	}
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("err = %v, want one wrapping backend.ErrUnavailable", err)
	}
}

func TestAuthenticateSearchThenBind(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	modes := map[string]Config{
		"anonymous search": {URLs: []string{s.URL()}},
		"service account":  {URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW},
		"rootdn":           {URLs: []string{s.URL()}, BindDN: s.AdminDN(), BindPassword: s.AdminPassword()},
		"dn template":      {URLs: []string{s.URL()}, DNTemplate: "uid={id}," + slapdtest.PeopleDN},
		"lookup_ttl":       {URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW, LookupTTL: time.Minute},
		"dn template, lookup_ttl": {URLs: []string{s.URL()}, DNTemplate: "uid={id}," + slapdtest.PeopleDN,
			LookupTTL: time.Minute},
	}
	for name, cfg := range modes {
		t.Run(name, func(t *testing.T) {
			b := newBackend(t, cfg)
			res, ok, err := auth(b, "jchan", jchanPW)
			if err != nil || !ok {
				t.Fatalf("right password: ok=%v err=%v reason=%q", ok, err, res.Reason)
			}
			e := res.Entry
			if e.ID != "jchan" || e.CommonName != "Jackie Chan" || e.Surname != "Chan" || e.GivenName != "Jackie" ||
				e.Mail != "jchan@example.org" || e.Category != "staff" || e.Institution != "" {
				t.Fatalf("entry = %+v", e)
			}
			if _, err := uuid.Parse(e.UUID); err != nil {
				t.Fatalf("UUID %q: %v", e.UUID, err)
			}
			if e.Created.IsZero() {
				t.Errorf("Created not set")
			}

			res, ok, err = auth(b, "jchan", "wrong-password")
			wantRefused(t, res, ok, err, backend.ReasonBadCredentials)

			res, ok, err = auth(b, "jchan", "")
			wantRefused(t, res, ok, err, backend.ReasonBadCredentials)

			// An entry without userPassword cannot be bound to.
			res, ok, err = auth(b, "nopw", "anything")
			wantRefused(t, res, ok, err, backend.ReasonBadCredentials)

			unknown := backend.ReasonUnknownUser
			if cfg.DNTemplate != "" {
				unknown = backend.ReasonBadCredentials // a bind to a missing DN is 49 in OpenLDAP
			}
			res, ok, err = auth(b, "nosuchuser", "whatever")
			wantRefused(t, res, ok, err, unknown)

			// A bind connection keeps the last user's identity only until
			// it has been idle a moment.
			if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
				t.Fatalf("right password again: ok=%v err=%v", ok, err)
			}
			c, err := b.binds.get(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			who, err := whoAmI(c)
			b.binds.put(c)
			if err != nil || who != "dn:uid=jchan,"+slapdtest.PeopleDN {
				t.Fatalf("bind connection identity right after a login = %q, %v; want jchan's", who, err)
			}
			b.binds.neutralize(context.Background(), 0)
			b.binds.mu.Lock()
			idle := len(b.binds.idle)
			b.binds.mu.Unlock()
			if idle == 0 {
				t.Fatal("no idle bind connection")
			}
			c, err = b.binds.get(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			who, err = whoAmI(c)
			b.binds.put(c)
			if err != nil || who != "" {
				t.Fatalf("bind connection identity after use = %q, %v; want anonymous", who, err)
			}
		})
	}
}

func TestInjectionAndAmbiguity(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	for _, mode := range []string{"search", "dn template"} {
		t.Run(mode, func(t *testing.T) {
			cfg := Config{URLs: []string{s.URL()}}
			if mode == "dn template" {
				cfg.DNTemplate = "uid={id}," + slapdtest.PeopleDN
			}
			b := newBackend(t, cfg)
			ids := []string{"*", "a*", "j*", "jchan*", "x)(uid=*", "jchan)(|(uid=*", "*)(uid=jchan", "(uid=jchan)",
				`jchan\2a`, "jchan\x00", "jchan,ou=people", "jchan+cn=Jackie Chan", "jchan\\"}
			for _, id := range ids {
				res, ok, err := auth(b, id, jchanPW)
				if err != nil || ok || res.Entry != nil {
					t.Errorf("id %q: ok=%v err=%v entry=%v, want refused", id, ok, err, res.Entry)
				}
				if _, err := b.Lookup(context.Background(), id); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("Lookup(%q) err = %v, want ErrNotFound", id, err)
				}
			}
			// The upstream's matching rules apply: uid is case-insensitive
			// and ignores surrounding spaces, so these are jchan himself
			// (never another user). Routes normalise IDs before asking.
			for _, id := range []string{" jchan", "jchan ", "JCHAN"} {
				res, ok, err := auth(b, id, jchanPW)
				if err != nil || !ok || res.Entry.CommonName != "Jackie Chan" || res.Entry.ID != id {
					t.Errorf("id %q: ok=%v err=%v", id, ok, err)
				}
			}
			if mode == "search" {
				res, ok, err := auth(b, "dup", "dup-password-1")
				wantRefused(t, res, ok, err, backend.ReasonUnknownUser)
				if _, err := b.Lookup(context.Background(), "dup"); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("Lookup(dup) err = %v, want ErrNotFound", err)
				}
			}
			e, err := b.Lookup(context.Background(), "u3551234")
			if err != nil || e.ID != "u3551234" || e.Mail != "u3551234@example.org" || e.Category != "student" {
				t.Fatalf("Lookup = %+v, %v", e, err)
			}
		})
	}
}

func TestAttributeMapping(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	b := newBackend(t, Config{URLs: []string{s.URL()}, Attributes: map[string]string{
		"mail": "", "o": "employeeType", "displayName": "cn", "givenname": "sn",
	}})
	e, err := b.Lookup(context.Background(), "jchan")
	if err != nil {
		t.Fatal(err)
	}
	if e.Mail != "" || e.Institution != "staff" || e.GivenName != "Chan" ||
		len(e.Extra["displayName"]) != 1 || e.Extra["displayName"][0] != "Jackie Chan" {
		t.Fatalf("entry = %+v", e)
	}
}

func TestServiceBindRejected(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	b := newBackend(t, Config{URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: "not-the-password"})
	_, ok, err := auth(b, "jchan", jchanPW)
	if ok {
		t.Fatal("ok with a rejected service account")
	}
	wantUnavailable(t, err)
	if err := b.Ping(context.Background()); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Ping = %v, want ErrUnavailable", err)
	}
}

func TestOutageAndRecovery(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	const timeout = time.Second
	b := newBackend(t, Config{URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW, Timeout: timeout})
	if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
		t.Fatalf("before outage: ok=%v err=%v", ok, err)
	}
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if st := b.State(); len(st) != 1 || !st[0].Up {
		t.Fatalf("State = %+v", st)
	}

	for _, stop := range []struct {
		name string
		fn   func()
	}{{"stop", s.Stop}, {"kill", s.Kill}} {
		stop.fn()
		for _, pw := range []string{jchanPW, "wrong"} {
			start := time.Now()
			_, ok, err := auth(b, "jchan", pw)
			if ok {
				t.Fatalf("%s: ok while the upstream is down", stop.name)
			}
			wantUnavailable(t, err)
			if d := time.Since(start); d > 3*timeout {
				t.Fatalf("%s: took %v with timeout %v", stop.name, d, timeout)
			}
		}
		if _, err := b.Lookup(context.Background(), "jchan"); !errors.Is(err, backend.ErrUnavailable) {
			t.Fatalf("%s: Lookup err = %v", stop.name, err)
		}
		if err := b.Ping(context.Background()); !errors.Is(err, backend.ErrUnavailable) {
			t.Fatalf("%s: Ping = %v", stop.name, err)
		}
		if st := b.State(); st[0].Up || st[0].LastError == "" {
			t.Fatalf("%s: State = %+v", stop.name, st)
		}

		s.Start() // same port, same data
		res, ok, err := auth(b, "jchan", jchanPW)
		if !ok || err != nil || res.Entry == nil {
			t.Fatalf("%s: after restart ok=%v err=%v", stop.name, ok, err)
		}
		res, ok, err = auth(b, "jchan", "wrong")
		wantRefused(t, res, ok, err, backend.ReasonBadCredentials)
		if st := b.State(); !st[0].Up {
			t.Fatalf("%s: State after restart = %+v", stop.name, st)
		}
	}
}

// TestRestartHealsIdleConnections restarts slapd while the pools hold idle
// connections: the next call must not fail because of them.
func TestRestartHealsIdleConnections(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	b := newBackend(t, Config{URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW})
	if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	s.Restart()
	for i := 0; i < 3; i++ {
		if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
			t.Fatalf("attempt %d after restart: ok=%v err=%v", i, ok, err)
		}
	}
}

func TestFailover(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	dead := "ldap://127.0.0.1:" + strconv.Itoa(slapdtest.FreePort(t))
	hung := hungListener(t)
	tests := []struct {
		name string
		urls []string
	}{
		{"dead port first", []string{dead, s.URL()}},
		{"hung server first", []string{hung, s.URL()}},
		{"two bad first", []string{dead, hung, s.URL()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, Config{URLs: tc.urls, Timeout: 3 * time.Second})
			for i := 0; i < 3; i++ {
				if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
					t.Fatalf("attempt %d: ok=%v err=%v", i, ok, err)
				}
			}
			st := b.State()
			last := len(st) - 1
			if !st[last].Up {
				t.Fatalf("State = %+v", st)
			}
			for _, u := range st[:last] {
				if u.Up || u.LastError == "" {
					t.Fatalf("State = %+v", st)
				}
			}
			if got := b.fo.order()[0]; got != last {
				t.Fatalf("preferred URL %d, want %d", got, last)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, true)
	tests := []struct {
		name   string
		cfg    Config
		wantOK bool
	}{
		{"ldaps with CA", Config{URLs: []string{s.LDAPSURL()}, CAFile: s.CAFile()}, true},
		{"starttls with CA", Config{URLs: []string{s.URL()}, StartTLS: true, CAFile: s.CAFile(), BindDN: serviceDN, BindPassword: servicePW}, true},
		{"ldaps insecure", Config{URLs: []string{s.LDAPSURL()}, InsecureSkipVerify: true}, true},
		{"ldaps without CA", Config{URLs: []string{s.LDAPSURL()}}, false},
		{"starttls without CA", Config{URLs: []string{s.URL()}, StartTLS: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, tc.cfg)
			res, ok, err := auth(b, "jchan", jchanPW)
			if tc.wantOK {
				if !ok || err != nil || res.Entry.CommonName != "Jackie Chan" {
					t.Fatalf("ok=%v err=%v", ok, err)
				}
				res, ok, err = auth(b, "jchan", "wrong")
				wantRefused(t, res, ok, err, backend.ReasonBadCredentials)
				return
			}
			if ok {
				t.Fatal("ok without a trusted certificate")
			}
			wantUnavailable(t, err)
		})
	}
}

func TestConcurrentAuthentications(t *testing.T) {
	t.Parallel()
	s := startSlapd(t, false)
	b := newBackend(t, Config{URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW, Timeout: 10 * time.Second})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				id, pw, want := "jchan", jchanPW, true
				switch (g + i) % 3 {
				case 1:
					id, pw, want = "u3551234", "wrong", false
				case 2:
					id, pw, want = "u3551234", "another#PIN9", true
				}
				res, ok, err := auth(b, id, pw)
				if err != nil || ok != want || (ok && res.Entry.ID != id) {
					errs <- fmt.Errorf("goroutine %d call %d (%s): ok=%v err=%v", g, i, id, ok, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, p := range []*pool{b.service, b.binds} {
		p.mu.Lock()
		n := len(p.idle)
		p.mu.Unlock()
		if n > b.s.PoolSize {
			t.Errorf("%s pool holds %d idle connections, more than pool_size %d", p.kind, n, b.s.PoolSize)
		}
	}
}

// hungListener accepts TCP connections and never answers; it returns its
// ldap:// URL.
func hungListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "ldap://" + l.Addr().String()
}

// whoAmI asks the upstream who c is bound as (RFC 4532).
func whoAmI(c *conn) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	end, err := c.begin(ctx)
	if err != nil {
		return "", err
	}
	defer end()
	id, err := c.send(func(dst []byte, id int64) []byte {
		return ldapwire.AppendExtendedRequest(dst, id, ldapwire.OIDWhoAmI, nil, false, nil)
	})
	if err != nil {
		return "", err
	}
	resp, err := c.recv(id)
	if err != nil {
		return "", err
	}
	if err := resultError(resp.Result); err != nil {
		return "", err
	}
	return string(resp.Value), nil
}

// TestObserveRequest: every upstream request is reported with its op,
// the service bind, the user's search and the user's bind.
func TestObserveRequest(t *testing.T) {
	sl := startSlapd(t, false)
	var mu sync.Mutex
	seen := map[string]int{}
	b := newBackend(t, Config{Name: "campus", URLs: []string{sl.URL()}, BindDN: serviceDN, BindPassword: servicePW,
		ObserveRequest: func(op string, d time.Duration) {
			if d <= 0 {
				t.Errorf("%s took %v", op, d)
			}
			mu.Lock()
			seen[op]++
			mu.Unlock()
		}})
	if _, ok, err := auth(b, "jchan", jchanPW); !ok || err != nil {
		t.Fatalf("auth: %v %v", ok, err)
	}
	if _, ok, _ := auth(b, "jchan", "wrong-password"); ok {
		t.Fatal("wrong password accepted")
	}
	mu.Lock()
	defer mu.Unlock()
	// One service bind, two searches (no lookup cache), two user binds.
	if seen["search"] < 2 || seen["bind"] < 3 || len(seen) != 2 {
		t.Fatalf("observed %v, want at least 2 searches and 3 binds, nothing else", seen)
	}
}
