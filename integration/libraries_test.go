package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/slapdtest"
)

// The client libraries that library systems are built on, each running
// the flows of its product against one shared bindery (StartTLS and
// LDAPS on, a campus slapd, 1,200 imported patrons): Perl Net::LDAP
// (Koha), PHP ldap (VuFind), Java JNDI (Keycloak), Python ldap3. The
// scripts are in testdata/clients; each prints "ok NAME" per check, and
// every name listed here must be printed. The Debian packages are
// installed by scripts/lib/install-clients.sh.

// libraryPatrons is the number of imported patrons for the paged sync.
const libraryPatrons = 1200

// changeID is the patron whose PIN the Python test changes.
const (
	changeID  = "CU2000001"
	changePIN = "Change-PIN-2026"
)

// requireTool skips (or, in CI, fails) when a client library is missing.
func requireTool(t *testing.T, what string, probe ...string) {
	t.Helper()
	cmd := exec.Command(probe[0], probe[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("BINDERY_REQUIRE_SLAPD") != "" {
			t.Fatalf("%s is not installed (scripts/lib/install-clients.sh): %v\n%s", what, err, out)
		}
		t.Skipf("%s is not installed", what)
	}
}

// libraryEnv is the bindery the library tests share.
func libraryEnv(t *testing.T) (*env, []string) {
	sl := campusSlapd(t, false)
	certs, err := slapdtest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := freeAddr(t)
	e := clientsEnv(t, sl, fmt.Sprintf("\n[server.tls]\ncert_file = %q\nkey_file = %q\nlisten_tls = %q\n",
		certs.CertFile, certs.KeyFile, tlsAddr))
	e.tlsAddr, e.caFile = tlsAddr, certs.CAFile
	e.addPatron(changeID, "Ho Man Yee", changePIN, "--category", "julac")
	var b strings.Builder
	b.WriteString("id,name,category,pin_hash\n")
	hash := slapdtest.SSHA("Bulk-PIN-2026")
	for i := range libraryPatrons {
		fmt.Fprintf(&b, "BU%07d,Patron %d,julac,%s\n", i, i, hash)
	}
	csv := filepath.Join(e.dir, "patrons.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustCtl("", "import", csv)
	e.start()
	vars := []string{
		"BINDERY_URL=" + e.url(),
		"BINDERY_LDAPS_URL=ldaps://" + tlsAddr,
		"BINDERY_CA=" + certs.CAFile,
		"LDAPTLS_CACERT=" + certs.CAFile, // libldap (Perl, PHP, Python use it or their own)
		"LDAPTLS_REQCERT=demand",
		"BINDERY_SUFFIX=" + suffix,
		"BINDERY_UPN_SUFFIX=library.example.edu",
		"BINDERY_SVC_DN=" + svcDN,
		"BINDERY_SVC_PW=" + svcPW,
		"BINDERY_SYNC_DN=" + syncDN,
		"BINDERY_JULAC_ID=" + julacID,
		"BINDERY_JULAC_PIN=" + julacPIN,
		"BINDERY_JULAC_MAIL=cu1234567@example.edu",
		"BINDERY_CAMPUS_ID=" + campusID,
		"BINDERY_CAMPUS_PW=" + campusPW,
		"BINDERY_CHANGE_ID=" + changeID,
		"BINDERY_CHANGE_PIN=" + changePIN,
		// everyone the sync account lists: the imported patrons, the
		// coreEnv patrons, the change patron and the two campus users
		fmt.Sprintf("BINDERY_PEOPLE=%d", libraryPatrons+2+1+2),
	}
	return e, vars
}

// runScript runs one client script and checks that every expected check
// printed "ok" and none "not ok".
func runScript(t *testing.T, vars []string, want []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "testdata/clients"
	cmd.Env = append(os.Environ(), vars...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", name, err)
	}
	oks := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "ok "); ok {
			oks[n] = true
		}
	}
	for _, w := range want {
		if !oks[w] {
			t.Errorf("%s: no \"ok %s\"", name, w)
		}
	}
	if err != nil || strings.Contains(string(out), "not ok ") || t.Failed() {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func TestClientLibraries(t *testing.T) {
	t.Parallel() // after the sequential tests, two at a time: they share nothing
	requireClients(t)
	_, vars := libraryEnv(t)
	t.Run("PerlNetLDAP_Koha", func(t *testing.T) {
		t.Parallel()
		requireTool(t, "Perl Net::LDAP (libnet-ldap-perl)", "perl", "-MNet::LDAP", "-e1")
		runScript(t, vars, []string{
			"flow1_service_bind", "flow1_search", "flow1_mapping_givenname", "flow1_mapping_sn", "flow1_mapping_mail",
			"flow1_mapping_uid", "flow1_mapping_employeetype", "flow1_mapping_employeenumber", "flow1_user_bind", "flow1_wrong_pin_49",
			"flow2_principal_bind", "flow2_search_own_entry", "flow2_wrong_pin_49",
			"flow3_service_bind", "flow3_star_finds_nothing_*", "flow3_star_finds_nothing_CU*", "flow3_campus_candidate_bind",
			"anonymous_bind", "anonymous_search_50",
		}, "perl", "koha.pl")
	})
	t.Run("PHPldap_VuFind", func(t *testing.T) {
		t.Parallel()
		requireTool(t, "PHP with ldap (php-cli php-ldap)", "php", "-r", "exit(function_exists('ldap_connect') ? 0 : 1);")
		var want []string
		for _, mode := range []string{"plain", "starttls", "ldaps"} {
			for _, c := range []string{"connect", "service_bind", "search", "wrong_pin_49", "user_bind", "reread", "attributes"} {
				want = append(want, mode+"_"+c)
			}
		}
		want = append(want, "starttls_starttls")
		runScript(t, vars, want, "php", "vufind.php")
	})
	t.Run("JavaJNDI_Keycloak", func(t *testing.T) {
		t.Parallel()
		requireTool(t, "a JDK (default-jdk-headless)", "javac", "-version")
		runScript(t, vars, []string{
			"anonymous_root_dse", "anonymous_subschema_subentry", "anonymous_paged_results_supported",
			"user_search", "user_bind", "wrong_pin_49", "paged_sync", "starttls_user_bind",
		}, "java", "Keycloak.java")
	})
	t.Run("PythonLdap3", func(t *testing.T) {
		t.Parallel()
		requireTool(t, "Python ldap3 (python3-ldap3)", "/usr/bin/python3", "-c", "import ldap3")
		runScript(t, vars, []string{
			"anonymous_auto_bind", "root_dse", "schema_loaded", "schema_attribute_uid", "schema_attribute_entryUUID",
			"schema_attribute_memberOf", "schema_inetOrgPerson", "anonymous_whoami", "whoami", "own_entry_with_schema_checks",
			"weak_pin_19_names_rules", "good_pin_changed", "bind_with_new_pin", "old_pin_49",
		}, "/usr/bin/python3", "ldap3_flows.py")
	})
}
