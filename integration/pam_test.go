package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/slapdtest"
)

// Linux log-ins through bindery: nslcd + pam_ldap and SSSD (id_provider
// ldap with [posix], and id_provider files with auth_provider ldap), each
// driven by pamtester with a PAM service file of the test's own, and NSS
// look-ups with `getent -s` (no change to /etc/nsswitch.conf).
//
// The daemons read fixed paths: nslcd only /etc/nslcd.conf, SSSD its
// caches under /var/lib/sss. Each runs in a mount namespace of its own
// (unshare) where the test's config file is bind-mounted over
// /etc/nslcd.conf, and a temporary folder over SSSD's db and mc folders,
// so nothing under /etc or /var/lib/sss is written; only the sockets the
// PAM and NSS modules reach (/run/nslcd, /var/lib/sss/pipes) are shared,
// and removed again. The system's common-* PAM files are never used. A
// lock file keeps two runs of a daemon (another worktree's test) apart.

const pamPatrons = `
[posix]
enabled = true

[posix.groups]
julac = 20001
staff = 20003
`

// Patrons of the PAM tests: each daemon has its own so that PIN changes
// do not meet.
type pamPeople struct {
	mustChange, mustChangeOTP string // a one-time PIN from pin reset
	changer                   string // changes its PIN with chauthtok
}

const changerPIN = "Changer-PIN-2026"

func requirePAM(t *testing.T, probes ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("PAM/NSS daemons need root")
	}
	for _, p := range probes {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("BINDERY_REQUIRE_SLAPD") != "" {
				t.Fatalf("%s missing (scripts/lib/install-clients.sh)", p)
			}
			t.Skipf("%s missing", p)
		}
	}
}

// lockFile takes an exclusive lock on path for the test's lifetime.
func lockFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// pamService writes /etc/pam.d/<name> and removes it at the end.
func pamService(t *testing.T, name, module string) string {
	t.Helper()
	path := "/etc/pam.d/" + name
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("%s exists already", path)
	}
	conf := fmt.Sprintf("# written by bindery's integration test; removed when it ends\nauth     required %[1]s\naccount  required %[1]s\npassword required %[1]s\nsession  required pam_permit.so\n", module)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return name
}

// pamtester runs pamtester with the lines of stdin as the answers, as
// the unprivileged user nobody: pam_sss refuses a password change asked by
// root ("Password reset by root is not supported"), and pam_ldap would
// use nslcd's rootpwmoddn for root.
func pamtester(t *testing.T, service, user, stdin string, ops ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "pamtester", "-v", service, user}, ops...)
	cmd := exec.CommandContext(ctx, "setpriv", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("pamtester: %v", err)
	return "", -1
}

// getent runs getent -s <service>.
func getent(t *testing.T, service string, args ...string) (string, int) {
	t.Helper()
	return client(t, nil, "getent", append([]string{"-s", service}, args...)...)
}

// daemon is a process started in its own mount namespace, stopped by PID.
type daemon struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// startNamespaced runs argv after bind-mounting each src over dst, in a
// private mount namespace.
func startNamespaced(t *testing.T, binds [][2]string, argv ...string) *daemon {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, b := range binds {
		fmt.Fprintf(&script, "mount --bind %q %q\n", b[0], b[1])
	}
	script.WriteString(`exec "$@"` + "\n")
	args := append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script.String(), "sh"}, argv...)
	d := &daemon{cmd: exec.Command("unshare", args...), logs: &syncBuffer{}, done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", argv[0], tail(d.logs.String()))
		}
	})
	return d
}

// waitFor polls fn until it is true or the deadline passes.
func (d *daemon) waitFor(t *testing.T, what string, fn func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-d.done:
			t.Fatalf("daemon exited before %s: %v\n%s", what, d.cmd.ProcessState, tail(d.logs.String()))
		default:
		}
		if fn() {
			return
		}
	}
	t.Fatalf("no %s within 30s\n%s", what, tail(d.logs.String()))
}

// removeNew removes entries of dir that were not in before.
func removeNew(dir string, before map[string]bool) {
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if !before[en.Name()] {
			os.RemoveAll(filepath.Join(dir, en.Name()))
		}
	}
}

func listDir(dir string) map[string]bool {
	out := map[string]bool{}
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		out[en.Name()] = true
	}
	return out
}

// pamEnv is the bindery the PAM tests share: StartTLS, [posix], a campus
// slapd, and the patrons of each daemon.
func pamEnv(t *testing.T, daemons ...string) (*env, string, map[string]pamPeople) {
	sl := campusSlapd(t, false)
	certs, err := slapdtest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := clientsEnv(t, sl, fmt.Sprintf("\n[server.tls]\ncert_file = %q\nkey_file = %q\n", certs.CertFile, certs.KeyFile)+pamPatrons)
	e.caFile = certs.CAFile
	people := map[string]pamPeople{}
	for i, d := range daemons {
		p := pamPeople{mustChange: fmt.Sprintf("CU300000%d", i), changer: fmt.Sprintf("CU300001%d", i)}
		e.addPatron(p.mustChange, "Must Change "+d, "", "--category", "julac")
		out := e.mustCtl("", "pin", "reset", p.mustChange)
		m := oneTimePIN.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("pin reset printed no one-time PIN:\n%s", out)
		}
		p.mustChangeOTP = m[1]
		e.addPatron(p.changer, "Changer "+d, changerPIN, "--category", "julac")
		people[d] = p
	}
	e.start()
	return e, certs.CAFile, people
}

// loginFlows are the PAM checks both daemons pass.
func loginFlows(t *testing.T, service string, p pamPeople, nssService string) {
	t.Run("right PIN", func(t *testing.T) {
		if out, rc := pamtester(t, service, julacID, julacPIN+"\n", "authenticate", "acct_mgmt"); rc != 0 {
			t.Fatalf("exit %d\n%s", rc, out)
		}
	})
	t.Run("wrong PIN", func(t *testing.T) {
		out, rc := pamtester(t, service, julacID, "Wrong-PIN-2026\n", "authenticate")
		if rc == 0 || !strings.Contains(out, "Authentication failure") {
			t.Fatalf("exit %d\n%s", rc, out)
		}
	})
	t.Run("campus user", func(t *testing.T) {
		if out, rc := pamtester(t, service, campusID, campusPW+"\n", "authenticate", "acct_mgmt"); rc != 0 {
			t.Fatalf("exit %d\n%s", rc, out)
		}
		if out, rc := pamtester(t, service, campusID, "nope-nope-1\n", "authenticate"); rc == 0 {
			t.Fatalf("wrong campus password accepted\n%s", out)
		}
	})
	t.Run("chauthtok", func(t *testing.T) {
		const newPIN = "Renewed-PIN-2026"
		// A PIN that breaks the rules is refused; the old PIN still works.
		out, rc := pamtester(t, service, p.changer, changerPIN+"\nshort\nshort\n", "chauthtok")
		if rc == 0 {
			t.Fatalf("a short PIN was accepted\n%s", out)
		}
		out, rc = pamtester(t, service, p.changer, changerPIN+"\n"+newPIN+"\n"+newPIN+"\n", "chauthtok")
		if rc != 0 {
			t.Fatalf("chauthtok: exit %d\n%s", rc, out)
		}
		if out, rc := pamtester(t, service, p.changer, newPIN+"\n", "authenticate"); rc != 0 {
			t.Fatalf("new PIN: exit %d\n%s", rc, out)
		}
		if out, rc := pamtester(t, service, p.changer, changerPIN+"\n", "authenticate"); rc == 0 {
			t.Fatalf("old PIN still accepted\n%s", out)
		}
	})
	t.Run("must-change patron", func(t *testing.T) {
		// The one-time PIN authenticates, the account then asks for a
		// new PIN; chauthtok sets it; the new PIN logs in.
		out, rc := pamtester(t, service, p.mustChange, p.mustChangeOTP+"\n", "authenticate", "acct_mgmt")
		if rc == 0 || !strings.Contains(strings.ToLower(out), "new one required") {
			t.Fatalf("must-change log-in: exit %d, want a new-token-required refusal\n%s", rc, out)
		}
		const newPIN = "Own-New-PIN-2026"
		if out, rc := pamtester(t, service, p.mustChange, p.mustChangeOTP+"\n"+newPIN+"\n"+newPIN+"\n", "chauthtok"); rc != 0 {
			t.Fatalf("chauthtok of a one-time PIN: exit %d\n%s", rc, out)
		}
		if out, rc := pamtester(t, service, p.mustChange, newPIN+"\n", "authenticate", "acct_mgmt"); rc != 0 {
			t.Fatalf("after the change: exit %d\n%s", rc, out)
		}
	})
	if nssService == "" {
		return
	}
	t.Run("NSS", func(t *testing.T) {
		out, rc := getent(t, nssService, "passwd", julacID)
		fields := strings.Split(strings.TrimSpace(out), ":")
		if rc != 0 || len(fields) != 7 || fields[0] != julacID || fields[3] != "20001" || fields[6] != "/usr/sbin/nologin" {
			t.Fatalf("getent passwd %s: exit %d\n%s", julacID, rc, out)
		}
		uid := fields[2]
		if out, rc := getent(t, nssService, "passwd", uid); rc != 0 || !strings.HasPrefix(out, julacID+":") {
			t.Fatalf("getent passwd %s: exit %d\n%s", uid, rc, out)
		}
		if out, rc := getent(t, nssService, "passwd", campusID); rc != 0 || !strings.HasPrefix(out, campusID+":") || !strings.Contains(out, ":20003:") {
			t.Fatalf("getent passwd %s: exit %d\n%s", campusID, rc, out)
		}
		if out, rc := getent(t, nssService, "group", "julac"); rc != 0 || !strings.HasPrefix(out, "julac:") || !strings.Contains(out, ":20001:") {
			t.Fatalf("getent group julac: exit %d\n%s", rc, out)
		}
		if out, rc := getent(t, nssService, "passwd", "CU9999999"); rc != 2 {
			t.Fatalf("an unknown patron: exit %d\n%s", rc, out)
		}
	})
}

// TestNslcdPAM: nslcd with the documented nslcd.conf (StartTLS,
// pam_authc_search BASE, the default) and pam_ldap.
func TestNslcdPAM(t *testing.T) {
	t.Parallel() // after the sequential tests, two at a time: they share nothing
	requireClients(t)
	requirePAM(t, "/usr/sbin/nslcd", "/usr/bin/pamtester", "/etc/nslcd.conf")
	lockFile(t, "/run/lock/bindery-test-nslcd.lock")
	e, ca, people := pamEnv(t, "nslcd")
	dir, err := os.MkdirTemp("", "bindery-nslcd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "nslcd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`# bindery's integration test (docs/clients.md)
uri %s
base %s
binddn %s
bindpw %s
ssl start_tls
tls_reqcert demand
tls_cacertfile %s
pam_authc_search BASE
`, e.url(), suffix, svcDN, svcPW, ca)), 0o600); err != nil {
		t.Fatal(err)
	}
	createdRun := false
	if _, err := os.Stat("/run/nslcd"); err != nil {
		if err := os.MkdirAll("/run/nslcd", 0o755); err != nil {
			t.Fatal(err)
		}
		createdRun = true
	}
	before := listDir("/run/nslcd")
	t.Cleanup(func() {
		removeNew("/run/nslcd", before)
		if createdRun {
			os.Remove("/run/nslcd")
		}
	})
	d := startNamespaced(t, [][2]string{{conf, "/etc/nslcd.conf"}}, "/usr/sbin/nslcd", "-d")
	d.waitFor(t, "nslcd socket", func() bool { _, err := os.Stat("/run/nslcd/socket"); return err == nil })
	service := pamService(t, fmt.Sprintf("bindery-test-nslcd-%d", os.Getpid()), "pam_ldap.so")
	loginFlows(t, service, people["nslcd"], "ldap")
}

// TestSSSDPAM: SSSD run in the foreground (sssd -i) with its own config
// file: a domain with id_provider = ldap over the [posix] view, and one
// with id_provider = files (its own passwd file) and auth_provider = ldap,
// as docs/clients.md shows them; pam_sss and getent -s sss.
func TestSSSDPAM(t *testing.T) {
	t.Parallel() // after the sequential tests, two at a time: they share nothing
	requireClients(t)
	requirePAM(t, "/usr/sbin/sssd", "/usr/bin/pamtester", "/var/lib/sss/pipes")
	lockFile(t, "/run/lock/bindery-test-sssd.lock")
	e, ca, people := pamEnv(t, "ldap", "files")
	dir, err := os.MkdirTemp("", "bindery-sssd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"db", "mc", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The files domain: its own passwd and group files.
	fp := people["files"]
	passwd := fmt.Sprintf("%s:x:3100:20001:Files Patron:/nonexistent:/usr/sbin/nologin\n%s:x:3101:20001:Must Change:/nonexistent:/usr/sbin/nologin\n%s:x:3102:20001:Changer:/nonexistent:/usr/sbin/nologin\n",
		julacID, fp.mustChange, fp.changer)
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "group"), []byte("julacfiles:x:20001:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ldapOpts := fmt.Sprintf(`ldap_uri = %s
ldap_search_base = %s
ldap_id_use_start_tls = true
ldap_tls_reqcert = demand
ldap_tls_cacert = %s
ldap_default_bind_dn = %s
ldap_default_authtok = %s
ldap_pwd_policy = none
cache_credentials = false
`, e.url(), suffix, ca, svcDN, svcPW)
	conf := filepath.Join(dir, "sssd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`# bindery's integration test (docs/clients.md)
[sssd]
services = nss, pam
domains = library, libfiles

[nss]

[pam]

[domain/library]
id_provider = ldap
auth_provider = ldap
chpass_provider = ldap
ldap_schema = rfc2307
ldap_user_uuid = entryUUID
%[1]s
[domain/libfiles]
id_provider = files
passwd_files = %[2]s/passwd
group_files = %[2]s/group
auth_provider = ldap
chpass_provider = ldap
use_fully_qualified_names = true
ldap_user_object_class = inetOrgPerson
ldap_user_name = uid
%[1]s`, ldapOpts, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	pipes := "/var/lib/sss/pipes"
	before, beforePriv := listDir(pipes), listDir(pipes+"/private")
	t.Cleanup(func() {
		removeNew(pipes+"/private", beforePriv)
		removeNew(pipes, before)
	})
	d := startNamespaced(t, [][2]string{{filepath.Join(dir, "db"), "/var/lib/sss/db"}, {filepath.Join(dir, "mc"), "/var/lib/sss/mc"}},
		"/usr/sbin/sssd", "-i", "-c", conf, "--logger=stderr", "-d", "2")
	d.waitFor(t, "SSSD's pam and nss sockets", func() bool {
		_, err1 := os.Stat(pipes + "/pam")
		_, err2 := os.Stat(pipes + "/nss")
		return err1 == nil && err2 == nil
	})
	service := pamService(t, fmt.Sprintf("bindery-test-sssd-%d", os.Getpid()), "pam_sss.so")
	d.waitFor(t, "the library domain online", func() bool {
		_, rc := getent(t, "sss", "passwd", julacID)
		return rc == 0
	})
	t.Run("id_provider=ldap", func(t *testing.T) { loginFlows(t, service, people["ldap"], "sss") })
	t.Run("id_provider=files", func(t *testing.T) {
		fq := func(p pamPeople) pamPeople {
			return pamPeople{mustChange: p.mustChange + "@libfiles", mustChangeOTP: p.mustChangeOTP, changer: p.changer + "@libfiles"}
		}
		fpq := fq(fp)
		t.Run("right PIN", func(t *testing.T) {
			if out, rc := pamtester(t, service, julacID+"@libfiles", julacPIN+"\n", "authenticate", "acct_mgmt"); rc != 0 {
				t.Fatalf("exit %d\n%s", rc, out)
			}
		})
		t.Run("wrong PIN", func(t *testing.T) {
			if out, rc := pamtester(t, service, julacID+"@libfiles", "Wrong-PIN-2026\n", "authenticate"); rc == 0 {
				t.Fatalf("accepted\n%s", out)
			}
		})
		t.Run("chauthtok", func(t *testing.T) {
			const newPIN = "Files-New-PIN-2026"
			if out, rc := pamtester(t, service, fpq.changer, changerPIN+"\n"+newPIN+"\n"+newPIN+"\n", "chauthtok"); rc != 0 {
				t.Fatalf("exit %d\n%s", rc, out)
			}
			if out, rc := pamtester(t, service, fpq.changer, newPIN+"\n", "authenticate"); rc != 0 {
				t.Fatalf("new PIN: exit %d\n%s", rc, out)
			}
		})
		t.Run("must-change patron", func(t *testing.T) {
			if out, rc := pamtester(t, service, fpq.mustChange, fpq.mustChangeOTP+"\n", "authenticate", "acct_mgmt"); rc == 0 || !strings.Contains(strings.ToLower(out), "new one required") {
				t.Fatalf("exit %d, want a new-token-required refusal\n%s", rc, out)
			}
			const newPIN = "Files-Own-PIN-2026"
			if out, rc := pamtester(t, service, fpq.mustChange, fpq.mustChangeOTP+"\n"+newPIN+"\n"+newPIN+"\n", "chauthtok"); rc != 0 {
				t.Fatalf("chauthtok: exit %d\n%s", rc, out)
			}
			if out, rc := pamtester(t, service, fpq.mustChange, newPIN+"\n", "authenticate", "acct_mgmt"); rc != 0 {
				t.Fatalf("after the change: exit %d\n%s", rc, out)
			}
		})
		t.Run("NSS from the file", func(t *testing.T) {
			if out, rc := getent(t, "sss", "passwd", julacID+"@libfiles"); rc != 0 || !strings.Contains(out, ":3100:") {
				t.Fatalf("exit %d\n%s", rc, out)
			}
		})
	})
}
