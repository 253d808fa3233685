package cache_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/backend/cache"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/hashpool"
	"github.com/bindery/bindery/internal/passhash"
	"github.com/bindery/bindery/proxy"
	"github.com/go-ldap/ldap/v3"
)

const suffix = "dc=library,dc=example,dc=edu"

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stack is a real pinstore behind the cache behind a running proxy.
type stack struct {
	store *pinstore.Store
	pool  *hashpool.Pool
	addr  string
	logs  *syncBuffer
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	pool := hashpool.NewWith(hashpool.Options{Workers: 1, MaxWait: -1})
	st, err := pinstore.Open(ctx, pinstore.Options{
		DSN:      filepath.Join(t.TempDir(), "pins.db"),
		Hash:     passhash.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		HashPool: pool,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddPatron(ctx, pinstore.Patron{ID: "CU1234567", Name: "Chan Tai Man"}, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPIN(ctx, "CU1234567", "Library2026", "alice"); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := &proxy.Server{Suffix: suffix, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	srv.SetRoutes(&proxy.Routes{List: []proxy.Route{{
		Name: "julac", Match: regexp.MustCompile(`^CU[0-9]+$`), Case: proxy.CaseUpper,
		BackendName: "pins", Backend: cache.New("pins", st, cache.Options{}),
	}}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		st.Close()
	})
	return &stack{store: st, pool: pool, addr: l.Addr().String(), logs: logs}
}

func (s *stack) dial(t *testing.T) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL("ldap://" + s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func code(err error) int {
	if err == nil {
		return 0
	}
	if le, ok := err.(*ldap.Error); ok {
		return int(le.ResultCode)
	}
	return -1
}

const dn = "uid=CU1234567,ou=people," + suffix

// TestPasswordModifyInvalidates: a PIN change through Password Modify makes
// the cached old PIN fail at once; the bind log says which binds were
// cached.
func TestPasswordModifyInvalidates(t *testing.T) {
	s := newStack(t)
	c := s.dial(t)
	steps := []struct {
		name, pw  string
		wantCode  int
		wantCache string
	}{
		{"first bind", "Library2026", 0, "cache=false"},
		{"cached", "Library2026", 0, "cache=true"},
	}
	for i, st := range steps {
		if err := c.Bind(dn, st.pw); code(err) != st.wantCode {
			t.Fatalf("%s: %v", st.name, err)
		}
		var binds []string
		for len(binds) <= i { // the line is written just after the response
			binds = binds[:0]
			for _, l := range strings.Split(s.logs.String(), "\n") {
				if strings.Contains(l, "op=bind") {
					binds = append(binds, l)
				}
			}
			time.Sleep(time.Millisecond)
		}
		if !strings.Contains(binds[i], st.wantCache) {
			t.Fatalf("%s: log %q lacks %s", st.name, binds[i], st.wantCache)
		}
	}
	if _, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", "Library2026", "Changed2026x")); err != nil {
		t.Fatalf("password modify: %v", err)
	}
	c2 := s.dial(t)
	if err := c2.Bind(dn, "Library2026"); code(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("old PIN after the change: %v, want 49", err)
	}
	if err := c2.Bind(dn, "Changed2026x"); err != nil {
		t.Fatalf("new PIN: %v", err)
	}
	// A staff reset from the store (as binderyctl in this process) too.
	if _, err := s.store.ResetPIN(context.Background(), "CU1234567", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := c2.Bind(dn, "Changed2026x"); code(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("PIN after reset: %v, want 49", err)
	}
}

// TestHashingFullGives51: with the hashing pool full, an uncached bind gets
// 51 busy at once while a cached bind still succeeds.
func TestHashingFullGives51(t *testing.T) {
	s := newStack(t)
	c := s.dial(t)
	if err := c.Bind(dn, "Library2026"); err != nil { // now cached
		t.Fatal(err)
	}
	release, started := make(chan struct{}), make(chan struct{})
	go s.pool.Do(context.Background(), "", func() { close(started); <-release })
	<-started
	defer close(release)
	if err := c.Bind(dn, "Wrong-pin-2026"); code(err) != ldap.LDAPResultBusy {
		t.Fatalf("uncached bind with hashing full: %v, want 51", err)
	}
	if err := c.Bind(dn, "Library2026"); err != nil {
		t.Fatalf("cached bind with hashing full: %v, want success", err)
	}
}
