package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/pgtest"
)

// pgEnvBody is the routes and PostgreSQL pinstore of the multi-instance
// tests; every instance gets the same.
func pgEnvBody(dsn string) string {
	return fmt.Sprintf(`
[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[backend.pins]
type = "pinstore"
driver = "postgres"
dsn = %q

[lockout]
max_failures = 5
window = "15m"
duration = "15m"
throttle_after = 0

[cache]
ttl = "5m"
`, dsn)
}

// cluster is N bindery processes on one PostgreSQL behind one HAProxy.
type cluster struct {
	pg    *pgtest.Server
	nodes []*env
	lb    string // HAProxy's address
}

// startCluster starts PostgreSQL, n bindery instances and HAProxy.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	haproxy := requireHAProxy(t)
	c := &cluster{pg: pgtest.Start(t)}
	dsn := c.pg.NewDB(t)
	for range n {
		e := newEnv(t, "", pgEnvBody(dsn))
		e.start()
		c.nodes = append(c.nodes, e)
	}
	c.lb = startHAProxy(t, haproxy, c.nodes)
	return c
}

// requireHAProxy returns haproxy's path; skips (or fails in CI) without it.
func requireHAProxy(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("BINDERY_REQUIRE_SLAPD") != "" || os.Getenv("BINDERY_REQUIRE_SERVERS") != "" {
			t.Fatal("haproxy not installed (apt-get install haproxy)")
		}
		t.Skip("haproxy not installed")
	}
	return p
}

// haproxyConfig is a TCP-mode, round-robin load balancer for the nodes.
func haproxyConfig(listen string, nodes []*env) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
	maxconn 4000

defaults
	mode tcp
	timeout connect 2s
	timeout client 60s
	timeout server 60s

frontend ldap
	bind %s
	default_backend bindery

backend bindery
	balance roundrobin
`, listen)
	for i, e := range nodes {
		fmt.Fprintf(&b, "\tserver bindery%d %s\n", i+1, e.addr)
	}
	return b.String()
}

// startHAProxy runs haproxy in the foreground (-db) as a child process
// with haproxyConfig and waits until it accepts connections.
func startHAProxy(t *testing.T, bin string, nodes []*env) string {
	t.Helper()
	return startHAProxyConfig(t, bin, haproxyConfig, nodes)
}

// bindAt binds id with pw on a new connection to addr and returns the
// LDAP result code (0 success, -1 not an LDAP answer).
func bindAt(t *testing.T, addr, id, pw string) int {
	t.Helper()
	c, err := ldap.DialURL("ldap://"+addr, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return -1
	}
	defer c.Close()
	c.SetTimeout(20 * time.Second)
	return ldapCode(c.Bind(personDN(id), pw))
}

// TestTwoInstancesSharePostgres: two bindery processes on one PostgreSQL
// behind HAProxy: a PIN change through one is seen by the other at once
// (its cached old PIN is dropped by LISTEN/NOTIFY), the lockout threshold
// holds across instances, and both recover from a database restart.
func TestTwoInstancesSharePostgres(t *testing.T) {
	cl := startCluster(t, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	const oldPIN, newPIN = "Old-PIN-2026", "New-PIN-2026"
	a.addPatron("CU3000001", "CHAN Change", oldPIN)
	a.addPatron("CU3000002", "CHAN Locked", "Lock-PIN-2026")
	for i := range 6 {
		a.addPatron(fmt.Sprintf("CU30001%02d", i), "CHAN Load", "Load-PIN-2026")
	}

	t.Run("PIN change seen by the other instance", func(t *testing.T) {
		// Both instances cache the old PIN.
		for _, e := range cl.nodes {
			for range 2 {
				if code := bindAt(t, e.addr, "CU3000001", oldPIN); code != 0 {
					t.Fatalf("old PIN on %s before the change: %d", e.addr, code)
				}
			}
		}
		c := a.dial()
		if err := c.Bind(personDN("CU3000001"), oldPIN); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", oldPIN, newPIN)); err != nil {
			t.Fatalf("password modify through %s: %v", a.addr, err)
		}
		if code := bindAt(t, b.addr, "CU3000001", newPIN); code != 0 {
			t.Fatalf("new PIN through the other instance at once: %d, want 0", code)
		}
		if code := bindAt(t, a.addr, "CU3000001", oldPIN); code != 49 {
			t.Fatalf("old PIN on the changing instance: %d, want 49", code)
		}
		// The other instance hears of it by NOTIFY: within a second.
		deadline := time.Now().Add(time.Second)
		for bindAt(t, b.addr, "CU3000001", oldPIN) != 49 {
			if time.Now().After(deadline) {
				t.Fatal("old PIN still accepted by the other instance a second after the change")
			}
			time.Sleep(20 * time.Millisecond)
		}
		for i := range 4 { // through HAProxy: round robin over both
			if code := bindAt(t, cl.lb, "CU3000001", newPIN); code != 0 {
				t.Fatalf("new PIN through HAProxy (%d): %d", i, code)
			}
			if code := bindAt(t, cl.lb, "CU3000001", oldPIN); code != 49 {
				t.Fatalf("old PIN through HAProxy (%d): %d, want 49", i, code)
			}
		}
	})

	t.Run("binderyctl reset seen by both instances", func(t *testing.T) {
		a.addPatron("CU3000003", "CHAN Reset", "Reset-PIN-2026")
		for _, e := range cl.nodes {
			if code := bindAt(t, e.addr, "CU3000003", "Reset-PIN-2026"); code != 0 {
				t.Fatalf("bind on %s before the reset: %d", e.addr, code)
			}
		}
		b.mustCtl("", "pin", "reset", "CU3000003")
		for _, e := range cl.nodes {
			deadline := time.Now().Add(time.Second)
			for bindAt(t, e.addr, "CU3000003", "Reset-PIN-2026") != 49 {
				if time.Now().After(deadline) {
					t.Fatalf("%s still accepts the PIN a second after binderyctl reset it", e.addr)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})

	t.Run("five wrong PINs over both instances lock", func(t *testing.T) {
		for i := range 5 {
			e := cl.nodes[i%2]
			if code := bindAt(t, e.addr, "CU3000002", fmt.Sprintf("Wrong-PIN-%04d", i)); code != 49 {
				t.Fatalf("wrong PIN %d on %s: %d, want 49", i+1, e.addr, code)
			}
		}
		for _, addr := range []string{a.addr, b.addr, cl.lb, cl.lb} {
			if code := bindAt(t, addr, "CU3000002", "Lock-PIN-2026"); code != 49 {
				t.Fatalf("right PIN on the locked account via %s: %d, want 49", addr, code)
			}
		}
		if out := a.mustCtl("", "explain", "CU3000002"); !strings.Contains(out, "locked until") || !strings.Contains(out, "5 failures") {
			t.Fatalf("explain after 5 failures over two instances:\n%s", out)
		}
	})

	t.Run("database restart under load", func(t *testing.T) {
		var stop atomic.Bool
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					addr := cl.lb
					if i%3 == 1 {
						addr = cl.nodes[(w+i)%2].addr
					}
					code := bindAt(t, addr, fmt.Sprintf("CU30001%02d", (w+i)%6), "Load-PIN-2026")
					mu.Lock()
					codes[code]++
					mu.Unlock()
				}
			}()
		}
		time.Sleep(500 * time.Millisecond)
		cl.pg.Stop()
		// While the database is down, a bind the cache cannot answer is 52.
		for _, e := range cl.nodes {
			if code := bindAt(t, e.addr, "CU3000001", "Never-seen-PIN-1"); code != 52 {
				t.Errorf("uncached bind on %s with the database down: %d, want 52", e.addr, code)
			}
		}
		time.Sleep(time.Second)
		if err := cl.pg.Start(); err != nil {
			t.Fatal(err)
		}
		// Both instances reconnect by themselves: binds that need the store
		// (a never-cached PIN; every cache was dropped on reconnect) work.
		for _, e := range cl.nodes {
			deadline := time.Now().Add(20 * time.Second)
			for bindAt(t, e.addr, "CU3000001", newPIN) != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%s did not recover after the database restart", e.addr)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		stop.Store(true)
		wg.Wait()
		t.Logf("result codes under load across the restart: %v", codes)
		if codes[49] != 0 || codes[-1] != 0 {
			t.Fatalf("right PINs answered %v: never 49 (or a dropped connection) for a database outage", codes)
		}
		if codes[0] == 0 {
			t.Fatal("no bind succeeded during the load")
		}
	})
}
