package integration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/slapdtest"
)

// Service accounts of the client tests besides "ils" (can_search and
// can_reset): all use the password svcPW.
const clientAccounts = `
[[service_account]]
name = "sync"
password_hash = %[1]q
can_search = true
can_list = true

[[service_account]]
name = "gateway"
password_hash = %[1]q
can_search = true
networks = ["10.0.0.0/8"]

[[service_account]]
name = "narrow"
password_hash = %[1]q
can_search = true
attributes = ["cn", "employeeType"]
`

const (
	syncDN   = "cn=sync,ou=services," + suffix
	julacGrp = "cn=julac,ou=groups," + suffix
	people   = "ou=people," + suffix
)

// clientsEnv is coreEnv with the extra service accounts (serverKeys go
// into [server]).
func clientsEnv(t *testing.T, sl *slapdtest.Server, serverKeys string) *env {
	t.Helper()
	return coreEnv(t, sl, serverKeys+"\n"+fmt.Sprintf(clientAccounts, svcHash))
}

func searchReq(base string, scope int, filter string, attrs ...string) *ldap.SearchRequest {
	return ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
}

// TestEZproxyFlow: service bind, subtree search (&filter(attr=ID)), bind
// as the returned DN, then the IfMember group test (Compare on the group,
// or memberOf on the entry).
func TestEZproxyFlow(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	e := clientsEnv(t, sl, "")
	e.start()
	for _, tt := range []struct {
		id, pw   string
		inJULAC  bool
		category string
	}{
		{julacID, julacPIN, true, "julac"},
		{campusID, campusPW, false, "staff"},
	} {
		t.Run(tt.id, func(t *testing.T) {
			out, code := client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-D", svcDN, "-w", svcPW,
				"-b", people, "-s", "sub", "(&(objectClass=person)(uid="+tt.id+"))", "memberOf", "employeeType")
			if code != 0 || strings.Count(out, "dn: ") != 1 || !strings.Contains(out, "employeeType: "+tt.category) {
				t.Fatalf("search exit %d:\n%s", code, out)
			}
			dn := personDN(tt.id)
			out, code = client(t, nil, "ldapwhoami", "-x", "-H", e.url(), "-D", dn, "-w", tt.pw)
			if code != 0 {
				t.Fatalf("bind as %s: exit %d\n%s", dn, code, out)
			}
			out, code = client(t, nil, "ldapwhoami", "-x", "-H", e.url(), "-D", dn, "-w", "Wrong-PIN-2026")
			if code != 49 {
				t.Fatalf("wrong PIN: exit %d\n%s", code, out)
			}
			// IfMember cn=julac,ou=groups,...: ldapcompare exits 6 (TRUE) or 5 (FALSE).
			want := 5
			if tt.inJULAC {
				want = 6
			}
			out, code = client(t, nil, "ldapcompare", "-x", "-H", e.url(), "-D", svcDN, "-w", svcPW, julacGrp, "member:"+dn)
			if code != want {
				t.Fatalf("ldapcompare member: exit %d, want %d\n%s", code, want, out)
			}
			out, code = client(t, nil, "ldapcompare", "-x", "-H", e.url(), "-D", svcDN, "-w", svcPW, dn, "memberOf:"+julacGrp)
			if code != want {
				t.Fatalf("ldapcompare memberOf: exit %d, want %d\n%s", code, want, out)
			}
			// The group searched for the member (the other way gateways test groups).
			c := e.dial()
			if err := c.Bind(svcDN, svcPW); err != nil {
				t.Fatal(err)
			}
			res, err := c.Search(searchReq(julacGrp, ldap.ScopeBaseObject, "(member="+dn+")", "cn"))
			if err != nil || (len(res.Entries) == 1) != tt.inJULAC {
				t.Fatalf("group search: %v %v", res, err)
			}
		})
	}
}

// TestKohaFlows: the three flows of C4/Auth_with_ldap.pm.
func TestKohaFlows(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	e := clientsEnv(t, sl, "")
	e.start()
	mapping := []string{"givenName", "sn", "mail", "uid", "employeeType"}

	t.Run("service search then bind on the same connection", func(t *testing.T) {
		c := e.dial()
		if err := c.Bind(svcDN, svcPW); err != nil {
			t.Fatal(err)
		}
		res, err := c.Search(searchReq(people, ldap.ScopeWholeSubtree, "(uid="+julacID+")", mapping...))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("%v %v", res, err)
		}
		if got := res.Entries[0].GetAttributeValue("employeeType"); got != "julac" {
			t.Fatalf("employeetype %q", got)
		}
		if err := c.Bind(res.Entries[0].DN, julacPIN); err != nil {
			t.Fatalf("bind: %v", err)
		}
	})
	t.Run("principal name bind then search to copy attributes", func(t *testing.T) {
		c := e.dial()
		if err := c.Bind(julacID+"@library.example.edu", julacPIN); err != nil {
			t.Fatal(err)
		}
		res, err := c.Search(searchReq(people, ldap.ScopeWholeSubtree, "(uid="+julacID+")", mapping...))
		if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("mail") != "cu1234567@example.edu" {
			t.Fatalf("%v %v", res, err)
		}
		// ... and sees nobody else.
		res, err = c.Search(searchReq(people, ldap.ScopeWholeSubtree, "(uid="+cardID+")", mapping...))
		if err != nil || len(res.Entries) != 0 {
			t.Fatalf("another patron: %v %v", res, err)
		}
	})
	t.Run("bind each match until one succeeds; an unescaped star finds nothing", func(t *testing.T) {
		c := e.dial()
		if err := c.Bind(svcDN, svcPW); err != nil {
			t.Fatal(err)
		}
		for _, typed := range []string{"*", "CU*", "*)(uid=*", "jchan)(|(uid=*"} {
			// Koha builds the filter without escaping what the user typed.
			filter := "(uid=" + typed + ")"
			if _, err := ldap.CompileFilter(filter); err != nil {
				continue // go-ldap refuses to send it
			}
			res, err := c.Search(searchReq(people, ldap.ScopeWholeSubtree, filter, "uid"))
			if err != nil || len(res.Entries) != 0 {
				t.Fatalf("%s: %d entries, %v", filter, len(res.Entries), err)
			}
		}
		res, err := c.Search(searchReq(people, ldap.ScopeWholeSubtree, "(uid=jchan)", "uid"))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("%v %v", res, err)
		}
		for _, en := range res.Entries {
			if err := c.Bind(en.DN, campusPW); err != nil {
				t.Fatalf("bind %s: %v", en.DN, err)
			}
		}
	})
}

// TestApacheFlowWithGoLDAP is what mod_authnz_ldap does, step by step:
// search with the bind DN for exactly one entry, bind as it on the same
// connection, rebind as the search user, Compare for Require ldap-group and
// Require ldap-attribute.
func TestApacheFlowWithGoLDAP(t *testing.T) {
	sl := campusSlapd(t, false)
	e := clientsEnv(t, sl, "")
	e.start()
	c := e.dial()
	for round := range 2 {
		if err := c.Bind(svcDN, svcPW); err != nil {
			t.Fatalf("round %d: bind as the search user: %v", round, err)
		}
		res, err := c.Search(searchReq(people, ldap.ScopeWholeSubtree, "(&(objectClass=person)(uid="+julacID+"))", "uid"))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("User is not unique: %v %v", res, err)
		}
		if err := c.Bind(res.Entries[0].DN, julacPIN); err != nil {
			t.Fatalf("user bind: %v", err)
		}
	}
	if err := c.Bind(svcDN, svcPW); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		dn, attr, value string
		want            bool
	}{
		{julacGrp, "member", personDN(julacID), true},
		{julacGrp, "uniqueMember", personDN(julacID), true},
		{julacGrp, "member", personDN(campusID), false},
		{julacGrp, "member", personDN(cardID), false},
		{personDN(julacID), "employeeType", "JULAC", true}, // Require ldap-attribute employeeType=julac
		{personDN(campusID), "employeeType", "julac", false},
		{personDN(cardID), "employeeNumber", cardID, true},
	} {
		ok, err := c.Compare(tt.dn, tt.attr, tt.value)
		if err != nil || ok != tt.want {
			t.Fatalf("compare %s %s=%s: %v %v, want %v", tt.dn, tt.attr, tt.value, ok, err, tt.want)
		}
	}
}

// TestShibbolethKeycloakFlows: bind with the ppolicy control on a fresh
// connection, read the user's own entry on that connection; Keycloak's
// sync walks everyone with paged results.
func TestShibbolethKeycloakFlows(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	e := clientsEnv(t, sl, "")
	e.start()
	for _, who := range []struct{ id, pw string }{{julacID, julacPIN}, {campusID, campusPW}, {cardID, cardPIN}} {
		c := e.dial()
		ctl := ldap.NewControlBeheraPasswordPolicy()
		res, err := c.SimpleBind(&ldap.SimpleBindRequest{Username: personDN(who.id), Password: who.pw, Controls: []ldap.Control{ctl}})
		if err != nil {
			t.Fatalf("%s: bind with ppolicy: %v", who.id, err)
		}
		if pp, ok := ldap.FindControl(res.Controls, ldap.ControlTypeBeheraPasswordPolicy).(*ldap.ControlBeheraPasswordPolicy); ok && pp.Error >= 0 {
			t.Fatalf("%s: ppolicy error %d on a plain success", who.id, pp.Error)
		}
		own, err := c.Search(searchReq(personDN(who.id), ldap.ScopeBaseObject, "(objectClass=*)", "*", "+"))
		if err != nil || len(own.Entries) != 1 || own.Entries[0].GetAttributeValue("entryUUID") == "" || own.Entries[0].GetAttributeValue("uid") != who.id {
			t.Fatalf("%s: own entry: %v %v", who.id, own, err)
		}
	}
	out, code := client(t, nil, "ldapwhoami", "-x", "-e", "ppolicy", "-H", e.url(), "-D", personDN(julacID), "-w", julacPIN)
	if code != 0 {
		t.Fatalf("ldapwhoami -e ppolicy: exit %d\n%s", code, out)
	}
	// Keycloak's sync: paged, with the listing account.
	c := e.dial()
	if err := c.Bind(syncDN, svcPW); err != nil {
		t.Fatal(err)
	}
	res, err := c.SearchWithPaging(searchReq(people, ldap.ScopeWholeSubtree, "(objectClass=inetOrgPerson)", "uid", "entryUUID", "modifyTimestamp"), 1)
	if err != nil || len(res.Entries) != 4 {
		t.Fatalf("sync: %v, %d entries", err, len(res.Entries))
	}
	uuids := map[string]string{}
	for _, en := range res.Entries {
		uuids[en.DN] = en.GetAttributeValue("entryUUID")
		if uuids[en.DN] == "" {
			t.Fatalf("%s has no entryUUID", en.DN)
		}
	}
	// entryUUID is stable.
	again, err := c.SearchWithPaging(searchReq(people, ldap.ScopeWholeSubtree, "(objectClass=inetOrgPerson)", "entryUUID"), 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range again.Entries {
		if uuids[en.DN] != en.GetAttributeValue("entryUUID") {
			t.Fatalf("%s: entryUUID changed", en.DN)
		}
	}
}

// TestSSSDAndNslcd: the Root DSE reads SSSD makes, StartTLS required
// before a bind, and nslcd's base search of its own DN after binding.
func TestSSSDAndNslcd(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	certs, err := slapdtest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := clientsEnv(t, sl, fmt.Sprintf("require_tls = true\n\n[server.tls]\ncert_file = %q\nkey_file = %q\n", certs.CertFile, certs.KeyFile))
	e.caFile = certs.CAFile
	e.start()
	caEnv := []string{"LDAPTLS_CACERT=" + certs.CAFile, "LDAPTLS_REQCERT=demand"}

	// SSSD reads the Root DSE before it binds.
	anon := e.dial()
	res, err := anon.Search(searchReq("", ldap.ScopeBaseObject, "(objectClass=*)", "*", "altServer", "namingContexts",
		"supportedControl", "supportedExtension", "supportedFeatures", "supportedLDAPVersion", "supportedSASLMechanisms",
		"defaultNamingContext", "lastUSN", "highestCommittedUSN"))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("root DSE: %v %v", res, err)
	}
	dse := res.Entries[0]
	for attr, want := range map[string]string{
		"namingContexts":       suffix,
		"defaultNamingContext": suffix,
		"supportedLDAPVersion": "3",
		"supportedExtension":   "1.3.6.1.4.1.1466.20037", // StartTLS
		"supportedControl":     "1.2.840.113556.1.4.319", // paged results
	} {
		if !contains(dse.GetAttributeValues(attr), want) {
			t.Errorf("root DSE %s = %v, want %s among them", attr, dse.GetAttributeValues(attr), want)
		}
	}
	if !contains(dse.GetAttributeValues("supportedControl"), "1.3.6.1.4.1.42.2.27.8.5.1") {
		t.Errorf("no ppolicy in supportedControl")
	}
	// Cleartext: 13. StartTLS then bind, then nslcd's base search of its own DN.
	out, code := client(t, caEnv, "ldapwhoami", "-x", "-H", e.url(), "-D", personDN(julacID), "-w", julacPIN)
	if code != 13 {
		t.Fatalf("cleartext bind: exit %d, want 13\n%s", code, out)
	}
	for _, who := range []struct{ id, pw string }{{julacID, julacPIN}, {campusID, campusPW}} {
		out, code = client(t, caEnv, "ldapsearch", "-x", "-ZZ", "-LLL", "-H", e.url(), "-D", personDN(who.id), "-w", who.pw,
			"-b", personDN(who.id), "-s", "base", "(objectClass=*)", "uid", "cn")
		if code != 0 || !strings.Contains(out, "dn: "+personDN(who.id)) || !strings.Contains(out, "uid: "+who.id) {
			t.Fatalf("nslcd own-DN read for %s: exit %d\n%s", who.id, code, out)
		}
	}
}

// TestEvergreenSierraFlow: service bind, search on the ID attribute, bind
// as the entry, read the key attribute (employeeNumber, the card number),
// which must find exactly that one patron again.
func TestEvergreenSierraFlow(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	e := clientsEnv(t, sl, "")
	e.start()
	for _, who := range []struct{ id, pw string }{{cardID, cardPIN}, {julacID, julacPIN}, {campusID, campusPW}} {
		c := e.dial()
		if err := c.Bind(svcDN, svcPW); err != nil {
			t.Fatal(err)
		}
		res, err := c.Search(searchReq(people, ldap.ScopeWholeSubtree, "(uid="+ldap.EscapeFilter(who.id)+")", "employeeNumber", "uid"))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("%s: %v %v", who.id, res, err)
		}
		key := res.Entries[0].GetAttributeValue("employeeNumber")
		if key != who.id {
			t.Fatalf("%s: employeeNumber %q", who.id, key)
		}
		if err := c.Bind(res.Entries[0].DN, who.pw); err != nil {
			t.Fatalf("%s: bind: %v", who.id, err)
		}
		out, code := client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-D", svcDN, "-w", svcPW,
			"-b", people, "(employeeNumber="+key+")", "1.1")
		if code != 0 || strings.Count(out, "dn: ") != 1 {
			t.Fatalf("%s: key attribute is not unique (exit %d):\n%s", who.id, code, out)
		}
	}
}

// TestServiceAccountRights: can_search against can_list, networks,
// attributes, and a patron reading only its own entry.
func TestServiceAccountRights(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	e := clientsEnv(t, sl, "")
	e.start()
	count := func(t *testing.T, bindDN, pw, filter string, attrs ...string) (int, string) {
		t.Helper()
		args := append([]string{"-x", "-LLL", "-H", e.url(), "-D", bindDN, "-w", pw, "-b", people, filter}, attrs...)
		out, code := client(t, nil, "ldapsearch", args...)
		if code != 0 {
			t.Fatalf("ldapsearch %s as %s: exit %d\n%s", filter, bindDN, code, out)
		}
		return strings.Count(out, "dn: "), out
	}
	tests := []struct {
		name, bindDN, pw, filter string
		want                     int
	}{
		{"ils: ID look-up", svcDN, svcPW, "(uid=" + julacID + ")", 1},
		{"ils: listing finds nothing", svcDN, svcPW, "(objectClass=person)", 0},
		{"ils: presence finds nothing", svcDN, svcPW, "(uid=*)", 0},
		{"ils: substring finds nothing", svcDN, svcPW, "(cn=Wong*)", 0},
		{"sync: listing", syncDN, svcPW, "(objectClass=person)", 4},
		{"sync: substring on cn", syncDN, svcPW, "(cn=Wong*)", 1},
		{"sync: substring on mail", syncDN, svcPW, "(mail=*@example.edu)", 3},
		{"sync: or and not", syncDN, svcPW, "(&(|(employeeType=julac)(employeeType=staff))(!(uid=jchan)))", 1},
		{"sync: memberOf", syncDN, svcPW, "(memberOf=" + julacGrp + ")", 1},
		{"sync: cn equality on a name", syncDN, svcPW, "(cn=Chan Tai Man)", 1},
		{"sync: escaped star is literal", syncDN, svcPW, `(uid=\2a)`, 0},
		{"patron: own entry", personDN(julacID), julacPIN, "(uid=" + julacID + ")", 1},
		{"patron: another entry", personDN(julacID), julacPIN, "(uid=" + cardID + ")", 0},
		{"patron: no listing", personDN(julacID), julacPIN, "(objectClass=person)", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, out := count(t, tt.bindDN, tt.pw, tt.filter); got != tt.want {
				t.Fatalf("%d entries, want %d\n%s", got, tt.want, out)
			}
		})
	}
	t.Run("patron: base read of another DN is 32", func(t *testing.T) {
		out, code := client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-D", personDN(julacID), "-w", julacPIN,
			"-b", personDN(cardID), "-s", "base")
		if code != 32 {
			t.Fatalf("exit %d, want 32\n%s", code, out)
		}
	})
	t.Run("networks: the gateway may not bind from 127.0.0.1", func(t *testing.T) {
		out, code := client(t, nil, "ldapwhoami", "-x", "-H", e.url(), "-D", "cn=gateway,ou=services,"+suffix, "-w", svcPW)
		if code != 49 {
			t.Fatalf("exit %d, want 49\n%s", code, out)
		}
	})
	t.Run("attributes: narrow reads cn and employeeType only", func(t *testing.T) {
		_, out := count(t, "cn=narrow,ou=services,"+suffix, svcPW, "(uid="+julacID+")", "*", "+")
		if !strings.Contains(out, "cn: Wong Siu Ming") || !strings.Contains(out, "employeeType: julac") || strings.Contains(out, "mail:") || strings.Contains(out, "entryUUID") {
			t.Fatalf("narrow sees:\n%s", out)
		}
		if got, _ := count(t, "cn=narrow,ou=services,"+suffix, svcPW, "(&(uid="+julacID+")(mail=*))"); got != 0 {
			t.Fatalf("a hidden attribute matched a filter")
		}
		out, code := client(t, nil, "ldapcompare", "-x", "-H", e.url(), "-D", "cn=narrow,ou=services,"+suffix, "-w", svcPW,
			personDN(julacID), "mail:cu1234567@example.edu")
		if code != 16 {
			t.Fatalf("compare on a hidden attribute: exit %d, want 16\n%s", code, out)
		}
	})
	t.Run("operational attributes on +", func(t *testing.T) {
		_, out := count(t, svcDN, svcPW, "(uid="+julacID+")", "+")
		for _, a := range []string{"entryUUID: ", "createTimestamp: ", "modifyTimestamp: "} {
			if !strings.Contains(out, a) {
				t.Fatalf("no %s in\n%s", a, out)
			}
		}
	})
	t.Run("scopes and containers", func(t *testing.T) {
		for _, tt := range []struct{ base, scope, want string }{
			{suffix, "base", "dn: " + suffix},
			{people, "base", "dn: " + people},
			{"ou=groups," + suffix, "base", "dn: ou=groups," + suffix},
			{suffix, "one", "dn: ou=services," + suffix},
			{julacGrp, "base", "dn: " + julacGrp},
		} {
			out, code := client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-D", syncDN, "-w", svcPW, "-b", tt.base, "-s", tt.scope, "(objectClass=*)", "1.1")
			if code != 0 || !strings.Contains(out, tt.want) {
				t.Fatalf("%s scope %s: exit %d\n%s", tt.base, tt.scope, code, out)
			}
		}
		out, _ := client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-D", syncDN, "-w", svcPW, "-b", people, "-s", "one", "(uid=*)", "1.1")
		if strings.Count(out, "dn: ") != 4 {
			t.Fatalf("scope one under ou=people:\n%s", out)
		}
	})
}

// TestPagedWalkOf10000Patrons: ldapsearch -E pr=100/noprompt walks 10,000
// imported patrons and the campus users, each once.
func TestPagedWalkOf10000Patrons(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	e := clientsEnv(t, sl, "")
	const n = 10000
	var b strings.Builder
	b.WriteString("id,name,category,pin_hash\n")
	hash := slapdtest.SSHA("Bulk-PIN-2026")
	for i := range n {
		fmt.Fprintf(&b, "PU%07d,Patron %d,julac,%s\n", i, i, hash)
	}
	csv := filepath.Join(e.dir, "patrons.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustCtl("", "import", csv)
	e.start()

	out, code := client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-D", syncDN, "-w", svcPW,
		"-E", "pr=100/noprompt", "-b", people, "(objectClass=person)", "1.1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, tail(out))
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if dn, ok := strings.CutPrefix(line, "dn: "); ok {
			if seen[dn] {
				t.Fatalf("%s twice", dn)
			}
			seen[dn] = true
		}
	}
	if want := n + 2 + 2; len(seen) != want {
		t.Fatalf("walked %d entries, want %d\n%s", len(seen), want, tail(out))
	}
	for _, dn := range []string{personDN("PU0000000"), personDN("PU0009999"), personDN(campusID), personDN(julacID), personDN(cardID)} {
		if !seen[dn] {
			t.Fatalf("%s missing", dn)
		}
	}
	// Without paging the default size_limit (500) applies: 4.
	out, code = client(t, nil, "ldapsearch", "-x", "-LLL", "-H", e.url(), "-D", syncDN, "-w", svcPW, "-b", people, "(objectClass=person)", "1.1")
	if code != 4 || strings.Count(out, "dn: ") != 500 {
		t.Fatalf("unpaged: exit %d, %d entries", code, strings.Count(out, "dn: "))
	}
	// An imported patron binds with its legacy hash.
	if out, code := client(t, nil, "ldapwhoami", "-x", "-H", e.url(), "-D", personDN("PU0004242"), "-w", "Bulk-PIN-2026"); code != 0 {
		t.Fatalf("bulk patron bind: exit %d\n%s", code, out)
	}
	// go-ldap's paging agrees.
	c := e.dial()
	if err := c.Bind(syncDN, svcPW); err != nil {
		t.Fatal(err)
	}
	res, err := c.SearchWithPaging(searchReq(people, ldap.ScopeWholeSubtree, "(cn=Patron 99*)", "uid"), 50)
	if err != nil || len(res.Entries) != 111 { // 99, 990-999, 9900-9999
		t.Fatalf("paged substring: %v, %d entries", err, len(res.Entries))
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// TestApacheModAuthnzLDAP runs a real Apache httpd with mod_authnz_ldap
// against bindery (the config of docs/clients.md): a right PIN gets 200, a
// wrong one 401, and Require ldap-group lets a JULAC patron in and keeps a
// campus user out.
func TestApacheModAuthnzLDAP(t *testing.T) {
	const apache = "/usr/sbin/apache2"
	if _, err := os.Stat(apache); err != nil {
		if os.Getenv("BINDERY_REQUIRE_SLAPD") != "" {
			t.Fatalf("apache2 not installed (scripts/lib/install-apache.sh)")
		}
		t.Skip("apache2 not installed")
	}
	sl := campusSlapd(t, false)
	e := clientsEnv(t, sl, "")
	e.start()

	// The worker processes run as nobody when started as root: the folder
	// must be readable by them (t.TempDir's parent is not).
	dir, err := os.MkdirTemp("", "bindery-apache")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"htdocs/protected", "htdocs/julac", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, "index.html"), []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := slapdtest.FreePort(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "User nobody\nGroup nogroup\n"
	}
	conf := fmt.Sprintf(`ServerRoot %[1]q
ServerName 127.0.0.1
Listen 127.0.0.1:%[2]d
PidFile %[1]s/run/httpd.pid
ErrorLog %[1]s/error.log
LogLevel warn authnz_ldap:debug ldap:debug
%[3]s
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authn_core_module /usr/lib/apache2/modules/mod_authn_core.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_user_module /usr/lib/apache2/modules/mod_authz_user.so
LoadModule auth_basic_module /usr/lib/apache2/modules/mod_auth_basic.so
LoadModule ldap_module /usr/lib/apache2/modules/mod_ldap.so
LoadModule authnz_ldap_module /usr/lib/apache2/modules/mod_authnz_ldap.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
DirectoryIndex index.html
DocumentRoot %[1]s/htdocs
LDAPTrustedMode NONE

<Location /protected>
    AuthType Basic
    AuthName "Library"
    AuthBasicProvider ldap
    AuthLDAPURL "ldap://%[4]s/ou=people,%[5]s?uid?sub?(objectClass=person)"
    AuthLDAPBindDN "%[6]s"
    AuthLDAPBindPassword "%[7]s"
    Require valid-user
</Location>

<Location /julac>
    AuthType Basic
    AuthName "JULAC"
    AuthBasicProvider ldap
    AuthLDAPURL "ldap://%[4]s/ou=people,%[5]s?uid?sub?(objectClass=person)"
    AuthLDAPBindDN "%[6]s"
    AuthLDAPBindPassword "%[7]s"
    AuthLDAPGroupAttribute member
    AuthLDAPGroupAttributeIsDN on
    Require ldap-group cn=julac,ou=groups,%[5]s
</Location>
`, dir, port, user, e.addr, suffix, svcDN, svcPW)
	confPath := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(apache, "-f", confPath, "-DFOREGROUND")
	cmd.Env = append(os.Environ(), "APACHE_RUN_DIR="+dir+"/run", "APACHE_LOCK_DIR="+dir+"/run", "APACHE_LOG_DIR="+dir)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // SIGINT: stop now
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("apache output:\n%s\nerror.log:\n%s", logs.String(), tail(string(errLog)))
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("apache exited: %v", cmd.ProcessState)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apache did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}

	hc := &http.Client{Timeout: 20 * time.Second}
	get := func(path, user, pw string) int {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name, path, user, pw string
		want                 []int
	}{
		{"no credentials", "/protected/", "", "", []int{401}},
		{"JULAC patron", "/protected/", julacID, julacPIN, []int{200}},
		{"JULAC patron lower case", "/protected/", "cu1234567", julacPIN, []int{200}},
		{"wrong PIN", "/protected/", julacID, "Wrong-PIN-2026", []int{401}},
		{"library card", "/protected/", cardID, cardPIN, []int{200}},
		{"campus user", "/protected/", campusID, campusPW, []int{200}},
		{"unknown user", "/protected/", "CU7654321", julacPIN, []int{401}},
		{"star as user name", "/protected/", "*", julacPIN, []int{401}},
		{"group: JULAC patron in", "/julac/", julacID, julacPIN, []int{200}},
		{"group: campus user out", "/julac/", campusID, campusPW, []int{401, 403}},
		{"group: alumni card out", "/julac/", cardID, cardPIN, []int{401, 403}},
		{"group: wrong PIN", "/julac/", julacID, "Wrong-PIN-2026", []int{401}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(tt.path, tt.user, tt.pw)
			for _, w := range tt.want {
				if got == w {
					return
				}
			}
			t.Fatalf("GET %s as %q: %d, want %v", tt.path, tt.user, got, tt.want)
		})
	}
}

// TestNginxLDAPAuthFilter: nginx-ldap-auth-daemon's flow with the filter
// docs/clients.md gives it, --filter '(uid=%(username)s)' (X-Ldap-Template):
// service bind, subtree search with the user name put in unescaped, bind
// as the first DN on the same connection. The daemon's default
// (cn=%(username)s) finds nobody: cn is the person's name in bindery.
func TestNginxLDAPAuthFilter(t *testing.T) {
	sl := campusSlapd(t, false)
	e := clientsEnv(t, sl, "")
	e.start()
	login := func(template, user, pw string) (found int, bindErr error) {
		c := e.dial()
		if err := c.Bind(svcDN, svcPW); err != nil {
			t.Fatal(err)
		}
		filter := strings.ReplaceAll(template, "%(username)s", user) // the daemon's % formatting, no escaping
		if _, err := ldap.CompileFilter(filter); err != nil {
			return 0, err
		}
		res, err := c.Search(searchReq(people, ldap.ScopeWholeSubtree, filter, "objectclass"))
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		if len(res.Entries) == 0 {
			return 0, nil
		}
		return len(res.Entries), c.Bind(res.Entries[0].DN, pw)
	}
	const uidTemplate = "(uid=%(username)s)"
	for _, tt := range []struct {
		user, pw string
		found    int
		code     int
	}{
		{julacID, julacPIN, 1, 0},
		{"cu1234567", julacPIN, 1, 0},
		{cardID, cardPIN, 1, 0},
		{campusID, campusPW, 1, 0},
		{julacID, "Wrong-PIN-2026", 1, 49},
		{"*", julacPIN, 0, 0},
		{"CU*", julacPIN, 0, 0},
	} {
		found, err := login(uidTemplate, tt.user, tt.pw)
		if found != tt.found || ldapCode(err) != tt.code {
			t.Errorf("%s: %d entries, bind %v; want %d entries, code %d", tt.user, found, err, tt.found, tt.code)
		}
	}
	if found, _ := login("(cn=%(username)s)", julacID, julacPIN); found != 0 {
		t.Errorf("the daemon's default (cn=%%(username)s) found %d entries for %s", found, julacID)
	}
}
