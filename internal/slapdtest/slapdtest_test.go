package slapdtest

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func dial(t *testing.T, url string, tc *tls.Config) (*ldap.Conn, error) {
	t.Helper()
	opts := []ldap.DialOpt{ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second})}
	if tc != nil {
		opts = append(opts, ldap.DialWithTLSConfig(tc))
	}
	c, err := ldap.DialURL(url, opts...)
	if err != nil {
		return nil, err
	}
	c.SetTimeout(2 * time.Second)
	return c, nil
}

func bindUser(t *testing.T, url string, tc *tls.Config, dn, pw string) error {
	t.Helper()
	c, err := dial(t, url, tc)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Bind(dn, pw)
}

var testUsers = []User{
	{UID: "jchan", CN: "Jackie Chan", SN: "Chan", GivenName: "Jackie", Mail: "jchan@example.org", EmployeeType: "staff", Password: "s3cret-PIN"},
	{UID: "u3551234", GivenName: "Wing", Mail: "u3551234@example.org", EmployeeType: "student", Password: "another#PIN9"},
}

func TestStartBindStopRestart(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{LDIF: PeopleLDIF(testUsers)})
	dn := "uid=jchan," + PeopleDN

	if err := bindUser(t, s.URL(), nil, dn, "s3cret-PIN"); err != nil {
		t.Fatalf("bind with the right password: %v", err)
	}
	if err := bindUser(t, s.URL(), nil, dn, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("bind with a wrong password: got %v, want 49", err)
	}

	// The fixture is readable and complete.
	c, err := dial(t, s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Search(ldap.NewSearchRequest(PeopleDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=u3551234)", []string{"cn", "sn", "givenName", "mail", "employeeType", "userPassword"}, nil))
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("got %d entries, want 1", len(res.Entries))
	}
	e := res.Entries[0]
	for attr, want := range map[string]string{"cn": "u3551234", "sn": "u3551234", "givenName": "Wing", "mail": "u3551234@example.org", "employeeType": "student", "userPassword": ""} {
		if got := e.GetAttributeValue(attr); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}

	s.Stop()
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	if err := bindUser(t, s.URL(), nil, dn, "s3cret-PIN"); err == nil {
		t.Fatal("bind succeeded on a stopped server")
	}

	s.Start()
	if err := bindUser(t, s.URL(), nil, dn, "s3cret-PIN"); err != nil {
		t.Fatalf("bind after restart: %v", err)
	}

	s.Kill()
	if err := bindUser(t, s.URL(), nil, dn, "s3cret-PIN"); err == nil {
		t.Fatal("bind succeeded on a killed server")
	}
	s.Restart()
	if err := s.tryBind(); err != nil {
		t.Fatalf("admin bind after Kill and Restart: %v", err)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{TLS: true, LDIF: PeopleLDIF(testUsers), AdminPassword: "other-admin"})
	if s.LDAPSURL() == "" || s.CAFile() == "" || s.CertPool() == nil || !strings.Contains(string(s.CAPEM()), "BEGIN CERTIFICATE") {
		t.Fatal("TLS accessors empty")
	}
	dn := "uid=u3551234," + PeopleDN

	if err := bindUser(t, s.LDAPSURL(), s.TLSConfig(), dn, "another#PIN9"); err != nil {
		t.Fatalf("LDAPS bind: %v", err)
	}
	// An untrusting client must fail the handshake.
	if err := bindUser(t, s.LDAPSURL(), &tls.Config{ServerName: "127.0.0.1"}, dn, "another#PIN9"); err == nil {
		t.Fatal("LDAPS bind without the CA succeeded")
	}

	c, err := dial(t, s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(s.TLSConfig()); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := c.Bind(s.AdminDN(), "other-admin"); err != nil {
		t.Fatalf("admin bind after StartTLS: %v", err)
	}
}

func TestParallelServers(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{})
	b := Start(t, Options{})
	if a.Port() == b.Port() || a.Dir() == b.Dir() {
		t.Fatalf("servers share port or directory: %d %d", a.Port(), b.Port())
	}
	a.Stop()
	if err := b.tryBind(); err != nil {
		t.Fatalf("second server affected by stopping the first: %v", err)
	}
}

func TestSSHA(t *testing.T) {
	t.Parallel()
	a, b := SSHA("pw"), SSHA("pw")
	if !strings.HasPrefix(a, "{SSHA}") || a == b {
		t.Fatalf("SSHA not salted: %q %q", a, b)
	}
}

func TestUserLDIFBase64(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		u    User
		want string
	}{
		{"plain", User{UID: "a", CN: "Ann Lee"}, "cn: Ann Lee\n"},
		{"non-ascii", User{UID: "a", CN: "陳大文"}, "cn:: 6Zmz5aSn5paH\n"},
		{"leading space", User{UID: "a", CN: " x"}, "cn:: IHg=\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := UserLDIF(PeopleDN, tc.u); !strings.Contains(got, tc.want) {
				t.Fatalf("UserLDIF = %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

// recorder is a testing.TB that records Fatalf and Skipf instead of
// stopping the test.
type recorder struct {
	*testing.T
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

// TestMissingSlapd: a missing slapd skips, unless BINDERY_REQUIRE_SLAPD is
// set, which makes it a failure. (Not parallel: it sets the environment.)
func TestMissingSlapd(t *testing.T) {
	for _, tc := range []struct {
		env       string
		wantFatal bool
	}{{"", false}, {"1", true}} {
		t.Setenv(RequireEnv, tc.env)
		r := &recorder{T: t}
		missing(r, "slapd not found")
		if (r.fatal != "") != tc.wantFatal || (r.skip != "") == tc.wantFatal {
			t.Errorf("%s=%q: fatal=%q skip=%q", RequireEnv, tc.env, r.fatal, r.skip)
		}
	}
	if _, err := findBinary("slapd-does-not-exist"); err == nil {
		t.Error("findBinary found a missing program")
	}
}
