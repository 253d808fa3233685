package integration

import (
	"bufio"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/slapdtest"
)

func x509CertPool(pem []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pem)
	return p
}

const (
	julacID  = "CU1234567"
	julacPIN = "Julac-PIN-2026"
	cardID   = "20231234"
	cardPIN  = "Card-PIN-2026"
	campusID = "jchan"
	campusPW = "Campus-Pass-2026"
)

// campusSlapd starts the campus directory with a few people.
func campusSlapd(t *testing.T, tlsOn bool) *slapdtest.Server {
	t.Helper()
	return slapdtest.Start(t, slapdtest.Options{
		TLS: tlsOn,
		LDIF: slapdtest.PeopleLDIF([]slapdtest.User{
			{UID: campusID, CN: "Chan Tai Man", SN: "Chan", GivenName: "Tai Man", Mail: "jchan@example.edu", EmployeeType: "staff", Password: campusPW},
			{UID: "u3551234", CN: "Ho Wing", SN: "Ho", Mail: "u3551234@example.edu", EmployeeType: "student", Password: "Student-Pass-1"},
		}),
	})
}

// coreEnv is the example configuration against a real slapd.
func coreEnv(t *testing.T, sl *slapdtest.Server, serverExtra string) *env {
	t.Helper()
	e := newEnv(t, serverExtra, fmt.Sprintf(`
[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[[route]]
name = "campus"
match = '^[a-z][a-z0-9]{1,15}$'
case = "lower"
backend = "campus"

[[route]]
name = "library-card"
match = '^[0-9]{6,14}$'
backend = "pins"

[backend.campus]
type = "ldap"
urls = [%q]
bind_dn = %q
bind_password = %q
base_dn = "ou=people,dc=example,dc=org"
user_filter = "(uid={id})"
timeout = "2s"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "%%DIR%%/pins.db"
`, sl.URL(), sl.AdminDN(), sl.AdminPassword()))
	e.addPatron(julacID, "Wong Siu Ming", julacPIN, "--email", "cu1234567@example.edu", "--category", "julac")
	e.addPatron(cardID, "Lee Ka Yan", cardPIN, "--category", "alumni")
	return e
}

func TestCoreBindsWithOpenLDAPClients(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	e := coreEnv(t, sl, "")
	e.start()

	tests := []struct {
		name     string
		bindDN   string
		password string
		wantCode int // ldapwhoami exit status: 0 or the LDAP result code
		wantOut  string
	}{
		{"julac DN", personDN(julacID), julacPIN, 0, "dn:" + personDN(julacID)},
		{"julac lower-case ID", personDN("cu1234567"), julacPIN, 0, "dn:" + personDN(julacID)},
		{"julac DN odd spacing and case", "UID=cu1234567, OU=People, DC=Library,DC=example,DC=edu", julacPIN, 0, "dn:" + personDN(julacID)},
		{"bare julac ID", "cu1234567", julacPIN, 0, "dn:" + personDN(julacID)},
		{"upn form", "CU1234567@library.example.edu", julacPIN, 0, "dn:" + personDN(julacID)},
		{"library card", personDN(cardID), cardPIN, 0, "dn:" + personDN(cardID)},
		{"campus DN", personDN(campusID), campusPW, 0, "dn:" + personDN(campusID)},
		{"campus bare upper-case ID", "JCHAN", campusPW, 0, "dn:" + personDN(campusID)},
		{"campus cn= form", "cn=jchan,ou=people," + suffix, campusPW, 0, "dn:" + personDN(campusID)},
		{"service account", svcDN, svcPW, 0, "dn:" + svcDN},
		{"wrong PIN", personDN(julacID), "Wrong-PIN-2026", 49, "Invalid credentials (49)"},
		{"wrong campus password", personDN(campusID), "nope-nope-1", 49, "Invalid credentials (49)"},
		{"unknown julac ID", personDN("CU7654321"), julacPIN, 49, "Invalid credentials (49)"},
		{"unknown campus ID", personDN("nobody"), campusPW, 49, "Invalid credentials (49)"},
		{"ID matching no route", personDN("!!"), julacPIN, 49, "Invalid credentials (49)"},
		{"wildcard ID", personDN("*"), julacPIN, 49, "Invalid credentials (49)"},
		{"prefix wildcard ID", "a*", campusPW, 49, "Invalid credentials (49)"},
		{"filter injection ID", `uid=x)(uid=\2a,ou=people,` + suffix, campusPW, 49, "Invalid credentials (49)"},
		{"wrong suffix", "uid=CU1234567,ou=people,dc=other,dc=edu", julacPIN, 49, "Invalid credentials (49)"},
		{"wrong service password", svcDN, "nope", 49, "Invalid credentials (49)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := client(t, nil, "ldapwhoami", "-x", "-H", e.url(), "-D", tt.bindDN, "-w", tt.password)
			if code != tt.wantCode {
				t.Fatalf("ldapwhoami exit %d, want %d\n%s", code, tt.wantCode, out)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Fatalf("output %q does not contain %q", out, tt.wantOut)
			}
		})
	}

	t.Run("empty password is 53", func(t *testing.T) {
		c := e.dial()
		err := c.UnauthenticatedBind(personDN(julacID))
		if ldapCode(err) != ldap.LDAPResultUnwillingToPerform || !strings.Contains(err.Error(), "unauthenticated bind (DN with no password) disallowed") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("logs never carry a PIN", func(t *testing.T) {
		logs := e.logs.String()
		for _, secret := range []string{julacPIN, cardPIN, campusPW, "Wrong-PIN-2026", svcPW} {
			if strings.Contains(logs, secret) {
				t.Fatalf("log contains a secret")
			}
		}
		if !strings.Contains(logs, "route=julac") {
			t.Fatalf("log has no bind line with the route:\n%s", logs)
		}
	})
}

func TestSearchThenBindAndRootDSE(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	e := coreEnv(t, sl, "")
	e.start()

	// The EZproxy / Apache flow with ldapsearch: service bind, look-up.
	out, code := client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-D", svcDN, "-w", svcPW,
		"-b", "ou=people,"+suffix, "(&(objectClass=person)(uid=cu1234567))", "uid", "cn", "mail")
	if code != 0 || !strings.Contains(out, "dn: "+personDN(julacID)) || !strings.Contains(out, "cn: Wong Siu Ming") || !strings.Contains(out, "mail: cu1234567@example.edu") {
		t.Fatalf("ldapsearch exit %d:\n%s", code, out)
	}
	out, code = client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-D", svcDN, "-w", svcPW,
		"-b", "ou=people,"+suffix, "(uid=jchan)", "mail", "employeeType")
	if code != 0 || !strings.Contains(out, "dn: "+personDN(campusID)) || !strings.Contains(out, "mail: jchan@example.edu") || !strings.Contains(out, "employeeType: staff") {
		t.Fatalf("campus look-up exit %d:\n%s", code, out)
	}

	// Search then bind on the same connection with go-ldap.
	c := e.dial()
	if err := c.Bind(svcDN, svcPW); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		filter string
		want   int
	}{
		{"(&(objectClass=person)(uid=CU1234567))", 1},
		{"(|(uid=jchan)(uid=20231234))", 2},
		{"(uid=*)", 0},
		{"(uid=a*)", 0},
		{`(uid=x\29\28uid=\2a)`, 0},
		{"(uid=CU7654321)", 0},
		{"(objectClass=person)", 0},
	} {
		res, err := c.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, tt.filter, []string{"uid"}, nil))
		if err != nil {
			t.Fatalf("%s: %v", tt.filter, err)
		}
		if len(res.Entries) != tt.want {
			t.Fatalf("%s: %d entries, want %d", tt.filter, len(res.Entries), tt.want)
		}
	}
	res, err := c.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=cu1234567)", []string{"1.1"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("look-up: %v %v", res, err)
	}
	if err := c.Bind(res.Entries[0].DN, julacPIN); err != nil {
		t.Fatalf("bind as found DN: %v", err)
	}
	who, err := c.WhoAmI(nil)
	if err != nil || who.AuthzID != "dn:"+personDN(julacID) {
		t.Fatalf("whoami: %+v %v", who, err)
	}

	// The Root DSE, read by a service account with ldapsearch.
	out, code = client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-D", svcDN, "-w", svcPW, "-b", "", "-s", "base", "+")
	for _, want := range []string{"namingContexts: " + suffix, "supportedLDAPVersion: 3", "1.3.6.1.4.1.4203.1.11.3", "1.3.6.1.4.1.4203.1.11.1", "vendorName: bindery"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("root DSE (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	// The first thing every administrator types: an anonymous bind
	// (ldapsearch -x) and the Root DSE, with its subschemaSubentry ...
	out, code = client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-b", "", "-s", "base")
	for _, want := range []string{"namingContexts: " + suffix, "subschemaSubentry: cn=Subschema", "supportedLDAPVersion: 3"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("ldapsearch -x -b '' -s base: exit %d, lacks %q\n%s", code, want, out)
		}
	}
	// ... and the schema, anonymously too.
	out, code = client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-b", "cn=Subschema", "-s", "base", "(objectClass=subschema)", "+")
	for _, want := range []string{"dn: cn=Subschema", "attributeTypes: ( 2.16.840.1.113730.3.1.4 NAME 'employeeType'", "objectClasses: ( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson'", "matchingRules: ", "ldapSyntaxes: "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("cn=Subschema: exit %d, lacks %q\n%s", code, want, tail(out))
		}
	}
	// ... but a client that does not bind at all still reads the Root DSE
	// (SSSD does), and nothing else.
	anon := e.dial()
	rootDSE, err := anon.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"namingContexts", "supportedLDAPVersion"}, nil))
	if err != nil || len(rootDSE.Entries) != 1 || rootDSE.Entries[0].GetAttributeValue("namingContexts") != suffix {
		t.Fatalf("unbound Root DSE read: %v %v", rootDSE, err)
	}
	if _, err := anon.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=CU1234567)", nil, nil)); ldapCode(err) != ldap.LDAPResultInsufficientAccessRights {
		t.Fatalf("unbound people search: %v, want 50", err)
	}
}

// TestAnonymousBind: by default an anonymous bind succeeds and reads the
// Root DSE and nothing else; allow_anonymous = false refuses it with 48
// (slapd's "disallow bind_anon"), while an unbound client still reads the
// Root DSE.
func TestAnonymousBind(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	e := coreEnv(t, sl, "")
	e.start()
	out, code := client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-b", "", "-s", "base", "namingContexts")
	if code != 0 || !strings.Contains(out, "namingContexts: "+suffix) {
		t.Fatalf("anonymous Root DSE: exit %d\n%s", code, out)
	}
	out, code = client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-b", "ou=people,"+suffix, "(uid=CU1234567)")
	if code != 50 {
		t.Fatalf("anonymous people search: exit %d, want 50\n%s", code, out)
	}
	out, code = client(t, nil, "ldapwhoami", "-x", "-H", e.url())
	if code != 0 || !strings.Contains(out, "anonymous") {
		t.Fatalf("anonymous whoami: exit %d\n%s", code, out)
	}

	off := coreEnv(t, sl, "allow_anonymous = false")
	off.start()
	out, code = client(t, nil, "ldapsearch", "-x", "-LLL", "-H", off.url(), "-b", "", "-s", "base")
	if code != 48 || !strings.Contains(out, "anonymous bind disallowed") {
		t.Fatalf("allow_anonymous = false: exit %d, want 48\n%s", code, out)
	}
	if out, code := client(t, nil, "ldapwhoami", "-x", "-H", off.url(), "-D", personDN(julacID), "-w", ""); code != 53 {
		t.Fatalf("a name with an empty password: exit %d, want 53\n%s", code, out)
	}
	rootDSE, err := off.dial().Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"namingContexts"}, nil))
	if err != nil || len(rootDSE.Entries) != 1 {
		t.Fatalf("unbound Root DSE read with allow_anonymous = false: %v %v", rootDSE, err)
	}
}

func TestUpstreamStoppedGives52AndPINStoreUnaffected(t *testing.T) {
	sl := campusSlapd(t, false)
	e := coreEnv(t, sl, "")
	e.start()

	c := e.dial()
	if err := c.Bind(personDN(campusID), campusPW); err != nil {
		t.Fatalf("campus bind before the outage: %v", err)
	}
	sl.Stop()
	// A success cached before the outage is still answered within the
	// cache's ttl (the cache policy): the upstream is not asked.
	if err := c.Bind(personDN(campusID), campusPW); err != nil {
		t.Fatalf("cached campus bind during the outage: %v", err)
	}
	// A campus bind the cache has not seen needs the upstream: 52.
	start := time.Now()
	err := c.Bind(personDN("u3551234"), "Student-Pass-1")
	took := time.Since(start)
	if ldapCode(err) != ldap.LDAPResultUnavailable {
		t.Fatalf("uncached campus bind with upstream down: %v, want 52 unavailable", err)
	}
	// timeout = "2s": the answer must come well before a client gives up.
	if took > 15*time.Second {
		t.Fatalf("52 took %v", took)
	}
	// A wrong password is also 52, never 49, while the upstream is down.
	if err := c.Bind(personDN("u3551234"), "whatever-1"); ldapCode(err) != ldap.LDAPResultUnavailable {
		t.Fatalf("wrong campus password with upstream down: %v, want 52", err)
	}
	// A different password for the cached user also needs the upstream: a
	// cache never rejects a password, and never accepts an unseen one.
	if err := c.Bind(personDN(campusID), "Other-Pass-2026"); ldapCode(err) != ldap.LDAPResultUnavailable {
		t.Fatalf("another password for a cached campus user with upstream down: %v, want 52", err)
	}
	if err := c.Bind(personDN(julacID), julacPIN); err != nil {
		t.Fatalf("PIN-store bind during the outage: %v", err)
	}
	if err := c.Bind(personDN(julacID), "Wrong-PIN-2026"); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("wrong PIN during the outage: %v, want 49", err)
	}
	sl.Start()
	var lastErr error
	for i := 0; i < 50; i++ {
		if lastErr = c.Bind(personDN("u3551234"), "Student-Pass-1"); lastErr == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("campus bind after the upstream came back: %v", lastErr)
	}
}

func TestThousandOperationsOnOneConnection(t *testing.T) {
	sl := campusSlapd(t, false)
	e := coreEnv(t, sl, "")
	e.start()
	c := e.dial()
	if err := c.Bind(svcDN, svcPW); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		switch i % 3 {
		case 0:
			if _, err := c.WhoAmI(nil); err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
		case 1:
			res, err := c.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=CU1234567)", []string{"uid"}, nil))
			if err != nil || len(res.Entries) != 1 {
				t.Fatalf("op %d: %v", i, err)
			}
		case 2:
			if err := c.Bind(personDN(julacID), julacPIN); err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
			if err := c.Bind(svcDN, svcPW); err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
		}
	}
}

// TestHostilePacketsDoNotHurtOthers sends garbage, an oversized message and
// a half message; the server keeps answering a normal client.
func TestHostilePacketsDoNotHurtOthers(t *testing.T) {
	sl := campusSlapd(t, false)
	e := coreEnv(t, sl, "max_request_bytes = 4096")
	e.start()

	normal := func() {
		t.Helper()
		c := e.dial()
		if err := c.Bind(personDN(julacID), julacPIN); err != nil {
			t.Fatalf("normal client after attack: %v", err)
		}
		c.Close()
	}
	raw := func(payload []byte) {
		t.Helper()
		conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write(payload)
		// The server answers (a Notice of Disconnection) or closes; either
		// way the read ends.
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				break
			}
		}
	}

	raw([]byte("\x30\x05\x02\x01\x01\xff\xff"))                       // malformed protocolOp
	raw([]byte("GET / HTTP/1.0\r\n\r\n"))                             // not BER at all
	raw([]byte{0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1}) // a TLS hello on the plain port
	raw([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff})                   // a 2 GiB length prefix
	// An oversized bind (name of 8 KiB > max_request_bytes).
	big := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	big.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 1, ""))
	bind := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "")
	bind.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
	bind.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, strings.Repeat("a", 8192), ""))
	bind.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "x", ""))
	big.AppendChild(bind)
	raw(big.Bytes())
	normal()

	// Half a message, then silence, while a normal client binds.
	half, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	half.Write([]byte{0x30, 0x20, 0x02, 0x01})
	normal()

	// Many clients at once.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ldap.DialURL(e.url())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := c.Bind(personDN(julacID), julacPIN); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent bind: %v", err)
	}
	_ = bufio.NewReader
}
