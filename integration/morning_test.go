package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/passhash"
)

// The first morning of term (issue 12): bursts of first logins, probes,
// logs, hang-ups and shutdown, through the real binary.

const fastArgon2 = "[pin_policy.argon2]\nmemory_kib = 64\niterations = 1\nparallelism = 1\n"

// testArgon2 are the argon2id parameters of the tests that need hashing
// to take time: bindery runs with the race detector here, which makes
// argon2id's Go code about 8 times slower (1.75 s a verification with the
// OWASP defaults on the 2-core CI machine, against 0.2 s without, at load
// average 12); 1 MiB and one pass cost about what the defaults cost in
// production (tens of ms), so bursts behave as they would there.
var testArgon2 = passhash.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}

// slowArgon2 replaces the fast argon2id parameters newEnv writes with
// testArgon2.
func (e *env) slowArgon2() {
	e.t.Helper()
	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil || !bytes.Contains(cfg, []byte(fastArgon2)) {
		e.t.Fatalf("config without the fast argon2 section: %v", err)
	}
	e.writeConfig(strings.Replace(string(cfg), fastArgon2, fmt.Sprintf("[pin_policy.argon2]\nmemory_kib = %d\niterations = %d\nparallelism = %d\n",
		testArgon2.MemoryKiB, testArgon2.Iterations, testArgon2.Parallelism), 1))
}

func (e *env) writeConfig(s string) {
	e.t.Helper()
	if err := os.WriteFile(e.cfgPath, []byte(s), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// appendConfig adds TOML tables at the end of the file.
func (e *env) appendConfig(s string) {
	e.t.Helper()
	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil {
		e.t.Fatal(err)
	}
	e.writeConfig(string(cfg) + "\n" + s + "\n")
}

// importPatrons imports n patrons <prefix>0000, <prefix>0001, ... with
// PIN pin, hashed once with testArgon2 (each bind still costs a full
// verification: the salt is the same, the cache key is the ID), and
// returns their IDs.
func (e *env) importPatrons(prefix string, n int, pin string) []string {
	e.t.Helper()
	hash, err := passhash.Hash(pin, testArgon2)
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("id,name,email,category,pin_hash\n")
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%04d", prefix, i)
		fmt.Fprintf(&b, "%s,Patron %d,,julac,\"%s\"\n", ids[i], i, hash)
	}
	path := filepath.Join(e.dir, "burst-"+prefix+".csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.mustCtl("", "import", path)
	return ids
}

// burst opens one connection per ID, then binds every one at the same
// instant and returns the count of each result code (-1: no LDAP answer)
// and the time from the instant to the last success.
func burst(t *testing.T, e *env, ids []string, pin string) (map[int]int, time.Duration) {
	t.Helper()
	conns := make([]*ldap.Conn, len(ids))
	for i := range conns {
		c, err := ldap.DialURL(e.url(), ldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}))
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		c.SetTimeout(time.Minute)
		conns[i] = c
		defer c.Close()
	}
	codes := make([]int, len(ids))
	at := make([]time.Duration, len(ids))
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var start time.Time
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			codes[i] = ldapCode(c.Bind(personDN(ids[i]), pin))
			at[i] = time.Since(start)
		}()
	}
	start = time.Now()
	close(gate)
	wg.Wait()
	count := map[int]int{}
	var last time.Duration
	for i, c := range codes {
		count[c]++
		if c == 0 {
			last = max(last, at[i])
		}
	}
	return count, last
}

// metric reads one unlabelled value from /metrics.
func metric(t *testing.T, httpAddr, name string) float64 {
	t.Helper()
	code, body := httpGet(t, "http://"+httpAddr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// TestFirstMorningBurst: 100 patrons (300 with BINDERY_LONG=1) bind at
// the same instant, cache empty, default [hashing], argon2id at testArgon2: all get
// in, none gets 51. Then, with max_wait shortened to 300 ms on one
// worker, the expected 51s appear, no 49, and bindery_hash_refused_total
// counts every one of them.
func TestFirstMorningBurst(t *testing.T) {
	const pin = "Morning-PIN-2026"
	n := scale(100, 300)
	httpAddr := freeAddr(t)
	e := pinEnv(t, "", fmt.Sprintf("\n[http]\nlisten = %q\n", httpAddr))
	e.slowArgon2()
	ids := e.importPatrons("CU71", n, pin)
	e.start()
	codes, last := burst(t, e, ids, pin)
	verify := metric(t, httpAddr, "bindery_hash_seconds")
	t.Logf("%d at once, default [hashing]: results %v, last success after %v (one verification ~%.0f ms, %v workers)",
		n, codes, last.Round(time.Millisecond), verify*1000, metric(t, httpAddr, "bindery_hash_workers"))
	if codes[0] != n {
		t.Fatalf("%d patrons at once: results %v, want all %d to succeed", n, codes, n)
	}
	if r := metric(t, httpAddr, "bindery_hash_refused_total"); r != 0 {
		t.Fatalf("bindery_hash_refused_total = %v after a burst that all got in", r)
	}

	e.stop()
	e.appendConfig("[hashing]\nworkers = 1\nmax_wait = \"300ms\"")
	e.start() // a fresh process: the cache is empty again
	codes, _ = burst(t, e, ids, pin)
	refused := metric(t, httpAddr, "bindery_hash_refused_total")
	t.Logf("%d at once, one worker, max_wait 300ms: results %v, bindery_hash_refused_total %v", n, codes, refused)
	if codes[0] == 0 || codes[ldap.LDAPResultBusy] == 0 || codes[0]+codes[ldap.LDAPResultBusy] != n {
		t.Fatalf("results %v: want some successes, some 51 busy and nothing else (never 49 for a right PIN)", codes)
	}
	if int(refused) != codes[ldap.LDAPResultBusy] {
		t.Fatalf("bindery_hash_refused_total = %v, want every 51 counted (%d)", refused, codes[ldap.LDAPResultBusy])
	}
}

// rawBindPPolicy is a bind request with the ppolicy request control.
func rawBindPPolicy(id int, name, pw string) []byte {
	ctl := tlv(0xa0, tlv(0x30, tlv(0x04, []byte("1.3.6.1.4.1.42.2.27.8.5.1"))))
	return tlv(0x30, berInt(id), rawBindOp(name, pw), ctl)
}

// answer reads one response and returns its bytes.
func (r *rawClient) answer(t *testing.T) []byte {
	t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	p, err := ber.ReadPacket(r.br)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return p.Bytes()
}

// TestProbesLearnNothing: the same wrong PIN, sent twice with the ppolicy
// control, gets byte for byte the same answer (49, empty text, no control)
// for an unknown ID and for an active, locked, suspended, expired,
// pending, PIN-less and superseded account, the first time and the second
// (when the negative cache answers). Password Modify on one's own locked
// session answers what a wrong old PIN gets. The timing is measured by
// BenchmarkRepeatedWrongPIN in backend/cache, not here.
func TestProbesLearnNothing(t *testing.T) {
	e := pinEnv(t, "", "\n[lockout]\nthrottle_after = 0\n")
	future := time.Now().AddDate(0, 0, 3).Format("2006-01-02")
	pins := map[string]string{}
	add := func(id, pin string, extra ...string) {
		pins[id] = pin
		e.addPatron(id, "Probe "+id, pin, append([]string{"--category", "julac"}, extra...)...)
	}
	add("CU8000001", "Active-PIN-2026")
	add("CU8000002", "Locked-PIN-2026")
	add("CU8000003", "Suspend-PIN-2026")
	add("CU8000004", "Expired-PIN-2026")
	add("CU8000005", "Pending-PIN-2026", "--active-from", future)
	add("CU8000006", "")
	add("CU8000007", "OldCard-PIN-2026")
	add("CU8000008", "Session-PIN-2026")
	e.mustCtl("", "patron", "suspend", "CU8000003", "--reason", "probe test")
	e.mustCtl("", "patron", "expire", "CU8000004")
	e.mustCtl("", "card", "replace", "CU8000007", "CU8100007")
	e.start()
	// Lock CU8000002 with five distinct wrong PINs.
	lc := e.dial()
	for i := range 5 {
		if err := lc.Bind(personDN("CU8000002"), fmt.Sprintf("Lockout-PIN-%d", i)); ldapCode(err) != 49 {
			t.Fatalf("wrong PIN %d: %v", i, err)
		}
	}
	if out := e.mustCtl("", "explain", "CU8000002"); !strings.Contains(out, "locked until") {
		t.Fatalf("not locked:\n%s", out)
	}

	classes := []struct{ name, id string }{
		{"unknown", "CU8999999"}, {"active", "CU8000001"}, {"locked", "CU8000002"}, {"suspended", "CU8000003"},
		{"expired", "CU8000004"}, {"pending", "CU8000005"}, {"no PIN", "CU8000006"}, {"superseded", "CU8000007"},
	}
	var first, second []byte
	for _, cl := range classes {
		r := e.rawDial()
		var got [2][]byte
		for n := range 2 {
			if err := r.send(rawBindPPolicy(n+1, personDN(cl.id), "Probe-Wrong-2026")); err != nil {
				t.Fatal(err)
			}
			got[n] = r.answer(t)
		}
		// The two answers differ only in the message ID (byte 4).
		if len(got[0]) != len(got[1]) || got[0][4] != 1 || got[1][4] != 2 || !bytes.Equal(got[0][5:], got[1][5:]) {
			t.Fatalf("%s: first and second answer differ:\n% x\n% x", cl.name, got[0], got[1])
		}
		p := ber.DecodePacket(got[0])
		if code := p.Children[1].Children[0].Value.(int64); code != 49 || len(p.Children) != 2 || p.Children[1].Children[2].Data.Len() != 0 {
			t.Fatalf("%s: answer %d with %d parts, text %q: want a plain 49", cl.name, code, len(p.Children), p.Children[1].Children[2].Data.String())
		}
		if first == nil {
			first, second = got[0], got[1]
		} else if !bytes.Equal(got[0], first) || !bytes.Equal(got[1], second) {
			t.Fatalf("%s answers\n% x\nwhere unknown answers\n% x", cl.name, got[0], first)
		}
	}

	// A session opened before its account was locked: Password Modify with
	// the right old PIN answers exactly what a wrong old PIN on an active
	// account answers.
	sess := e.dial()
	if err := sess.Bind(personDN("CU8000008"), pins["CU8000008"]); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		lc.Bind(personDN("CU8000008"), fmt.Sprintf("Lockout-PIN-%d", i))
	}
	active := e.dial()
	if err := active.Bind(personDN("CU8000001"), pins["CU8000001"]); err != nil {
		t.Fatal(err)
	}
	_, lockedErr := sess.PasswordModify(ldap.NewPasswordModifyRequest("", pins["CU8000008"], "Another-PIN-2026"))
	_, wrongErr := active.PasswordModify(ldap.NewPasswordModifyRequest("", "Not-The-PIN-2026", "Another-PIN-2026"))
	if ldapCode(lockedErr) != 53 || lockedErr.Error() != wrongErr.Error() {
		t.Fatalf("Password Modify on a locked session: %v; a wrong old PIN: %v; want the same 53", lockedErr, wrongErr)
	}
}

// TestLogsNeverHoldWhatWasTyped: a PIN typed into the name field (no
// route takes it), a DN that does not parse, and userPassword or
// unicodePwd values in search filters reach neither the log (at debug
// level) nor the audit trail.
func TestLogsNeverHoldWhatWasTyped(t *testing.T) {
	const typed = "Typed-PIN-2026x"
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	e := pinEnv(t, "", fmt.Sprintf("\n[log]\nlevel = \"debug\"\naudit_file = %q\n", auditPath))
	e.start()
	c := e.dial()
	for _, name := range []string{typed, "uid=" + typed + "\\zz,ou=people," + suffix} {
		if err := c.Bind(name, "Whatever-2026"); ldapCode(err) != 49 {
			t.Fatalf("bind as %q: %v, want 49", name, err)
		}
	}
	if err := c.Bind(svcDN, svcPW); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"(userPassword=" + typed + ")", "(&(uid=CU1234567)(unicodePwd=" + typed + "))", "(sambaNTPassword=" + typed + "*)"} {
		if _, err := c.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, f, nil, nil)); err != nil {
			t.Fatalf("search %s: %v", f, err)
		}
	}
	e.stop() // flushes the log and the audit trail
	logs := e.logs.String()
	audit, _ := os.ReadFile(auditPath)
	for what, text := range map[string]string{"log": logs, "audit trail": string(audit)} {
		if strings.Contains(text, typed) || strings.Contains(text, "Typed-PIN") {
			t.Errorf("the %s holds what was typed:\n%s", what, text)
		}
	}
	for _, want := range []string{"route=none name_len=15", `filter="(userPassword=***)"`, `filter="(&(uid=CU1234567)(unicodePwd=***))"`, `filter="(sambaNTPassword=***)"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if !strings.Contains(string(audit), `"name_len":15,"route":"none"`) {
		t.Errorf("audit trail lacks the length of the name:\n%s", audit)
	}
}

// TestHungUpBindsLogNoErrors: 320 binds queued for a hashing worker (one
// worker, argon2id at testArgon2) and 10 held by the throttle, whose clients
// hang up: zero ERROR lines, one Debug line each, and bindery serves a
// normal bind at once afterwards (the queue was emptied, not worked off).
func TestHungUpBindsLogNoErrors(t *testing.T) {
	const pin = "Hangup-PIN-2026"
	n := 320
	raiseNoFile(t, 4096)
	e := pinEnv(t, "", "\n[log]\nlevel = \"debug\"\n\n[lockout]\nthrottle_after = 1\n\n[hashing]\nworkers = 1\nmax_wait = \"60s\"\n")
	e.slowArgon2()
	ids := e.importPatrons("CU72", 11, pin)
	e.start()
	// Ten pairs held by the throttle: one wrong PIN each, then the right one.
	for _, id := range ids[:10] {
		c := e.dial()
		if err := c.Bind(personDN(id), "Wrong-PIN-2026"); ldapCode(err) != 49 {
			t.Fatalf("wrong PIN: %v", err)
		}
		c.Close()
	}
	var clients []*rawClient
	for i := range n + 10 {
		r := e.rawDial()
		id := fmt.Sprintf("CU79%04d", i) // unknown IDs: each costs a dummy verification
		if i < 10 {
			id = ids[i]
		}
		if err := r.send(rawMessage(1, rawBindOp(personDN(id), pin))); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, r)
	}
	time.Sleep(100 * time.Millisecond) // past the hang-up watch's 20 ms
	for _, r := range clients {
		r.nc.Close()
	}
	start := time.Now()
	e.normalBind(ids[10], pin)
	t.Logf("a normal bind after %d hung-up binds took %v", n+10, time.Since(start).Round(time.Millisecond))
	// Every hung-up bind is logged once it notices; wait for the lines.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(e.logs.String(), "hung_up=true") < 300 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	logs := e.logs.String()
	hung := 0
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "code=80") {
			t.Errorf("error line: %s", l)
		}
		if strings.Contains(l, "hung_up=true") {
			hung++
			if !strings.Contains(l, "level=DEBUG") {
				t.Errorf("a hung-up bind above Debug: %s", l)
			}
		}
	}
	// A few may have been answered before their clients left.
	if hung < 300 {
		t.Fatalf("%d hung-up lines for %d hung-up binds", hung, n+10)
	}
}

// TestShutdownKeepsItsDeadline: SIGTERM with 1,000 idle connections, 10
// binds held by the throttle and 200 queued for hashing (one worker,
// argon2id at testArgon2, far more work than the deadline): the listener
// closes at once, every held or queued client gets an answer or a Notice
// of Disconnection, and the process exits 0 within shutdown_timeout + 1 s.
func TestShutdownKeepsItsDeadline(t *testing.T) {
	const pin = "Shutdown-PIN-2026"
	idle := scale(1000, 1000)
	const queued = 200 // at 10-30 ms a verification, well past the deadline on one worker
	raiseNoFile(t, 8192)
	timeout := 2 * time.Second
	e := pinEnv(t, fmt.Sprintf("shutdown_timeout = %q", timeout), "\n[lockout]\nthrottle_after = 1\n\n[hashing]\nworkers = 1\nmax_wait = \"60s\"\n")
	e.slowArgon2()
	ids := e.importPatrons("CU73", 10, pin)
	// The race detector sleeps a second at exit to catch late races
	// (GORACE atexit_sleep_ms, default 1000): not bindery's time.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	e.start()
	for _, id := range ids {
		c := e.dial()
		if err := c.Bind(personDN(id), "Wrong-PIN-2026"); ldapCode(err) != 49 {
			t.Fatalf("wrong PIN: %v", err)
		}
		c.Close()
	}
	// Every connection answers a WhoAmI first, so that bindery has
	// accepted it (one still in the kernel's backlog when the listener
	// closes is reset by the kernel: bindery never saw it).
	accepted := func() *rawClient {
		r := e.rawDial()
		if err := r.send(rawMessage(9, rawWhoAmIOp())); err != nil {
			t.Fatal(err)
		}
		if _, _, code, err := r.next(30 * time.Second); err != nil || code != 0 {
			t.Fatalf("WhoAmI: %d %v", code, err)
		}
		return r
	}
	var idles, busy []*rawClient
	for range idle {
		idles = append(idles, accepted())
	}
	for i := range 10 + queued {
		r := accepted()
		id := fmt.Sprintf("CU79%04d", i)
		if i < 10 {
			id = ids[i] // held by the throttle
		}
		if err := r.send(rawMessage(1, rawBindOp(personDN(id), pin))); err != nil {
			t.Fatal(err)
		}
		busy = append(busy, r)
	}
	time.Sleep(300 * time.Millisecond)
	sigterm := time.Now()
	e.proc.Process.Signal(syscall.SIGTERM)

	// The listener closes at once.
	var refusedAfter time.Duration
	for time.Since(sigterm) < timeout {
		c, err := net.DialTimeout("tcp", e.addr, 100*time.Millisecond)
		if err != nil {
			refusedAfter = time.Since(sigterm)
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	if refusedAfter == 0 {
		t.Fatalf("still accepting connections %v after SIGTERM", timeout)
	}
	select {
	case <-e.done:
	case <-time.After(timeout + 5*time.Second):
		t.Fatalf("bindery still running %v after SIGTERM", time.Since(sigterm))
	}
	exited := time.Since(sigterm)
	t.Logf("listener refused after %v, exit after %v (shutdown_timeout %v), exit status %v", refusedAfter.Round(time.Millisecond), exited.Round(time.Millisecond), timeout, e.proc.ProcessState)
	if exited > timeout+time.Second+500*time.Millisecond { // +0.5 s for a loaded machine running the race detector
		t.Errorf("exit %v after SIGTERM, want within shutdown_timeout + 1 s", exited)
	}
	if !e.proc.ProcessState.Success() {
		t.Errorf("exit status %v, want 0", e.proc.ProcessState)
	}
	// What every client got before its connection closed.
	outcome := map[string]int{}
	for i, r := range append(busy, idles...) {
		got := "nothing"
		for {
			id, _, code, err := r.next(5 * time.Second)
			if err != nil {
				break
			}
			if id == 0 {
				got = "notice " + strconv.Itoa(code)
				break
			}
			got = "answer " + strconv.Itoa(code)
		}
		if got == "nothing" {
			t.Errorf("client %d (busy: %v) got neither an answer nor a notice", i, i < len(busy))
		}
		outcome[got]++
	}
	keys := make([]string, 0, len(outcome))
	for k := range outcome {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var summary []string
	for _, k := range keys {
		summary = append(summary, fmt.Sprintf("%s: %d", k, outcome[k]))
	}
	t.Logf("last message per client: %s", strings.Join(summary, ", "))
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("error lines at shutdown:\n%s", e.logs.String())
	}
}

// TestReloadAppliesHashing: on SIGHUP both [hashing] keys are applied to
// the running pool (bindery_hash_workers follows), and neither is named in
// the restart-only line; the old keys load with a warning.
func TestReloadAppliesHashing(t *testing.T) {
	httpAddr := freeAddr(t)
	e := pinEnv(t, "", fmt.Sprintf("\n[http]\nlisten = %q\n", httpAddr))
	base, _ := os.ReadFile(e.cfgPath)
	e.appendConfig("[hashing]\nworkers = 1\nqueue = 16\nnice = 10")
	e.start()
	waitLog(t, e, "hashing.queue = 16 is no longer used")
	if w := metric(t, httpAddr, "bindery_hash_workers"); w != 1 {
		t.Fatalf("workers %v, want 1", w)
	}
	e.writeConfig(string(base) + "\n[hashing]\nworkers = 3\nmax_wait = \"30s\"\n")
	e.proc.Process.Signal(syscall.SIGHUP)
	waitLog(t, e, "reload: new configuration in use")
	if w := metric(t, httpAddr, "bindery_hash_workers"); w != 3 {
		t.Fatalf("after reload: workers %v, want 3", w)
	}
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, "take effect only after a restart") && strings.Contains(l, "hashing") {
			t.Fatalf("hashing named as restart-only: %s", l)
		}
	}
	e.addPatron("CU7400001", "Reload Check", "Reload-PIN-2026")
	e.normalBind("CU7400001", "Reload-PIN-2026")
}
