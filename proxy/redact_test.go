package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// TestWriteFilterMatchesDecompile: with nothing secret, writeFilter
// renders every kind of filter exactly as ldap.DecompileFilter does.
func TestWriteFilterMatchesDecompile(t *testing.T) {
	for _, f := range []string{
		"(uid=CU1234567)",
		"(&(objectClass=person)(|(uid=a*b*c)(cn=*Chan))(!(mail=x\\2ay)))",
		"(cn=*)",
		"(uid>=a)", "(uid<=z)", "(cn~=chan)",
		"(cn:dn:caseExactMatch:=Chan)", "(:caseIgnoreMatch:=x)", "(uid:=x)",
		"(uid=*mid*)", "(uid=init*)", "(uid=*fin)",
	} {
		p, err := ldap.CompileFilter(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want, err := ldap.DecompileFilter(p)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if !writeFilter(&b, p, func(string) bool { return false }, 0) || b.String() != want {
			t.Errorf("writeFilter(%s) = %q, want %q", f, b.String(), want)
		}
	}
}

// TestSecretFilterValuesMasked: the logged filter masks the values of
// userPassword and the configured secret attributes, in every kind of
// assertion, and leaves other filters as the client sent them.
func TestSecretFilterValuesMasked(t *testing.T) {
	e, logs, _ := debugEnv(t, func(s *Server) { s.SecretAttributes = []string{"unicodePwd", "pinHint"} })
	c := e.dial()
	if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	filters := []string{
		"(&(uid=CU1234567)(userPassword=TopSecret1))",
		"(|(userPassword;binary=TopSecret2)(unicodePWD=TopSecret3))",
		"(pinhint=TopSecret4*)",
		"(userPassword>=TopSecret5)",
		"(userPassword:caseExactMatch:=TopSecret6)",
		"(!(unicodePwd~=TopSecret7))",
	}
	for _, f := range filters {
		if _, err := c.Search(ldap.NewSearchRequest(testSuffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, f, nil, nil)); err != nil && code(err) == -1 {
			t.Fatalf("search %s: %v", f, err)
		}
	}
	if _, err := c.Search(ldap.NewSearchRequest(testSuffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=CU1234567)", nil, nil)); err != nil {
		t.Fatal(err)
	}
	// Each line is written just after its answer: wait for all of them.
	for i := 0; i < 1000 && strings.Count(logs.String(), "msg=search") < len(filters)+1; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	out := logs.String()
	if strings.Contains(out, "TopSecret") {
		t.Fatalf("a secret filter value reached the log:\n%s", out)
	}
	for _, want := range []string{"userPassword=***", "userPassword;binary=***", "unicodePWD=***", "pinhint=***", "userPassword>=***", "userPassword:caseExactMatch:=***", "unicodePwd~=***", `filter="(uid=CU1234567)"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestLoggedFilterDefaults(t *testing.T) {
	s := &Server{}
	for in, want := range map[string]string{
		"(uid=jchan)":                      "(uid=jchan)",
		"(sambaNTPassword=abc)":            "(sambaNTPassword=***)",
		"(&(cn=a\\2ab)(userpassword=x*y))": "(&(cn=a\\2ab)(userpassword=***))",
		"(UNICODEPWD=*)":                   "(UNICODEPWD=*)",
	} {
		if got := s.loggedFilter(nil, in); got != want {
			t.Errorf("loggedFilter(%s) = %s, want %s", in, got, want)
		}
	}
}
