package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/slapdtest"
)

// run runs a command and returns its combined output; a failure fails
// the test unless allowFail.
func run(t *testing.T, allowFail bool, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil && !allowFail {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), err
}

// dpkg runs dpkg, waiting while another apt or dpkg holds the lock (the
// machine's package database is shared).
func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(3 * time.Second) {
		out, err := run(t, true, "dpkg", args...)
		if err == nil {
			return out
		}
		if !strings.Contains(out, "lock") || time.Now().After(deadline) {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func installed(t *testing.T) bool {
	out, err := run(t, true, "dpkg-query", "-W", "-f=${db:Status-Status}", "bindery")
	return err == nil && strings.TrimSpace(out) != "not-installed" && strings.TrimSpace(out) != ""
}

// buildPackage runs scripts/package.sh with a version and returns the .deb.
func buildPackage(t *testing.T, version string) string {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("../scripts/package.sh")
	cmd.Env = append(os.Environ(), "BINDERY_VERSION="+version)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/package.sh: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	deb, _ := filepath.Abs(filepath.Join("..", lines[len(lines)-1]))
	t.Logf("built %s in %v", filepath.Base(deb), time.Since(start).Round(time.Second))
	return deb
}

// mode returns "0750 root:bindery" for a path.
func mode(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	st := fi.Sys().(*syscall.Stat_t)
	u, _ := user.LookupId(strconv.Itoa(int(st.Uid)))
	g, _ := user.LookupGroupId(strconv.Itoa(int(st.Gid)))
	un, gn := strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	if u != nil {
		un = u.Username
	}
	if g != nil {
		gn = g.Name
	}
	return fmt.Sprintf("%04o %s:%s", fi.Mode().Perm(), un, gn)
}

// systemState is what the package may create; the test leaves it as found.
func systemState(t *testing.T) string {
	var b strings.Builder
	for _, p := range []string{"/etc/bindery", "/var/lib/bindery", "/var/log/bindery", "/usr/bin/bindery", "/usr/bin/binderyctl",
		"/lib/systemd/system/bindery.service", "/lib/systemd/system/bindery.socket", "/usr/share/doc/bindery"} {
		_, err := os.Lstat(p)
		fmt.Fprintf(&b, "%s exists=%v\n", p, err == nil)
	}
	_, uerr := user.Lookup("bindery")
	_, gerr := user.LookupGroup("bindery")
	fmt.Fprintf(&b, "user bindery=%v group bindery=%v\n", uerr == nil, gerr == nil)
	return b.String()
}

// TestDebianPackage builds the package, installs it with dpkg -i, checks
// the user, modes and files, fills the template for a test slapd and PIN
// store, runs /usr/bin/bindery as the bindery user and binds with
// ldapwhoami, upgrades to a rebuilt package with a higher version (the
// edit and the data survive), purges, and checks that everything is gone.
// It needs root and dpkg (CI's throwaway machine); it never touches a
// machine where bindery is installed or a bindery user exists.
func TestDebianPackage(t *testing.T) {
	requireClients(t)
	if os.Geteuid() != 0 {
		t.Skip("installs a Debian package: needs root")
	}
	for _, tool := range []string{"dpkg", "runuser", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BINDERY_REQUIRE_SERVERS") != "" {
				t.Fatalf("%s not installed", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	// One package test at a time on this machine (other checkouts too).
	lock, err := os.OpenFile("/run/lock/bindery-package-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Lookup("bindery"); err == nil || installed(t) {
		t.Skip("bindery is installed on this machine (or a bindery user exists): not touching it")
	}
	before := systemState(t)

	sl := campusSlapd(t, false)
	deb1 := buildPackage(t, "0.1.0~test1")

	var proc *exec.Cmd
	var procDone chan struct{}
	logs := &syncBuffer{}
	stopBindery := func() {
		if proc == nil {
			return
		}
		proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-procDone:
		case <-time.After(15 * time.Second):
			proc.Process.Kill()
			<-procDone
		}
		proc = nil
	}
	t.Cleanup(func() {
		stopBindery()
		if installed(t) {
			dpkg(t, "--purge", "bindery")
		}
		if after := systemState(t); after != before {
			t.Errorf("the machine is not as it was found:\nbefore:\n%safter:\n%s", before, after)
		}
		if t.Failed() {
			t.Logf("bindery log:\n%s", logs.String())
		}
	})

	// Install.
	out := dpkg(t, "-i", deb1)
	if !strings.Contains(out, "edit /etc/bindery/bindery.toml") {
		t.Errorf("postinst did not say what to do next:\n%s", out)
	}
	u, err := user.Lookup("bindery")
	if err != nil {
		t.Fatalf("no bindery user after install: %v", err)
	}
	if uid, _ := strconv.Atoi(u.Uid); uid >= 1000 || u.HomeDir != "/var/lib/bindery" {
		t.Errorf("bindery user: uid %s, home %s; want a system user at /var/lib/bindery", u.Uid, u.HomeDir)
	}
	if pw, _ := os.ReadFile("/etc/passwd"); !regexp.MustCompile(`(?m)^bindery:.*:/usr/sbin/nologin$`).Match(pw) {
		t.Error("the bindery user has a login shell")
	}
	for path, want := range map[string]string{
		"/var/lib/bindery":                    "0700 bindery:bindery",
		"/var/log/bindery":                    "0750 bindery:bindery",
		"/etc/bindery":                        "0750 root:bindery",
		"/etc/bindery/bindery.toml":           "0640 root:bindery",
		"/usr/bin/bindery":                    "0755 root:root",
		"/usr/bin/binderyctl":                 "0755 root:root",
		"/lib/systemd/system/bindery.service": "0644 root:root",
		"/lib/systemd/system/bindery.socket":  "0644 root:root",
		"/usr/share/doc/bindery/copyright":    "0644 root:root",
		"/usr/share/doc/bindery/README.md.gz": "0644 root:root",
		"/usr/share/man/man8/bindery.8.gz":    "0644 root:root",
	} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	if out, _ := run(t, false, "dpkg-query", "-W", "-f=${Conffiles}", "bindery"); !strings.Contains(out, "/etc/bindery/bindery.toml") {
		t.Errorf("bindery.toml is not a conffile: %q", out)
	}
	if out, _ := run(t, false, "/usr/bin/bindery", "--version"); !strings.HasPrefix(out, "bindery 0.1.0~test1 (commit ") {
		t.Errorf("bindery --version: %q", out)
	}
	if out, _ := run(t, false, "/usr/bin/binderyctl", "--version"); !strings.HasPrefix(out, "binderyctl 0.1.0~test1 (commit ") {
		t.Errorf("binderyctl --version: %q", out)
	}
	if out, err := run(t, true, "systemd-analyze", "verify", "/lib/systemd/system/bindery.socket", "/lib/systemd/system/bindery.service"); err != nil || strings.Contains(out, "bindery") {
		t.Errorf("systemd-analyze verify of the installed units: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile("/lib/systemd/system/bindery.service")
	for _, want := range []string{"ExecStartPre=/usr/bin/bindery --config /etc/bindery/bindery.toml --check", "LogsDirectory=bindery", "Wants=network-online.target bindery.socket"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("the installed unit lacks %q", want)
		}
	}
	if lintian, err := exec.LookPath("lintian"); err == nil {
		out, err := run(t, true, lintian, "--fail-on", "error", deb1)
		if err != nil {
			t.Errorf("lintian reports errors:\n%s", out)
		}
		t.Logf("lintian:\n%s", out)
	}

	// The unedited template fails --check, naming what to fill in.
	asBindery := func(allowFail bool, args ...string) (string, error) {
		return run(t, allowFail, "runuser", append([]string{"-u", "bindery", "--"}, args...)...)
	}
	out, err = asBindery(true, "/usr/bin/bindery", "--config", "/etc/bindery/bindery.toml", "--check")
	if err == nil || !strings.Contains(out, `server.suffix: still the template's placeholder`) || !strings.Contains(out, "backend.campus.urls[0]: still the template's placeholder") {
		t.Fatalf("--check of the unedited template: %v\n%s", err, out)
	}

	// Fill the template: the test slapd, free ports, TLS files, secrets.
	certDir := t.TempDir()
	certs, err := slapdtest.WriteCerts(certDir)
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{certs.CertFile: "/etc/bindery/server.crt", certs.KeyFile: "/etc/bindery/server.key", certs.CAFile: "/etc/bindery/campus-ca.pem"} {
		run(t, false, "install", "-o", "root", "-g", "bindery", "-m", "0640", src, dst)
	}
	pwFile := filepath.Join(certDir, "campus.pw")
	os.WriteFile(pwFile, []byte(sl.AdminPassword()+"\n"), 0o600)
	run(t, false, "install", "-o", "root", "-g", "bindery", "-m", "0640", pwFile, "/etc/bindery/campus.pw")
	ldapAddr, tlsAddr, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	tmpl, err := os.ReadFile("/etc/bindery/bindery.toml")
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer(
		`"0.0.0.0:389"`, strconv.Quote(ldapAddr),
		`"0.0.0.0:636"`, strconv.Quote(tlsAddr),
		`"127.0.0.1:9389"`, strconv.Quote(httpAddr),
		`"CHANGE-ME: your virtual tree's suffix, e.g. dc=library,dc=example,dc=edu"`, strconv.Quote(suffix),
		`"CHANGE-ME: the output of `+"`binderyctl hash`"+` (reads the secret on standard input)"`, strconv.Quote(svcHash),
		`["CHANGE-ME: ldaps://ldap1.example.edu", "CHANGE-ME: ldaps://ldap2.example.edu (or remove)"]`, fmt.Sprintf("[%q]", sl.URL()),
		`"/etc/ssl/certs/ca-certificates.crt"`, `"/etc/bindery/campus-ca.pem"`,
		`"CHANGE-ME: the campus service account, e.g. cn=library-proxy,ou=services,dc=example,dc=edu"`, strconv.Quote(sl.AdminDN()),
		`"CHANGE-ME: where the campus people are, e.g. ou=people,dc=example,dc=edu"`, `"ou=people,dc=example,dc=org"`,
	).Replace(string(tmpl)) + "\n# edited by the package test\n[pin_policy.argon2]\nmemory_kib = 64\niterations = 1\nparallelism = 1\n"
	if strings.Contains(edited, `"CHANGE-ME`) {
		t.Fatalf("the test did not fill every placeholder of the template:\n%s", edited)
	}
	if err := os.WriteFile("/etc/bindery/bindery.toml", []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	if out, err := asBindery(true, "/usr/bin/bindery", "--config", "/etc/bindery/bindery.toml", "--check"); err != nil || !strings.Contains(out, "configuration OK") {
		t.Fatalf("--check of the filled template as bindery: %v\n%s", err, out)
	}

	// Counter staff add a patron as the bindery user; bindery serves.
	ctl := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command("runuser", append([]string{"-u", "bindery", "--", "/usr/bin/binderyctl", "--config", "/etc/bindery/bindery.toml"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Dir = "/var/lib/bindery"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("binderyctl %v: %v\n%s", args, err, out)
		}
	}
	ctl("", "patron", "add", julacID, "--name", "Wong Siu Ming")
	ctl(julacPIN+"\n", "pin", "set", julacID)
	startBindery := func() {
		t.Helper()
		proc = exec.Command("runuser", "-u", "bindery", "--", "/usr/bin/bindery", "--config", "/etc/bindery/bindery.toml")
		proc.Dir = "/var/lib/bindery"
		proc.Stdout, proc.Stderr = logs, logs
		if err := proc.Start(); err != nil {
			t.Fatal(err)
		}
		procDone = make(chan struct{})
		go func(p *exec.Cmd, done chan struct{}) { p.Wait(); close(done) }(proc, procDone)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if c, err := net.DialTimeout("tcp", ldapAddr, 200*time.Millisecond); err == nil {
				c.Close()
				return
			}
			select {
			case <-procDone:
				t.Fatalf("bindery exited:\n%s", logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("bindery did not listen:\n%s", logs.String())
			}
		}
	}
	tlsEnv := []string{"LDAPTLS_CACERT=" + certs.CAFile, "LDAPTLS_REQCERT=demand"}
	whoami := func(what, dn, pw string) {
		t.Helper()
		out, code := client(t, tlsEnv, "ldapwhoami", "-x", "-ZZ", "-H", "ldap://"+ldapAddr, "-D", dn, "-w", pw)
		if code != 0 || !strings.Contains(out, "dn:"+dn) {
			t.Fatalf("%s: ldapwhoami exit %d\n%s", what, code, out)
		}
	}
	startBindery()
	whoami("PIN store patron", personDN(julacID), julacPIN)
	whoami("campus user", personDN(campusID), campusPW)
	whoami("service account", svcDN, svcPW)
	if out, code := client(t, tlsEnv, "ldapwhoami", "-x", "-H", "ldap://"+ldapAddr, "-D", personDN(julacID), "-w", julacPIN); code != 13 {
		t.Errorf("cleartext bind with the template's require_tls: exit %d, want 13\n%s", code, out)
	}
	// Owned by bindery (binderyctl ran as bindery); the 0700 folder keeps
	// everyone else out whatever the file's mode.
	if got := mode(t, "/var/lib/bindery/pins.db"); !strings.HasSuffix(got, " bindery:bindery") {
		t.Errorf("pins.db: %s", got)
	}
	time.Sleep(300 * time.Millisecond) // the audit writer is asynchronous
	if audit, err := os.ReadFile("/var/log/bindery/audit.log"); err != nil || !bytes.Contains(audit, []byte(`"id":"`+julacID+`"`)) {
		t.Errorf("audit trail in /var/log/bindery: %v\n%s", err, audit)
	}

	// Upgrade to a rebuilt package with a higher version while it runs.
	deb2 := buildPackage(t, "0.1.0~test2")
	dpkg(t, "--force-confdef", "--force-confold", "-i", deb2)
	if cfg, _ := os.ReadFile("/etc/bindery/bindery.toml"); string(cfg) != edited {
		t.Fatalf("the configuration edit did not survive the upgrade:\n%s", cfg)
	}
	if out, _ := run(t, false, "/usr/bin/bindery", "--version"); !strings.HasPrefix(out, "bindery 0.1.0~test2 ") {
		t.Errorf("after the upgrade: %q", out)
	}
	stopBindery() // what systemd's try-restart does
	startBindery()
	whoami("PIN store patron after the upgrade (the data survived)", personDN(julacID), julacPIN)
	stopBindery()

	// Remove keeps data and configuration; purge deletes everything.
	dpkg(t, "--remove", "bindery")
	for _, p := range []string{"/etc/bindery/bindery.toml", "/var/lib/bindery/pins.db", "/var/log/bindery/audit.log"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("dpkg --remove deleted %s", p)
		}
	}
	if _, err := os.Stat("/usr/bin/bindery"); err == nil {
		t.Error("dpkg --remove left /usr/bin/bindery")
	}
	dpkg(t, "--purge", "bindery")
	if installed(t) {
		t.Fatal("still installed after dpkg --purge")
	}
	if after := systemState(t); after != before {
		t.Fatalf("after dpkg --purge:\n%swant as before:\n%s", after, before)
	}
}
