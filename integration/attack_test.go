package integration

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The attacks run against one bindery each; after every attack bindery is
// still up, a normal client's bind succeeds, and the peak memory (VmHWM)
// stays under memLimitKB. Counts are reduced unless BINDERY_LONG=1.

const attackReadTimeout = 2 * time.Second

// TestAttackHostileBytes: random bytes, a TLS hello on the plain port, a
// 2 GiB length prefix, a 1 MiB bind name, deeply nested filters and a
// search naming 10,000 attributes.
func TestAttackHostileBytes(t *testing.T) {
	e := pinsOnlyEnv(t, `read_timeout = "2s"`)
	e.start()
	e.checkMem("before")

	t.Run("random bytes", func(t *testing.T) {
		rng := rand.New(rand.NewSource(1))
		n := scale(100, 1000)
		var wg sync.WaitGroup
		var stuck atomic.Int64
		for i := 0; i < n; i++ {
			buf := make([]byte, 1+rng.Intn(64<<10))
			rng.Read(buf)
			wg.Add(1)
			go func() {
				defer wg.Done()
				nc, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
				if err != nil {
					stuck.Add(1)
					return
				}
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * attackReadTimeout))
				nc.Write(buf) // the server may close before all is written
				if _, err := io.Copy(io.Discard, nc); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						stuck.Add(1)
					}
				}
			}()
		}
		e.normalBind(julacID, julacPIN)
		wg.Wait()
		if s := stuck.Load(); s > 0 {
			t.Errorf("%d of %d random-byte connections were neither answered nor closed within %v", s, n, 10*attackReadTimeout)
		}
		e.checkMem("after random bytes")
		e.normalBind(julacID, julacPIN)
	})

	t.Run("TLS hello on the plain port", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			nc, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			nc.SetDeadline(time.Now().Add(10 * attackReadTimeout))
			tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, ServerName: "127.0.0.1"})
			err = tc.Handshake()
			nc.Close()
			if err == nil {
				t.Fatal("a TLS handshake succeeded on the plain port")
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("TLS hello was neither answered nor closed: %v", err)
			}
		}
		e.normalBind(julacID, julacPIN)
	})

	t.Run("2 GiB length prefix", func(t *testing.T) {
		for _, prefix := range [][]byte{
			{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff},
			{0x30, 0x84, 0xff, 0xff, 0xff, 0xfe},
			{0x30, 0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		} {
			r := e.rawDial()
			r.send(append(prefix, make([]byte, 4096)...))
			if code := r.closedAfter(10 * attackReadTimeout); code != ldap.LDAPResultProtocolError {
				t.Errorf("% x: notice %d, want 2 protocolError then close", prefix, code)
			}
		}
		// Many at once, each followed by the most it can send.
		var wg sync.WaitGroup
		for i := 0; i < scale(50, 500); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nc, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
				if err != nil {
					return
				}
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * attackReadTimeout))
				nc.Write(append([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff}, make([]byte, 256<<10)...))
				io.Copy(io.Discard, nc)
			}()
		}
		e.normalBind(julacID, julacPIN)
		wg.Wait()
		e.checkMem("after 2 GiB prefixes")
	})

	t.Run("bind name of 1 MiB", func(t *testing.T) {
		// Over max_request_bytes (1 MiB by default, the name alone fills
		// it): Notice of Disconnection 2.
		r := e.rawDial()
		r.send(rawMessage(1, rawBindOp(strings.Repeat("a", 1<<20), "x")))
		if code := r.closedAfter(10 * attackReadTimeout); code != ldap.LDAPResultProtocolError {
			t.Errorf("1 MiB bind name: notice %d, want 2", code)
		}
		// Just under the limit: an ordinary failed bind.
		c := e.dial()
		if err := c.Bind("uid="+strings.Repeat("C", 1<<19)+",ou=people,"+suffix, julacPIN); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
			t.Errorf("512 KiB bind name: %v, want 49", err)
		}
		if err := c.Bind(strings.Repeat("\\", 1<<19), julacPIN); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
			t.Errorf("512 KiB of backslashes: %v, want 49", err)
		}
		e.normalBind(julacID, julacPIN)
		e.checkMem("after 1 MiB bind names")
	})

	t.Run("deeply nested filters", func(t *testing.T) {
		r := e.rawDial()
		r.bindSvc()
		// 50 levels: an ordinary answer (no ID under NOT, nothing found).
		r.send(rawMessage(2, rawSearchOp("ou=people,"+suffix, nestNot(eqFilter("uid", julacID), 50), "uid")))
		_, tag, code, err := r.next(30 * time.Second)
		if err != nil || tag != ldap.ApplicationSearchResultDone || code != 0 {
			t.Fatalf("50 nested NOTs: tag %d code %d %v", tag, code, err)
		}
		r.send(rawMessage(3, rawSearchOp("ou=people,"+suffix, nestAnd(eqFilter("uid", julacID), 60), "uid")))
		entries := 0
		for {
			_, tag, code, err := r.next(30 * time.Second)
			if err != nil {
				t.Fatalf("60 nested ANDs: %v", err)
			}
			if tag == ldap.ApplicationSearchResultEntry {
				entries++
				continue
			}
			if code != 0 || entries != 1 {
				t.Fatalf("60 nested ANDs: code %d, %d entries, want 0 and 1", code, entries)
			}
			break
		}
		// Deeper than any real filter: malformed, the connection closes.
		for _, f := range [][]byte{
			nestNot(eqFilter("uid", julacID), 10000),
			nestAnd(eqFilter("uid", julacID), 100000),
		} {
			r := e.rawDial() // no bind: the request is refused as it is read
			r.send(rawMessage(2, rawSearchOp("ou=people,"+suffix, f, "uid")))
			if code := r.closedAfter(10 * attackReadTimeout); code != ldap.LDAPResultProtocolError {
				t.Errorf("%d-byte nested filter: notice %d, want 2", len(f), code)
			}
		}
		e.normalBind(julacID, julacPIN)
		e.checkMem("after nested filters")
	})

	t.Run("10000 attributes in a search", func(t *testing.T) {
		c := e.dial()
		if err := c.Bind(svcDN, svcPW); err != nil {
			t.Fatal(err)
		}
		attrs := make([]string, 0, 10001)
		for i := 0; i < 10000; i++ {
			attrs = append(attrs, fmt.Sprintf("attribute%d", i))
		}
		attrs = append(attrs, "uid")
		for i := 0; i < 5; i++ {
			res, err := c.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				"(uid="+julacID+")", attrs, nil))
			if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("uid") != julacID {
				t.Fatalf("search with 10,000 attributes: %v %v", res, err)
			}
			if n := len(res.Entries[0].Attributes); n != 1 {
				t.Fatalf("returned %d attributes, want uid only", n)
			}
		}
		e.normalBind(julacID, julacPIN)
		e.checkMem("after 10,000-attribute searches")
	})
	e.alive()
}

// TestAttackSlowloris: clients that send half a message and then nothing,
// or one byte at a time, are closed within a few read_timeouts; a normal
// client binds meanwhile.
func TestAttackSlowloris(t *testing.T) {
	n := scale(200, 2000)
	raiseNoFile(t, uint64(4*n+1024))
	e := pinsOnlyEnv(t, `read_timeout = "2s"`)
	e.start()
	e.checkMem("before")

	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		nc, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		conns = append(conns, nc)
		nc.Write([]byte{0x30, 0x20, 0x02, 0x01}) // half a message, then silence
	}
	// A few dribblers: one byte every half second of a valid bind.
	msg := rawMessage(1, rawBindOp(personDN(julacID), julacPIN))
	var wg sync.WaitGroup
	var dribbleOpen atomic.Int64
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", e.addr)
			if err != nil {
				return
			}
			defer nc.Close()
			for _, b := range msg {
				if _, err := nc.Write([]byte{b}); err != nil {
					return // closed by the server: good
				}
				time.Sleep(500 * time.Millisecond)
			}
			dribbleOpen.Add(1) // the whole message went through: too slow a read deadline
		}()
	}
	start := time.Now()
	e.normalBind(julacID, julacPIN)
	e.checkMem(fmt.Sprintf("during %d slow clients", n))

	limit := 10 * attackReadTimeout
	for i, nc := range conns {
		nc.SetReadDeadline(start.Add(limit))
		if _, err := io.Copy(io.Discard, nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("slow client %d still open after %v (read_timeout %v)", i, time.Since(start), attackReadTimeout)
			}
		}
	}
	t.Logf("%d half-message clients closed by bindery within %v (read_timeout %v)", n, time.Since(start).Round(time.Millisecond), attackReadTimeout)
	wg.Wait()
	if d := dribbleOpen.Load(); d > 0 {
		t.Errorf("%d byte-at-a-time clients were not cut off by read_timeout", d)
	}
	e.normalBind(julacID, julacPIN)
	e.checkMem("after slowloris")
}

// TestAttackOutstandingOperations: 10,000 requests written on one
// connection without waiting; every one gets exactly one answer, success
// or 51 busy (max_ops_per_conn), and other clients are unaffected.
func TestAttackOutstandingOperations(t *testing.T) {
	e := pinsOnlyEnv(t, "")
	e.start()
	e.checkMem("before")
	r := e.rawDial()
	r.bindSvc()
	const n = 10000
	go func() {
		var buf []byte
		for i := 0; i < n; i++ {
			id := 100 + i
			if i%10 == 0 {
				buf = append(buf, rawMessage(id, rawSearchOp("ou=people,"+suffix, eqFilter("uid", julacID), "uid"))...)
			} else {
				buf = append(buf, rawMessage(id, rawWhoAmIOp())...)
			}
			if len(buf) > 64<<10 {
				if r.send(buf) != nil {
					return
				}
				buf = buf[:0]
			}
		}
		r.send(buf)
	}()
	seen := make(map[int64]int, n)
	codes := map[int]int{}
	normalDone := make(chan struct{})
	go func() {
		defer close(normalDone)
		time.Sleep(50 * time.Millisecond)
		c, err := ldap.DialURL(e.url())
		if err != nil {
			t.Errorf("normal client during the flood: %v", err)
			return
		}
		defer c.Close()
		c.SetTimeout(30 * time.Second)
		if err := c.Bind(personDN(julacID), julacPIN); err != nil {
			t.Errorf("normal client's bind during the flood: %v", err)
		}
	}()
	for done := 0; done < n; {
		id, tag, code, err := r.next(60 * time.Second)
		if err != nil {
			t.Fatalf("after %d answers: %v", done, err)
		}
		if tag == ldap.ApplicationSearchResultEntry {
			continue
		}
		if id < 100 || id >= 100+n {
			t.Fatalf("answer to unknown message %d (tag %d code %d)", id, tag, code)
		}
		seen[id]++
		if seen[id] > 1 {
			t.Fatalf("message %d answered twice", id)
		}
		codes[code]++
		done++
	}
	<-normalDone
	t.Logf("10,000 outstanding operations: %d answered 0, %d answered 51 busy, other codes %v", codes[0], codes[ldap.LDAPResultBusy], codes)
	for c := range codes {
		if c != 0 && c != ldap.LDAPResultBusy {
			t.Errorf("code %d answered %d times; only 0 and 51 are expected", c, codes[c])
		}
	}
	if codes[0] == 0 {
		t.Errorf("no operation succeeded")
	}
	// The connection still works afterwards.
	r.send(rawMessage(1, rawWhoAmIOp()))
	if _, _, code, err := r.next(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("WhoAmI after the flood: %d %v", code, err)
	}
	e.normalBind(julacID, julacPIN)
	e.checkMem("after 10,000 outstanding ops")
}

// TestAttackIdleConnections: thousands of connected clients that send
// nothing (1,000 in CI, 5,000 with BINDERY_LONG=1) under a
// max_connections above that: a normal client binds, memory stays bounded.
func TestAttackIdleConnections(t *testing.T) {
	n := scale(1000, 5000)
	raiseNoFile(t, uint64(2*n+2048))
	e := pinsOnlyEnv(t, fmt.Sprintf("max_connections = %d", n+100))
	e.start()
	before := e.checkMem("before")
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		nc, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
		if err != nil {
			t.Fatalf("idle client %d: %v", i, err)
		}
		conns = append(conns, nc)
	}
	// Every one of them is served: an anonymous WhoAmI on a sample answers.
	for i := 0; i < n; i += n / 20 {
		conns[i].SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conns[i].Write(rawMessage(1, rawWhoAmIOp())); err != nil {
			t.Fatalf("idle client %d: %v", i, err)
		}
		r := &rawClient{t: t, nc: conns[i], br: bufio.NewReader(conns[i])}
		if _, _, code, err := r.next(30 * time.Second); err != nil || code != 0 {
			t.Fatalf("idle client %d's WhoAmI: code %d %v", i, code, err)
		}
	}
	e.normalBind(julacID, julacPIN)
	during := e.checkMem(fmt.Sprintf("with %d idle connections", n))
	t.Logf("%d idle connections cost about %.1f KiB each (VmRSS delta)", n, float64(during.rssKB-before.rssKB)/float64(n))
	for _, c := range conns {
		c.Close()
	}
	conns = conns[:0]
	e.normalBind(julacID, julacPIN)
	time.Sleep(time.Second)
	e.checkMem("after they closed")
}

// TestAttackConnectionLimit: with max_connections full, one more client is
// told 51 busy and closed (go-ldap's bind fails), the server stays up, the
// refusal is logged, and once the attackers leave a normal bind works.
func TestAttackConnectionLimit(t *testing.T) {
	const limit = 20
	e, metricsURL := limitEnv(t, limit)
	e.start()
	var held []*rawClient
	for i := 0; i < limit; i++ {
		r := e.rawDial()
		r.send(rawMessage(1, rawWhoAmIOp()))
		if _, _, code, err := r.next(30 * time.Second); err != nil || code != 0 {
			t.Fatalf("connection %d under the limit: code %d %v", i, code, err)
		}
		held = append(held, r)
	}
	for i := 0; i < 10; i++ {
		r := e.rawDial()
		if code := r.closedAfter(30 * time.Second); code != ldap.LDAPResultBusy {
			t.Fatalf("connection over the limit: notice %d, want 51 busy", code)
		}
	}
	c, err := ldap.DialURL(e.url(), ldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}))
	if err == nil {
		c.SetTimeout(10 * time.Second)
		err = c.Bind(personDN(julacID), julacPIN)
		c.Close()
	}
	if err == nil {
		t.Fatalf("a bind over max_connections succeeded")
	}
	t.Logf("go-ldap over the limit: %v", err)
	e.alive()
	// The refusal is logged and counted just after the notice is sent.
	// Repeated refusals of one client are written once a minute with a
	// count (internal/ratelog): the first now, the rest when bindery stops.
	waitLog(t, e, "connection refused: too many connections")
	if metricsURL != "" {
		var n float64
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if n, err = scrapeCounter(metricsURL, `bindery_connections_rejected_total{reason="max_connections"}`); err == nil && n >= 11 {
				break
			}
		}
		if err != nil {
			t.Errorf("metrics: %v", err)
		} else if n < 11 {
			t.Errorf("connections_rejected_total{reason=max_connections} = %v, want at least 11", n)
		} else {
			t.Logf("bindery_connections_rejected_total{reason=\"max_connections\"} = %v", n)
		}
	}
	for _, r := range held {
		r.nc.Close()
	}
	var last error
	for i := 0; i < 100; i++ {
		c, err := ldap.DialURL(e.url())
		if err == nil {
			c.SetTimeout(10 * time.Second)
			err = c.Bind(personDN(julacID), julacPIN)
			c.Close()
		}
		if last = err; err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("normal bind after the attackers left: %v", last)
	}
	e.stop()
	logged := 0
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if !strings.Contains(l, "connection refused: too many connections") {
			continue
		}
		if _, n, ok := strings.Cut(l, " repeated="); ok {
			k, _ := strconv.Atoi(strings.Fields(n)[0])
			logged += k
		} else {
			logged++
		}
	}
	if logged < 11 {
		t.Errorf("%d refusals logged (lines and repeated=N counts), want 11", logged)
	}
}

// limitEnv is pinsOnlyEnv with max_connections = limit and, when this
// build of bindery has the metrics endpoint ([http] listen), that too; it
// returns the /metrics URL or "".
func limitEnv(t *testing.T, limit int) (*env, string) {
	t.Helper()
	e := pinsOnlyEnv(t, fmt.Sprintf("max_connections = %d", limit))
	addr := freeAddr(t)
	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withHTTP := string(cfg) + fmt.Sprintf("\n[http]\nlisten = %q\n", addr)
	if err := os.WriteFile(e.cfgPath, []byte(withHTTP), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(binDir, "bindery"), "--config", e.cfgPath, "--check").CombinedOutput()
	if err != nil {
		t.Logf("no metrics endpoint in this build (%s): checking the log only", strings.TrimSpace(string(out)))
		if err := os.WriteFile(e.cfgPath, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		return e, ""
	}
	return e, "http://" + addr + "/metrics"
}

// scrapeCounter reads one sample from a Prometheus text page.
func scrapeCounter(url, series string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s not found in %s", series, url)
}
