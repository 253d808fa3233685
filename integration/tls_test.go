package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/slapdtest"
)

func TestStartTLSAndLDAPS(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	certDir := t.TempDir()
	certs, err := slapdtest.WriteCerts(certDir)
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := freeAddr(t)
	e := coreEnv(t, sl, fmt.Sprintf(`require_tls = true

[server.tls]
cert_file = %q
key_file = %q
listen_tls = %q
`, certs.CertFile, certs.KeyFile, tlsAddr))
	e.tlsAddr = tlsAddr
	e.caFile = certs.CAFile
	e.start()

	caEnv := []string{"LDAPTLS_CACERT=" + certs.CAFile, "LDAPTLS_REQCERT=demand"}

	// Cleartext simple bind is refused: 13 confidentialityRequired.
	out, code := client(t, caEnv, "ldapwhoami", "-x", "-H", e.url(), "-D", personDN(julacID), "-w", julacPIN)
	if code != 13 {
		t.Fatalf("cleartext bind with require_tls: exit %d, want 13\n%s", code, out)
	}
	// StartTLS first (-ZZ: must succeed), then bind.
	out, code = client(t, caEnv, "ldapwhoami", "-x", "-ZZ", "-H", e.url(), "-D", personDN(julacID), "-w", julacPIN)
	if code != 0 || !strings.Contains(out, "dn:"+personDN(julacID)) {
		t.Fatalf("StartTLS bind: exit %d\n%s", code, out)
	}
	// LDAPS.
	out, code = client(t, caEnv, "ldapwhoami", "-x", "-H", "ldaps://"+tlsAddr, "-D", personDN(campusID), "-w", campusPW)
	if code != 0 || !strings.Contains(out, "dn:"+personDN(campusID)) {
		t.Fatalf("LDAPS bind: exit %d\n%s", code, out)
	}
	// A client that does not trust the CA refuses the server.
	out, code = client(t, []string{"LDAPTLS_REQCERT=demand", "LDAPTLS_CACERT=/dev/null"}, "ldapwhoami", "-x", "-H", "ldaps://"+tlsAddr, "-D", personDN(julacID), "-w", julacPIN)
	if code == 0 {
		t.Fatalf("an untrusted certificate was accepted:\n%s", out)
	}

	// go-ldap: StartTLS on a plain connection, then bind and WhoAmI.
	c := e.dial()
	if err := c.StartTLS(e.clientTLS()); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := c.Bind(personDN(julacID), julacPIN); err != nil {
		t.Fatalf("bind after StartTLS: %v", err)
	}
	// A second StartTLS on the same connection is refused, the connection lives.
	if err := c.StartTLS(e.clientTLS()); err == nil {
		t.Fatalf("second StartTLS accepted")
	}
	lc := e.dialTLS()
	if err := lc.Bind(svcDN, svcPW); err != nil {
		t.Fatalf("LDAPS service bind: %v", err)
	}
	res, err := lc.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=jchan)", []string{"cn"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("LDAPS search: %v %v", res, err)
	}
}
