package integration

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoEndToEnd runs `bindery` with no --config, as the README says,
// reads the set-up code it prints, sets a PIN on the PIN page with an
// HTTP POST, and binds with that PIN over LDAP (ldapwhoami). /metrics and
// /healthz answer too. The demo's addresses are moved to free ports with
// BINDERY_DEMO_LISTEN / BINDERY_DEMO_HTTP, its PIN store to the test's
// TMPDIR.
func TestDemoEndToEnd(t *testing.T) {
	t.Parallel() // after the sequential tests, two at a time: they share nothing
	requireClients(t)
	ldapAddr, httpAddr := freeAddr(t), freeAddr(t)
	tmp := t.TempDir()
	logs := &syncBuffer{}
	cmd := exec.Command(filepath.Join(binDir, "bindery"))
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "BINDERY_DEMO_LISTEN="+ldapAddr, "BINDERY_DEMO_HTTP="+httpAddr)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("bindery log:\n%s", logs.String())
		}
	})
	codeRE := regexp.MustCompile(`page=(http://\S+/pin/setup) card=(\S+) setup_code=([0-9A-Z-]{19})`)
	var m []string
	// Seeding hashes a few PINs at the OWASP parameters in the hashing
	// helper, at nice 10, in a race build (about 0.6 s each on an idle
	// core): on a machine busy with other work that takes a while.
	deadline := time.Now().Add(2 * time.Minute)
	for m == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no set-up code printed:\n%s", logs.String())
		}
		m = codeRE.FindStringSubmatch(logs.String())
		time.Sleep(50 * time.Millisecond)
	}
	page, card, code := m[1], m[2], m[3]
	if page != "http://"+httpAddr+"/pin/setup" {
		t.Fatalf("page %s", page)
	}
	if !strings.Contains(logs.String(), "ldapwhoami -x -H ldap://"+ldapAddr+" -D uid=CU1234567") {
		t.Fatalf("no ldapwhoami line:\n%s", logs.String())
	}
	waitListen(t, ldapAddr)
	waitListen(t, httpAddr)

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get("http://" + httpAddr + "/healthz"); st != 200 {
		t.Fatalf("/healthz %d %s", st, body)
	}
	// The new patron cannot bind yet.
	const pin = "Chosen-PIN-2026"
	if out, rc := client(t, nil, "ldapwhoami", "-x", "-H", "ldap://"+ldapAddr, "-D", card, "-w", pin); rc != 49 {
		t.Fatalf("before set-up: exit %d\n%s", rc, out)
	}
	st, form := get(page)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(form)
	if st != 200 || csrf == nil {
		t.Fatalf("GET %s: %d, no csrf field", page, st)
	}
	resp, err := hc.PostForm(page, url.Values{"csrf": {csrf[1]}, "card": {card}, "code": {code}, "new": {pin}, "confirm": {pin}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST set-up: %d\n%s", resp.StatusCode, body)
	}
	out, rc := client(t, nil, "ldapwhoami", "-x", "-H", "ldap://"+ldapAddr, "-D", card, "-w", pin)
	if rc != 0 || !strings.Contains(out, "dn:uid="+card+",ou=people,") {
		t.Fatalf("ldapwhoami with the new PIN: exit %d\n%s", rc, out)
	}
	// The code was single use.
	resp, err = hc.PostForm(page, url.Values{"csrf": {csrf[1]}, "card": {card}, "code": {code}, "new": {"Other-PIN-2026"}, "confirm": {"Other-PIN-2026"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("the set-up code worked twice")
	}
	if st, body := get("http://" + httpAddr + "/metrics"); st != 200 || !strings.Contains(body, "bindery_") {
		t.Fatalf("/metrics %d", st)
	}
	// The seeded patrons and the campus stand-in work as the README says.
	for _, who := range [][2]string{{"uid=CU1234567,ou=people," + suffix, "Demo-PIN-2026"}, {"jchan", "Campus-Pass-2026"}} {
		if out, rc := client(t, nil, "ldapwhoami", "-x", "-H", "ldap://"+ldapAddr, "-D", who[0], "-w", who[1]); rc != 0 {
			t.Fatalf("%s: exit %d\n%s", who[0], rc, out)
		}
	}
}
