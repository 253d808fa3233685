package integration

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/passhash"
)

// bindOnce binds on a fresh connection and returns the error and how long
// the bind took.
func bindOnce(e *env, dn, pw string) (time.Duration, error) {
	c, err := ldap.DialURL(e.url(), ldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetTimeout(60 * time.Second)
	start := time.Now()
	err = c.Bind(dn, pw)
	return time.Since(start), err
}

// TestFaultCampusKilledDuringLoad: the campus slapd is killed (SIGKILL)
// while clients bind in a loop. Cached campus users keep succeeding
// (ttl 1s, serve_stale_for 10m: the stale path is what answers), uncached
// campus users get 52 within the timeout and never 49, PIN-store binds are
// unaffected; when slapd comes back bindery recovers by itself, and the
// test prints how many seconds that took.
func TestFaultCampusKilledDuringLoad(t *testing.T) {
	sl := campusSlapd(t, false)
	const timeout = 2 * time.Second
	e := campusEnv(t, sl, sl.URL(), "", timeout.String(), `
[cache]
ttl = "1s"
serve_stale_for = "10m"
`)
	e.start()
	pid := e.proc.Process.Pid

	// Warm the cache for jchan.
	if _, err := bindOnce(e, personDN(campusID), campusPW); err != nil {
		t.Fatalf("campus bind before the outage: %v", err)
	}

	type result struct {
		kind string
		code int
		took time.Duration
		down bool // slapd was down when the bind started
	}
	var (
		down    atomic.Bool
		stop    atomic.Bool
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	worker := func(kind, dn, pw string) {
		defer wg.Done()
		c, err := ldap.DialURL(e.url())
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			return
		}
		defer c.Close()
		c.SetTimeout(60 * time.Second)
		for !stop.Load() {
			wasDown := down.Load()
			start := time.Now()
			err := c.Bind(dn, pw)
			r := result{kind: kind, code: ldapCode(err), took: time.Since(start), down: wasDown && down.Load()}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
			if r.code < 0 {
				t.Errorf("%s: connection error %v", kind, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := 0; i < 3; i++ {
		wg.Add(3)
		go worker("julac", personDN(julacID), julacPIN)
		go worker("cached campus", personDN(campusID), campusPW)
		go worker("wrong campus", personDN(campusID), "Wrong-Pass-2026")
	}
	time.Sleep(1500 * time.Millisecond)
	sl.Kill()
	down.Store(true)
	killedAt := time.Now()
	// Uncached campus users during the outage (u3551234 never bound before).
	for i := 0; i < 5; i++ {
		took, err := bindOnce(e, personDN("u3551234"), "Student-Pass-1")
		if ldapCode(err) != ldap.LDAPResultUnavailable {
			t.Errorf("uncached campus bind with slapd down: %v, want 52", err)
		}
		if took > 5*timeout {
			t.Errorf("uncached campus bind took %v, more than 5x the %v timeout", took, timeout)
		}
		t.Logf("uncached campus bind during the outage: code %d in %v", ldapCode(err), took.Round(time.Millisecond))
	}
	time.Sleep(3 * time.Second)

	sl.Start()
	restartedAt := time.Now()
	down.Store(false)
	var recovered time.Duration
	for time.Since(restartedAt) < 60*time.Second {
		if _, err := bindOnce(e, personDN("u3551234"), "Student-Pass-1"); err == nil {
			recovered = time.Since(restartedAt)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if recovered == 0 {
		t.Fatalf("bindery did not recover within 60s of slapd's restart")
	}
	t.Logf("outage %v; bindery recovered %.2fs after slapd restarted (no bindery restart, pid %d)",
		restartedAt.Sub(killedAt).Round(time.Millisecond), recovered.Seconds(), pid)
	if e.proc.Process.Pid != pid {
		t.Fatalf("bindery was restarted")
	}
	e.alive()
	// The wrong password is 49 again once the directory answers.
	if _, err := bindOnce(e, personDN(campusID), "Wrong-Pass-2026"); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Errorf("wrong campus password after recovery: %v, want 49", err)
	}

	counts := map[string]map[int]int{}
	var maxDown time.Duration
	for _, r := range results {
		k := r.kind
		if r.down {
			k += " (slapd down)"
		}
		if counts[k] == nil {
			counts[k] = map[int]int{}
		}
		counts[k][r.code]++
		if r.down && r.kind == "wrong campus" && r.took > maxDown {
			maxDown = r.took
		}
		switch {
		case r.kind == "julac" && r.code != 0:
			t.Errorf("PIN-store bind during the run: code %d", r.code)
		case r.kind == "cached campus" && r.down && r.code != 0:
			t.Errorf("cached campus bind during the outage: code %d, want 0 (serve_stale_for)", r.code)
		case r.kind == "wrong campus" && r.down && r.code != ldap.LDAPResultUnavailable && r.code != ldap.LDAPResultInvalidCredentials:
			t.Errorf("wrong campus password during the outage: code %d, want 52 (or 49 from the negative cache)", r.code)
		}
		if r.down && r.took > 5*timeout {
			t.Errorf("%s bind took %v during the outage, more than 5x the %v timeout", r.kind, r.took, timeout)
		}
	}
	t.Logf("results by kind and code: %v; slowest wrong-password campus answer during the outage %v", counts, maxDown.Round(time.Millisecond))
	if counts["cached campus (slapd down)"][0] == 0 {
		t.Errorf("no cached campus bind ran during the outage")
	}
}

// TestFaultSlowUpstream puts a delaying proxy between bindery and slapd:
// campus binds answer 52 within a few timeouts while the directory is
// slower than the timeout, PIN binds and the server stay responsive, and
// everything works again when the delay goes away. (The goroutine count
// is checked in backend/ldap, TestSlowUpstreamLeaksNoGoroutines: bindery
// is a separate process here.)
func TestFaultSlowUpstream(t *testing.T) {
	sl := campusSlapd(t, false)
	p := newDelayProxy(t, fmt.Sprintf("127.0.0.1:%d", sl.Port()))
	const timeout = time.Second
	e := campusEnv(t, sl, p.URL(), "", timeout.String(), `
[cache]
ttl = "0s"
`)
	e.start()
	if _, err := bindOnce(e, personDN(campusID), campusPW); err != nil {
		t.Fatalf("campus bind through the proxy: %v", err)
	}
	e.checkMem("before")
	p.SetDelay(3 * time.Second)
	var wg sync.WaitGroup
	var slow, wrong atomic.Int64
	n := scale(20, 200)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			took, err := bindOnce(e, personDN(campusID), campusPW)
			if ldapCode(err) != ldap.LDAPResultUnavailable {
				wrong.Add(1)
				t.Logf("slow campus bind: %v", err)
			}
			if took > 5*timeout {
				slow.Add(1)
				t.Logf("slow campus bind took %v", took)
			}
		}()
	}
	// Meanwhile the PIN store and the server answer at once.
	for i := 0; i < 5; i++ {
		if took, err := bindOnce(e, personDN(julacID), julacPIN); err != nil || took > 5*timeout {
			t.Errorf("PIN bind while the campus is slow: %v in %v", err, took)
		}
	}
	wg.Wait()
	if w := wrong.Load(); w > 0 {
		t.Errorf("%d of %d campus binds through a slow upstream were not 52", w, n)
	}
	if s := slow.Load(); s > 0 {
		t.Errorf("%d of %d campus binds took more than 5x the %v timeout", s, n, timeout)
	}
	e.checkMem(fmt.Sprintf("after %d slow binds", n))
	p.SetDelay(0)
	var last error
	start := time.Now()
	for time.Since(start) < 30*time.Second {
		if _, last = bindOnce(e, personDN(campusID), campusPW); last == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("campus bind after the delay went away: %v", last)
	}
	t.Logf("campus binds work again %.2fs after the upstream became fast", time.Since(start).Seconds())
}

// storeEnv is a PIN-store-only bindery whose database lives in dir.
func storeEnv(t *testing.T, dbDir string) *env {
	t.Helper()
	e := newEnv(t, "", fmt.Sprintf(`
[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = %q
`, filepath.Join(dbDir, "pins.db")))
	return e
}

// pinChange binds as id with old and changes the PIN to new.
func pinChange(e *env, id, old, new string) error {
	c, err := ldap.DialURL(e.url(), ldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(30 * time.Second)
	if err := c.Bind(personDN(id), old); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	_, err = c.PasswordModify(ldap.NewPasswordModifyRequest("", old, new))
	return err
}

// TestFaultStoreDiskFull: the PIN store's file system fills up while
// bindery runs. PIN changes (LDAP and CLI) fail with 80 and a diagnostic,
// the CLI says what happened and that nothing changed; binds keep
// working; nothing is half-written; once space is freed, changes work
// again without a restart.
func TestFaultStoreDiskFull(t *testing.T) {
	dir := t.TempDir()
	mnt := tmpfs(t, dir, "8M")
	e := storeEnv(t, mnt)
	e.addPatron(julacID, "Wong Siu Ming", julacPIN, "--category", "julac")
	e.addPatron("CU7654321", "Chan Mei", "Other-PIN-2026", "--category", "julac")
	e.start()
	pid := e.proc.Process.Pid
	if err := pinChange(e, julacID, julacPIN, "Fresh-PIN-2026"); err != nil {
		t.Fatalf("PIN change before the fault: %v", err)
	}
	pin := "Fresh-PIN-2026"

	filler := fillDisk(t, mnt)
	err := pinChange(e, julacID, pin, "Never-PIN-2026")
	if ldapCode(err) != ldap.LDAPResultOther || !strings.Contains(err.Error(), "PIN store cannot be written") {
		t.Errorf("PIN change with the disk full: %v, want 80 \"PIN store cannot be written\"", err)
	}
	t.Logf("LDAP PIN change, disk full: %v", err)
	out, cerr := e.ctl("Counter-PIN-2026\n", "pin", "set", "CU7654321")
	if cerr == nil || !strings.Contains(out, "cannot be written") || !strings.Contains(out, "nothing changed") || !strings.Contains(out, "try again") {
		t.Errorf("binderyctl pin set with the disk full: %v\n%s", cerr, out)
	}
	t.Logf("binderyctl pin set, disk full: %s", strings.TrimSpace(out))
	for i := 0; i < 3; i++ {
		if _, err := bindOnce(e, personDN(julacID), pin); err != nil {
			t.Errorf("bind with the disk full: %v", err)
		}
		if _, err := bindOnce(e, personDN("CU7654321"), "Other-PIN-2026"); err != nil {
			t.Errorf("second patron's bind with the disk full: %v", err)
		}
	}
	// Nothing half-written: neither new PIN works.
	if _, err := bindOnce(e, personDN(julacID), "Never-PIN-2026"); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Errorf("the PIN of the failed LDAP change: %v, want 49", err)
	}
	if _, err := bindOnce(e, personDN("CU7654321"), "Counter-PIN-2026"); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Errorf("the PIN of the failed CLI change: %v, want 49", err)
	}
	e.alive()

	os.Remove(filler)
	if err := pinChange(e, julacID, pin, "After-full-2026"); err != nil {
		t.Fatalf("PIN change after space was freed: %v", err)
	}
	if _, err := bindOnce(e, personDN(julacID), "After-full-2026"); err != nil {
		t.Fatalf("bind with the new PIN: %v", err)
	}
	e.mustCtl("Counter-PIN-2026\n", "pin", "set", "CU7654321")
	if _, err := bindOnce(e, personDN("CU7654321"), "Counter-PIN-2026"); err != nil {
		t.Fatalf("bind with the PIN set at the counter: %v", err)
	}
	if e.proc.Process.Pid != pid {
		t.Fatal("bindery was restarted")
	}
	e.stop()
	integrityCheck(t, filepath.Join(mnt, "pins.db"))
}

// TestFaultStoreReadOnly: the PIN store's file system is read-only when
// bindery starts (an ext4 that remounted itself read-only after an error,
// then a restart). bindery must start, or exit with a clear error, never
// panic; when it runs, binds work and PIN changes answer 80.
//
// A file system cannot be remounted read-only under a running bindery on
// this kernel: "mount point is busy" while files are open for writing,
// and chattr +i does not stop writes through descriptors already open.
func TestFaultStoreReadOnly(t *testing.T) {
	dir := t.TempDir()
	mnt := tmpfs(t, dir, "8M")
	e := storeEnv(t, mnt)
	e.addPatron(julacID, "Wong Siu Ming", julacPIN, "--category", "julac")
	remount(t, mnt, "ro")

	out, err := exec.Command(filepath.Join(binDir, "bindery"), "--config", e.cfgPath, "--check").CombinedOutput()
	if err != nil {
		t.Fatalf("bindery --check on a read-only store: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "warning: backend.pins.dsn: the store can be read but not written") {
		t.Errorf("bindery --check did not warn that the store is read-only:\n%s", out)
	}
	// Start it by hand: it may refuse to run, but must say why.
	cmd := exec.Command(filepath.Join(binDir, "bindery"), "--config", e.cfgPath)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var exitErr error
	running := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !running; {
		select {
		case exitErr = <-exited:
			deadline = time.Time{}
		default:
			if c, err := net.DialTimeout("tcp", e.addr, 200*time.Millisecond); err == nil {
				c.Close()
				running = true
			} else {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	if running {
		defer func() { cmd.Process.Signal(os.Interrupt); <-exited }()
	}
	if strings.Contains(logs.String(), "panic:") || strings.Contains(logs.String(), "goroutine 1 [") {
		t.Fatalf("bindery panicked on a read-only store:\n%s", logs.String())
	}
	if !running {
		t.Fatalf("bindery did not start on a read-only store (%v):\n%s", exitErr, logs.String())
	}
	if !strings.Contains(logs.String(), "serving binds read-only") {
		t.Errorf("bindery did not say the store is read-only:\n%s", logs.String())
	}
	if _, err := bindOnce(e, personDN(julacID), julacPIN); err != nil {
		t.Errorf("bind with the store read-only: %v", err)
	}
	err = pinChange(e, julacID, julacPIN, "Never-PIN-2026")
	if ldapCode(err) != ldap.LDAPResultOther || !strings.Contains(err.Error(), "PIN store cannot be written") {
		t.Errorf("PIN change with the store read-only: %v, want 80", err)
	}
}

// TestFaultKill9DuringPINChanges: bindery is killed with SIGKILL while
// clients change PINs; after a restart the store passes an integrity
// check and every acknowledged change is there (a change in flight at the
// kill may or may not be).
func TestFaultKill9DuringPINChanges(t *testing.T) {
	dir := t.TempDir()
	e := storeEnv(t, dir)
	const patrons = 40
	var csv strings.Builder
	csv.WriteString("id,name,category,pin_hash,must_change\n")
	params := passhash.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	current := make([]string, patrons)
	for i := range current {
		current[i] = fmt.Sprintf("Pin-%03d-0000", i)
		h, err := passhash.Hash(current[i], params)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&csv, "CU9%06d,Patron %d,julac,\"%s\",false\n", i, i, h)
	}
	csvPath := filepath.Join(dir, "patrons.csv")
	os.WriteFile(csvPath, []byte(csv.String()), 0o600)
	e.mustCtl("", "import", csvPath)
	e.start()

	var (
		mu      sync.Mutex
		acked   = append([]string(nil), current...)
		pending = make([]string, patrons)
		changes atomic.Int64
		wg      sync.WaitGroup
	)
	const workers = 8
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := ldap.DialURL(e.url())
			if err != nil {
				return
			}
			defer c.Close()
			c.SetTimeout(30 * time.Second)
			for n := 1; ; n++ {
				for i := w; i < patrons; i += workers {
					mu.Lock()
					old := acked[i]
					next := fmt.Sprintf("Pin-%03d-%04d", i, n)
					pending[i] = next
					mu.Unlock()
					if err := c.Bind(personDN(fmt.Sprintf("CU9%06d", i)), old); err != nil {
						return
					}
					if _, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", old, next)); err != nil {
						return
					}
					mu.Lock()
					acked[i], pending[i] = next, ""
					mu.Unlock()
					changes.Add(1)
				}
			}
		}(w)
	}
	time.Sleep(3 * time.Second)
	e.proc.Process.Kill()
	<-e.done
	wg.Wait()
	t.Logf("bindery killed with SIGKILL after %d acknowledged PIN changes", changes.Load())
	if changes.Load() == 0 {
		t.Fatal("no PIN change was acknowledged before the kill")
	}
	integrityCheck(t, filepath.Join(dir, "pins.db"))
	e.start()
	inFlight := 0
	for i := 0; i < patrons; i++ {
		id := fmt.Sprintf("CU9%06d", i)
		_, err := bindOnce(e, personDN(id), acked[i])
		if err == nil {
			continue
		}
		if pending[i] != "" {
			if _, err2 := bindOnce(e, personDN(id), pending[i]); err2 == nil {
				inFlight++ // the change in flight at the kill was committed, not acknowledged
				continue
			}
		}
		t.Errorf("%s: the acknowledged PIN does not work after the restart: %v", id, err)
	}
	t.Logf("after the restart: every acknowledged PIN works; %d changes in flight at the kill were committed", inFlight)
}

// TestFaultKill9DuringImport: binderyctl import is killed with SIGKILL in
// the middle of a large file; the store passes an integrity check and each
// row is either there in full or absent; bindery, running all along,
// keeps answering.
func TestFaultKill9DuringImport(t *testing.T) {
	dir := t.TempDir()
	e := storeEnv(t, dir)
	e.addPatron(julacID, "Wong Siu Ming", julacPIN, "--category", "julac")
	e.start()
	rows := scale(5000, 100000)
	var csv strings.Builder
	csv.WriteString("id,name,email,category\n")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&csv, "CU8%07d,Imported Patron %d,p%d@example.edu,julac\n", i, i, i)
	}
	csvPath := filepath.Join(dir, "big.csv")
	os.WriteFile(csvPath, []byte(csv.String()), 0o600)

	dbPath := filepath.Join(dir, "pins.db")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func() int {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM patrons WHERE id LIKE 'CU8%'").Scan(&n); err != nil {
			t.Fatalf("count: %v", err)
		}
		return n
	}

	cmd := exec.Command(filepath.Join(binDir, "binderyctl"), "--config", e.cfgPath, "import", csvPath)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	killed := false
	for deadline := time.Now().Add(120 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-exited:
			t.Fatalf("import finished (%v) before it could be killed; make the file bigger\n%s", err, out.String())
		default:
		}
		if n := count(); n > 0 {
			cmd.Process.Kill()
			<-exited
			killed = true
			break
		}
		// A bind while the import runs.
		if _, err := bindOnce(e, personDN(julacID), julacPIN); err != nil {
			t.Errorf("bind during the import: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !killed {
		t.Fatal("the import loaded nothing within 120s")
	}
	db.Close()
	integrityCheck(t, dbPath)
	db, err = sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.Query("SELECT id, name, email, category FROM patrons WHERE id LIKE 'CU8%'")
	if err != nil {
		t.Fatal(err)
	}
	loaded := 0
	for r.Next() {
		var id, name, email, cat sql.NullString
		if err := r.Scan(&id, &name, &email, &cat); err != nil {
			t.Fatal(err)
		}
		var i int
		fmt.Sscanf(id.String, "CU8%07d", &i)
		if name.String != fmt.Sprintf("Imported Patron %d", i) || email.String != fmt.Sprintf("p%d@example.edu", i) || cat.String != "julac" {
			t.Errorf("row %s is half there: %q %q %q", id.String, name.String, email.String, cat.String)
		}
		loaded++
	}
	r.Close()
	t.Logf("import of %d rows killed with SIGKILL: %d rows were committed, each complete; the rest absent", rows, loaded)
	if loaded == rows {
		t.Logf("(the whole file was committed before the kill)")
	}
	if loaded%1000 != 0 {
		t.Errorf("%d rows loaded: not a whole number of 1000-row batches", loaded)
	}
	if _, err := bindOnce(e, personDN(julacID), julacPIN); err != nil {
		t.Fatalf("bind after the import was killed: %v", err)
	}
	// A re-run completes the import: it is idempotent.
	e.mustCtl("", "import", csvPath)
	if n := count(); n != rows {
		t.Fatalf("after re-running the import: %d rows, want %d", n, rows)
	}
}
