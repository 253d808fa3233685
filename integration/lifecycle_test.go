package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/slapdtest"
)

// pinEnv is a PIN store plus a static campus stand-in: the life-cycle
// tests need no upstream directory.
func pinEnv(t *testing.T, serverExtra, extra string) *env {
	t.Helper()
	return newEnv(t, serverExtra, `
[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[[route]]
name = "library-card"
match = '^[0-9]{6,14}$'
backend = "pins"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "%DIR%/pins.db"
`+extra)
}

func whoami(t *testing.T, e *env, dn, pw string, extra ...string) (string, int) {
	t.Helper()
	args := append([]string{"-x", "-H", e.url(), "-D", dn, "-w", pw}, extra...)
	return client(t, nil, "ldapwhoami", args...)
}

// whoamiAfterChange is whoami right after a binderyctl change to the
// account: the running bindery learns of another process's change within
// its watch interval (250 ms), and until then the cache may still answer
// with what it knew (a repeated PIN's failure, say). It tries for 2 s.
func whoamiAfterChange(t *testing.T, e *env, dn, pw string) (string, int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		out, code := whoami(t, e, dn, pw)
		if code == 0 || time.Now().After(deadline) {
			return out, code
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var oneTimePIN = regexp.MustCompile(`One-time PIN for [A-Z0-9]+: (\S+)`)

func TestLifeCycleStatesOverLDAP(t *testing.T) {
	requireClients(t)
	e := pinEnv(t, "", "")
	tomorrow := time.Now().AddDate(0, 0, 2).Format("2006-01-02")
	e.addPatron("CU1000001", "CHAN Active", "Active-PIN-2026", "--category", "julac")
	e.addPatron("CU1000002", "CHAN NoPin", "", "--category", "julac")
	e.addPatron("CU1000003", "CHAN Pending", "Pending-PIN-2026", "--category", "julac", "--active-from", tomorrow)
	e.addPatron("CU1000004", "CHAN Expired", "Expired-PIN-2026", "--category", "julac")
	e.addPatron("CU1000005", "CHAN Suspended", "Suspend-PIN-2026", "--category", "julac")
	e.addPatron("CU1000006", "CHAN Locked", "Locked-PIN-2026", "--category", "julac")
	e.addPatron("CU1000007", "CHAN OldCard", "OldCard-PIN-2026", "--category", "julac")
	e.addPatron("CU1000008", "CHAN Reset", "Before-PIN-2026", "--category", "julac")
	e.mustCtl("", "patron", "expire", "CU1000004")
	e.mustCtl("", "--operator", "counter-1", "patron", "suspend", "CU1000005", "--reason", "lost card reported")
	e.mustCtl("", "card", "replace", "CU1000007", "CU7654321")
	out := e.mustCtl("", "pin", "reset", "CU1000008")
	m := oneTimePIN.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pin reset printed no one-time PIN:\n%s", out)
	}
	otp := m[1]
	e.start()

	// Distinct wrong PINs: the negative cache answers a repeated wrong PIN
	// without counting it again (a client looping on a stale PIN must not
	// lock the patron out).
	for i := 0; i < 5; i++ {
		if _, code := whoami(t, e, personDN("CU1000006"), fmt.Sprintf("Wrong-PIN-%d", 2020+i)); code != 49 {
			t.Fatalf("wrong PIN %d: exit %d", i, code)
		}
	}

	states := []struct {
		id, pin  string
		wantCode int
		explain  string
	}{
		{"CU1000001", "Active-PIN-2026", 0, "active"},
		{"CU1000002", "Anything-2026", 49, "no PIN set: first-time set-up needed"},
		{"CU1000003", "Pending-PIN-2026", 49, "pending until " + tomorrow},
		{"CU1000004", "Expired-PIN-2026", 49, "expired on"},
		{"CU1000005", "Suspend-PIN-2026", 49, "suspended by counter-1 on"},
		{"CU1000006", "Locked-PIN-2026", 49, "locked until"},
		{"CU1000007", "OldCard-PIN-2026", 49, "card replaced by CU7654321 on"},
		{"CU7654321", "OldCard-PIN-2026", 0, "active"},
	}
	for _, s := range states {
		t.Run(s.id, func(t *testing.T) {
			out, code := whoami(t, e, personDN(s.id), s.pin)
			if code != s.wantCode {
				t.Fatalf("bind with the right PIN: exit %d, want %d\n%s", code, s.wantCode, out)
			}
			if s.wantCode == 49 && !strings.Contains(out, "Invalid credentials (49)") {
				t.Fatalf("want a plain 49:\n%s", out)
			}
			// Locked, unknown and wrong-PIN look the same on the wire by default.
			if strings.Contains(strings.ToLower(out), "lock") || strings.Contains(out, "additional info") {
				t.Fatalf("the wire reveals the state:\n%s", out)
			}
			ex := e.mustCtl("", "explain", s.id)
			if !strings.Contains(ex, s.explain) {
				t.Fatalf("explain %s does not say %q:\n%s", s.id, s.explain, ex)
			}
		})
	}
	t.Run("locked shows failures and address", func(t *testing.T) {
		ex := e.mustCtl("", "explain", "CU1000006")
		if !strings.Contains(ex, "5 failures") || !strings.Contains(ex, "127.0.0.1") {
			t.Fatalf("explain of a locked account:\n%s", ex)
		}
		e.mustCtl("", "unlock", "CU1000006")
		if out, code := whoamiAfterChange(t, e, personDN("CU1000006"), "Locked-PIN-2026"); code != 0 {
			t.Fatalf("after unlock: %d\n%s", code, out)
		}
	})
	t.Run("suspend then resume", func(t *testing.T) {
		e.mustCtl("", "patron", "resume", "CU1000005")
		if out, code := whoamiAfterChange(t, e, personDN("CU1000005"), "Suspend-PIN-2026"); code != 0 {
			t.Fatalf("after resume: %d\n%s", code, out)
		}
	})

	t.Run("must change after a counter reset", func(t *testing.T) {
		out, code := whoami(t, e, personDN("CU1000008"), otp, "-e", "ppolicy")
		if !strings.Contains(out, "Password must be changed") {
			t.Fatalf("ldapwhoami -e ppolicy (exit %d) does not say the PIN must be changed:\n%s", code, out)
		}
		// The session is restricted: a base read of the own entry works
		// (nslcd's pam_authc_search BASE), any other search gets 50 with
		// OpenLDAP's text.
		c := e.dial()
		if err := c.Bind(personDN("CU1000008"), otp); err != nil {
			t.Fatalf("bind with the one-time PIN: %v", err)
		}
		own, err := c.Search(ldap.NewSearchRequest(personDN("CU1000008"), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", nil, nil))
		if err != nil || len(own.Entries) != 1 {
			t.Fatalf("own entry in a must-change session: %v %v", own, err)
		}
		_, err = c.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=CU1000008)", nil, nil))
		if ldapCode(err) != ldap.LDAPResultInsufficientAccessRights || !strings.Contains(err.Error(), "Operations are restricted to bind/unbind/abandon/StartTLS/modify password") {
			t.Fatalf("search in a must-change session: %v", err)
		}
		// ldappasswd with the one-time PIN as the old one sets the new PIN.
		out, code = client(t, nil, "ldappasswd", "-x", "-H", e.url(), "-D", personDN("CU1000008"), "-w", otp, "-a", otp, "-s", "After-PIN-2026")
		if code != 0 {
			t.Fatalf("ldappasswd: exit %d\n%s", code, out)
		}
		if out, code := whoami(t, e, personDN("CU1000008"), "After-PIN-2026", "-e", "ppolicy"); code != 0 || strings.Contains(out, "must be changed") {
			t.Fatalf("after the change: exit %d\n%s", code, out)
		}
		if _, code := whoami(t, e, personDN("CU1000008"), otp); code != 49 {
			t.Fatalf("the one-time PIN still works")
		}
	})
}

func TestPasswordModifyOutcomes(t *testing.T) {
	requireClients(t)
	e := pinEnv(t, "", "")
	// A category that may not change its own PIN.
	cfg, _ := os.ReadFile(e.cfgPath)
	cfg = []byte(strings.Replace(string(cfg), "[pin_policy.argon2]", "[pin_policy]\nno_change_categories = [\"guest\"]\n\n[pin_policy.argon2]", 1))
	os.WriteFile(e.cfgPath, cfg, 0o600)
	e.addPatron("CU2000001", "LAM Self", "First-PIN-2026", "--category", "julac")
	e.addPatron("CU2000002", "LAM Guest", "Guest-PIN-2026", "--category", "guest")
	e.addPatron("20240001", "LAM Card", "Card-PIN-2026", "--category", "public")
	e.start()
	dn := personDN("CU2000001")

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantText string
	}{
		{"wrong old PIN", []string{"-D", dn, "-w", "First-PIN-2026", "-a", "Not-The-PIN-1", "-s", "Second-PIN-2026"}, 53, "unwilling to verify old password"},
		{"too short", []string{"-D", dn, "-w", "First-PIN-2026", "-a", "First-PIN-2026", "-s", "Short-1"}, 19, "Additional info: PIN must be 10 to 20 characters long\n"},
		{"one class", []string{"-D", dn, "-w", "First-PIN-2026", "-a", "First-PIN-2026", "-s", "abcdefghijkl"}, 19, "Additional info: PIN must use at least 2 of: letters, digits, special characters\n"},
		{"non-ASCII", []string{"-D", dn, "-w", "First-PIN-2026", "-a", "First-PIN-2026", "-s", "密碼密碼密碼1234"}, 19,
			"Additional info: PIN must use at least 2 of: letters, digits, special characters; PIN character 1 is not allowed: use only letters, digits and printable ASCII symbols; PIN character 2 is not allowed: use only letters, digits and printable ASCII symbols; PIN character 3 is not allowed: use only letters, digits and printable ASCII symbols; and 3 more\n"},
		{"category may not change", []string{"-D", personDN("CU2000002"), "-w", "Guest-PIN-2026", "-a", "Guest-PIN-2026", "-s", "Second-PIN-2026"}, 50, ""},
		{"self change", []string{"-D", dn, "-w", "First-PIN-2026", "-a", "First-PIN-2026", "-s", "Second-PIN-2026"}, 0, ""},
		{"service reset", []string{"-D", svcDN, "-w", svcPW, "-s", "Reset-PIN-2026", personDN("20240001")}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// ldappasswd exits 1 on any error and prints "Result: <text> (<code>)".
			out, code := client(t, nil, "ldappasswd", append([]string{"-x", "-H", e.url()}, tt.args...)...)
			if tt.wantCode == 0 {
				if code != 0 {
					t.Fatalf("ldappasswd exit %d:\n%s", code, out)
				}
				return
			}
			if code != 1 || !strings.Contains(out, fmt.Sprintf("(%d)", tt.wantCode)) || !strings.Contains(out, tt.wantText) {
				t.Fatalf("ldappasswd exit %d, want result %d with %q:\n%s", code, tt.wantCode, tt.wantText, out)
			}
		})
	}
	// Without binding: 50.
	anon := e.dial()
	if _, err := anon.PasswordModify(ldap.NewPasswordModifyRequest(dn, "First-PIN-2026", "Other-PIN-2026")); ldapCode(err) != ldap.LDAPResultInsufficientAccessRights {
		t.Fatalf("anonymous Password Modify: %v, want 50", err)
	}
	if _, code := whoami(t, e, dn, "Second-PIN-2026"); code != 0 {
		t.Fatalf("the changed PIN does not work")
	}
	if _, code := whoami(t, e, dn, "First-PIN-2026"); code != 49 {
		t.Fatalf("the old PIN still works")
	}
	if _, code := whoami(t, e, personDN("20240001"), "Reset-PIN-2026"); code != 0 {
		t.Fatalf("the service-reset PIN does not work")
	}

	// A generated PIN (no -s): ldappasswd prints it, and it works.
	out, code := client(t, nil, "ldappasswd", "-x", "-H", e.url(), "-D", dn, "-w", "Second-PIN-2026", "-a", "Second-PIN-2026")
	m := regexp.MustCompile(`New password: (\S+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("generated PIN: exit %d\n%s", code, out)
	}
	if _, code := whoami(t, e, dn, m[1]); code != 0 {
		t.Fatalf("the generated PIN does not work")
	}

	// go-ldap's PasswordModify, with the ppolicy control on the bind.
	c := e.dial()
	if err := c.Bind(dn, m[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", m[1], "Third-PIN-2026")); err != nil {
		t.Fatalf("go-ldap PasswordModify: %v", err)
	}
	if _, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", "Third-PIN-2026", "tiny")); ldapCode(err) != ldap.LDAPResultConstraintViolation {
		t.Fatalf("go-ldap PasswordModify with a bad PIN: %v", err)
	}
}

func TestADDiagnostics(t *testing.T) {
	requireClients(t)
	e := pinEnv(t, `diagnostics = "ad"`, "")
	e.addPatron("CU3000001", "HO Locked", "Locked-PIN-2026")
	e.addPatron("CU3000002", "HO Suspended", "Suspend-PIN-2026")
	e.addPatron("CU3000003", "HO Expired", "Expired-PIN-2026")
	e.addPatron("CU3000004", "HO NoPin", "")
	e.mustCtl("", "patron", "suspend", "CU3000002", "--reason", "test")
	e.mustCtl("", "patron", "expire", "CU3000003")
	e.start()
	for i := 0; i < 5; i++ {
		whoami(t, e, personDN("CU3000001"), fmt.Sprintf("Wrong-PIN-%d", 2020+i))
	}
	for _, tt := range []struct{ id, pin, data string }{
		{"CU3000001", "Locked-PIN-2026", "data 775"},
		{"CU3000002", "Suspend-PIN-2026", "data 533"},
		{"CU3000003", "Expired-PIN-2026", "data 701"},
		{"CU3000004", "Whatever-PIN-1", "data 773"},
		{"CU9999999", "Whatever-PIN-1", "data 52e"},
		{"CU3000002", "Wrong-PIN-2026", "data 533"},
	} {
		out, code := whoami(t, e, personDN(tt.id), tt.pin)
		if code != 49 || !strings.Contains(out, tt.data) || !strings.Contains(out, "AcceptSecurityContext error") {
			t.Fatalf("%s: exit %d, want 49 with %q:\n%s", tt.id, code, tt.data, out)
		}
	}
}

func TestRequirePatronOnCampusRoute(t *testing.T) {
	requireClients(t)
	sl := campusSlapd(t, false)
	e := newEnv(t, "", fmt.Sprintf(`
[[route]]
name = "julac"
match = '^(CU|BU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[[route]]
name = "campus"
match = '^[a-z][a-z0-9]{1,15}$'
case = "lower"
backend = "campus"
require_patron = true

[backend.campus]
type = "ldap"
urls = [%q]
bind_dn = %q
bind_password = %q
base_dn = "ou=people,dc=example,dc=org"
timeout = "2s"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "%%DIR%%/pins.db"
`, sl.URL(), sl.AdminDN(), sl.AdminPassword()))
	e.start()
	// The portal password is right, but there is no library account yet.
	if out, code := whoami(t, e, personDN(campusID), campusPW); code != 49 {
		t.Fatalf("campus bind without a library account: exit %d\n%s", code, out)
	}
	ex := e.mustCtl("", "explain", campusID)
	if !strings.Contains(ex, "campus") {
		t.Fatalf("explain of a campus ID:\n%s", ex)
	}
	// The library account becomes ready.
	e.mustCtl("", "patron", "add", campusID, "--name", "CHAN Tai Man", "--category", "staff")
	if out, code := whoami(t, e, personDN(campusID), campusPW); code != 0 {
		t.Fatalf("campus bind with an active library account: exit %d\n%s", code, out)
	}
	e.mustCtl("", "patron", "suspend", campusID, "--reason", "fines")
	if _, code := whoami(t, e, personDN(campusID), campusPW); code != 49 {
		t.Fatalf("campus bind with a suspended library account succeeded")
	}
}

func TestImportLegacyHashesRehashOnBind(t *testing.T) {
	requireClients(t)
	e := pinEnv(t, "", "")
	pin := "Legacy-PIN-2026"
	rows := []struct{ id, hash string }{
		{"CU4000001", slapdtest.SSHA(pin)},
		{"CU4000002", legacyHash(t, "{SHA}", pin)},
		{"CU4000003", legacyHash(t, "{SSHA256}", pin)},
		{"CU4000004", legacyHash(t, "{SSHA512}", pin)},
		{"CU4000005", legacyHash(t, "bcrypt", pin)},
	}
	var csv strings.Builder
	csv.WriteString("id,name,email,category,institution,active_from,expires,status,pin_hash,must_change\n")
	for _, r := range rows {
		fmt.Fprintf(&csv, "%s,Migrated %s,,julac,,,,,%s,\n", r.id, r.id, r.hash)
	}
	// A migrated patron who must change the PIN at first login.
	fmt.Fprintf(&csv, "CU4000006,Migrated Six,,julac,,,,,%s,true\n", slapdtest.SSHA(pin))
	// Bad rows: reported with their line numbers, the rest still loads.
	csv.WriteString("CU4000007,Bad Date,,julac,,2026-13-45,,,,\n")
	csv.WriteString("CU4000008,Plain PIN,,julac,,,,,Legacy-PIN-2026,\n")
	csv.WriteString(",No ID,,julac,,,,,,\n")
	path := filepath.Join(e.dir, "import.csv")
	os.WriteFile(path, []byte(csv.String()), 0o600)

	out, err := e.ctl("", "import", path)
	if err == nil {
		t.Fatalf("import with bad rows exited 0:\n%s", out)
	}
	for _, want := range []string{"line 8", "line 9", "line 10", "created 6"} {
		if !strings.Contains(out, want) {
			t.Fatalf("import output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, pin) {
		t.Fatalf("import output echoes a PIN")
	}
	// Idempotent: a second run updates, never duplicates.
	out, _ = e.ctl("", "import", path)
	if !strings.Contains(out, "created 0") {
		t.Fatalf("second import created rows:\n%s", out)
	}
	e.start()
	for _, r := range rows {
		if out, code := whoami(t, e, personDN(r.id), pin); code != 0 {
			t.Fatalf("%s (%s): exit %d\n%s", r.id, r.hash[:6], code, out)
		}
		if _, code := whoami(t, e, personDN(r.id), "Wrong-PIN-2026"); code != 49 {
			t.Fatalf("%s: wrong PIN accepted", r.id)
		}
	}
	out, code := whoami(t, e, personDN("CU4000006"), pin, "-e", "ppolicy")
	if !strings.Contains(out, "Password must be changed") {
		t.Fatalf("migrated must-change patron: exit %d\n%s", code, out)
	}
	// Every legacy hash was upgraded to argon2id by the successful bind.
	exp := e.mustCtl("", "export", "--with-hashes")
	for _, r := range rows {
		line := ""
		for _, l := range strings.Split(exp, "\n") {
			if strings.HasPrefix(l, r.id+",") {
				line = l
			}
		}
		if !strings.Contains(line, "$argon2id$") {
			t.Fatalf("%s not rehashed to argon2id: %q", r.id, line)
		}
	}
}

// TestNegativeCacheCountsARepeatedWrongPINOnce: a client retrying the same
// stale PIN in a loop is answered 49 each time but counted once, so it
// cannot lock the patron out; a different wrong PIN still counts.
func TestNegativeCacheCountsARepeatedWrongPINOnce(t *testing.T) {
	e := pinEnv(t, "", "")
	e.addPatron("CU5000002", "YIP Loop", "Right-PIN-2026")
	e.start()
	c := e.dial()
	// Six tries: past the lockout threshold of 5 (the throttle holds the
	// later ones for 1s, 2s, 4s, which keeps the loop slow).
	for i := 0; i < 6; i++ {
		if err := c.Bind(personDN("CU5000002"), "Stale-PIN-2025"); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
			t.Fatalf("stale PIN %d: %v", i, err)
		}
	}
	if err := c.Bind(personDN("CU5000002"), "Right-PIN-2026"); err != nil {
		t.Fatalf("after six identical wrong PINs the patron is locked out: %v", err)
	}
	ex := e.mustCtl("", "explain", "CU5000002")
	if !strings.Contains(ex, "active") {
		t.Fatalf("explain:\n%s", ex)
	}
}

// TestConcurrentWrongBindsCountExactly sends 50 wrong binds at once over
// LDAP from separate connections: the store records exactly the lockout
// threshold and locks, with no lost update. The default [hashing] admits
// all 50 to wait (none gets 51).
func TestConcurrentWrongBindsCountExactly(t *testing.T) {
	e := pinEnv(t, "", "")
	e.addPatron("CU5000001", "YIP Race", "Right-PIN-2026")
	e.start()
	var wg sync.WaitGroup
	codes := make(chan int, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ldap.DialURL(e.url())
			if err != nil {
				codes <- -1
				return
			}
			defer c.Close()
			// Distinct wrong PINs, so that neither the negative cache nor
			// coalescing keeps any of them from the store.
			codes <- ldapCode(c.Bind(personDN("CU5000001"), fmt.Sprintf("Wrong-PIN-%04d", i)))
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != ldap.LDAPResultInvalidCredentials {
			t.Fatalf("a concurrent wrong bind got %d", code)
		}
	}
	var p struct {
		State   string `json:"state"`
		Account struct {
			FailureCount int `json:"failure_count"`
		} `json:"account"`
	}
	out := e.mustCtl("", "--json", "explain", "CU5000001")
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("explain --json: %v\n%s", err, out)
	}
	if p.Account.FailureCount != 5 || p.State != "locked" {
		t.Fatalf("after 50 concurrent wrong binds: %+v, want 5 failures and locked\n%s", p, out)
	}
}
