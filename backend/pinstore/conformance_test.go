package pinstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/pgtest"
)

// driverEnv is how a conformance run opens stores: the driver and a
// function that returns the DSN of a new, empty database.
type driverEnv struct {
	driver string
	newDSN func(t testing.TB) string
}

var sqliteEnv = driverEnv{driver: "sqlite", newDSN: func(t testing.TB) string {
	return filepath.Join(t.TempDir(), "pins.db")
}}

// envs maps a conformance run's test name to its driver; newStore looks
// up the run a (sub)test belongs to by its name.
var envs sync.Map

func envFor(t testing.TB) driverEnv {
	name := t.Name()
	for {
		if e, ok := envs.Load(name); ok {
			return e.(driverEnv)
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return sqliteEnv
		}
		name = name[:i]
	}
}

// conformance is the suite every driver passes: the life-cycle tests of
// the package plus the concurrency tests below.
var conformance = []struct {
	name string
	fn   func(t *testing.T)
}{
	{"AuthenticateStates", TestAuthenticateStates},
	{"Lockout", TestLockout},
	{"ConcurrentFailures", TestConcurrentFailures},
	{"LegacyRehash", TestLegacyRehash},
	{"LookupAndCheckPatron", TestLookupAndCheckPatron},
	{"Unavailable", TestUnavailable},
	{"ChangePassword", TestChangePassword},
	{"ChangePasswordClearsLock", TestChangePasswordClearsLock},
	{"ImportRows", TestImportRows},
	{"ImportHeaderErrors", TestImportHeaderErrors},
	{"ImportStrictAndIdempotent", TestImportStrictAndIdempotent},
	{"ExportRoundTrip", TestExportRoundTrip},
	{"ImportDatabaseError", TestImportDatabaseError},
	{"InvalidateCallbacks", TestInvalidateCallbacks},
	{"HashPoolBusy", TestHashPoolBusy},
	{"SearchFilters", TestSearchFilters},
	{"ReplaceCard", TestReplaceCard},
	{"Explain", TestExplain},
	{"StaffOperations", TestStaffOperations},
	{"AuditAddrAndOperator", TestAuditAddrAndOperator},
	{"DefaultParamsStore", TestDefaultParamsStore},
	{"ConcurrentLockoutTwoStores", testConcurrentLockoutTwoStores},
	{"ConcurrentPINChange", testConcurrentPINChange},
	{"ConcurrentReplaceCard", testConcurrentReplaceCard},
	{"ConcurrentAddPatron", testConcurrentAddPatron},
	{"OtherStoreInvalidates", testOtherStoreInvalidates},
	{"ListPatrons", testListPatrons},
	{"UIDNumbers", testUIDNumbers},
}

// runConformance runs the suite with stores opened on env's driver.
func runConformance(t *testing.T, env driverEnv) {
	envs.Store(t.Name(), env)
	t.Cleanup(func() { envs.Delete(t.Name()) })
	for _, c := range conformance {
		t.Run(c.name, c.fn)
	}
}

// pg is the package's PostgreSQL server, started by the first test that
// needs it and stopped by TestMain.
var (
	pgOnce sync.Once
	pg     *pgtest.Server
	pgErr  error
)

// pgServer returns the shared server, skipping t (or failing it when
// servers are required) when PostgreSQL is not installed.
func pgServer(t testing.TB) *pgtest.Server {
	t.Helper()
	if _, err := pgtest.BinDir(); err != nil {
		if pgtest.Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	pgOnce.Do(func() { pg, pgErr = pgtest.Launch() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	return pg
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pg != nil {
		pg.Close()
	}
	os.Exit(code)
}

// TestConformance runs the store suite on SQLite and on PostgreSQL.
func TestConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { runConformance(t, sqliteEnv) })
	t.Run("postgres", func(t *testing.T) {
		srv := pgServer(t)
		runConformance(t, driverEnv{driver: "postgres", newDSN: srv.NewDB})
	})
}

// openSame opens another Store on the database of s (a second process:
// its own connections), with the same clock.
func openSame(t *testing.T, s *Store, dsn string, clk *clock, mod func(*Options)) *Store {
	t.Helper()
	o := Options{Driver: envFor(t).driver, DSN: dsn, Hash: cheap, Now: clk.Now, Location: hkt, Logger: s.log}
	if mod != nil {
		mod(&o)
	}
	s2, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

// newPair opens two Stores on one new database.
func newPair(t *testing.T, mod func(*Options)) (*Store, *Store, *clock) {
	t.Helper()
	var dsn string
	s1, clk := newStore(t, func(o *Options) {
		dsn = o.DSN
		if mod != nil {
			mod(o)
		}
	})
	return s1, openSame(t, s1, dsn, clk, mod), clk
}

// testConcurrentLockoutTwoStores: 40 wrong PINs from goroutines spread
// over two stores on one database are each counted once, the threshold
// holds exactly (the lock is set by one failure), and the account is
// locked for both.
func testConcurrentLockoutTwoStores(t *testing.T) {
	ctx := context.Background()
	const max = 7
	a, b, _ := newPair(t, func(o *Options) { o.Lockout = Lockout{MaxFailures: max, Window: time.Hour, Duration: time.Hour} })
	addWithPIN(t, a, "CU1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	reasons := map[backend.Reason]int{}
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, ok, err := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: wrongPIN})
			mu.Lock()
			defer mu.Unlock()
			if ok || err != nil {
				t.Errorf("wrong PIN: ok=%v err=%v", ok, err)
			}
			reasons[res.Reason]++
		}()
	}
	wg.Wait()
	if reasons[backend.ReasonBadCredentials] != max || reasons[backend.ReasonLocked] != 40-max {
		t.Fatalf("reasons %v, want %d bad credentials and %d locked", reasons, max, 40-max)
	}
	for _, s := range []*Store{a, b} {
		p, err := s.GetPatron(ctx, "CU1")
		if err != nil || p.FailureCount != max || p.LockedUntil.IsZero() {
			t.Fatalf("patron %+v err %v: want %d failures and a lock", p, err, max)
		}
		if _, ok, _ := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN}); ok {
			t.Fatal("right PIN on a locked account accepted")
		}
	}
}

// testConcurrentPINChange: the same old PIN used for 10 concurrent
// self-service changes on two stores: exactly one wins, the others get
// ErrWrongOldPassword, and only the winner's PIN works.
func testConcurrentPINChange(t *testing.T) {
	ctx := context.Background()
	a, b, _ := newPair(t, func(o *Options) { o.Lockout = Lockout{MaxFailures: 100, Window: time.Hour, Duration: time.Hour} })
	addWithPIN(t, a, "CU1")
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.ChangePassword(ctx, backend.PasswordChange{ID: "CU1", Old: goodPIN, New: fmt.Sprintf("NewPin%02dabcd", i)})
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Fatalf("changes %d and %d both succeeded", winner, i)
		case !errors.Is(err, backend.ErrWrongOldPassword):
			t.Fatalf("change %d: %v, want ErrWrongOldPassword", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no change succeeded")
	}
	for i := range n {
		_, ok, err := b.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: fmt.Sprintf("NewPin%02dabcd", i)})
		if err != nil || ok != (i == winner) {
			t.Fatalf("PIN %d: ok=%v err=%v (winner %d)", i, ok, err, winner)
		}
	}
}

// testConcurrentReplaceCard: one card replaced concurrently to 8
// different new numbers on two stores: exactly one replacement happens.
func testConcurrentReplaceCard(t *testing.T) {
	ctx := context.Background()
	a, b, _ := newPair(t, nil)
	addWithPIN(t, a, "CU1")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.ReplaceCard(ctx, "CU1", fmt.Sprintf("CU9%d", i), staff)
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		if err == nil {
			won++
		} else if !errors.Is(err, backend.ErrNotPermitted) {
			t.Errorf("replace %d: %v, want ErrNotPermitted", i, err)
		}
	}
	old, err := a.GetPatron(ctx, "CU1")
	if won != 1 || err != nil || old.Status != StatusSuperseded {
		t.Fatalf("%d replacements won, old %+v err %v", won, old, err)
	}
	if _, ok, err := b.Authenticate(ctx, backend.Credentials{ID: old.SupersededBy, Password: goodPIN}); !ok || err != nil {
		t.Fatalf("bind with the new number %s: ok=%v err=%v", old.SupersededBy, ok, err)
	}
}

// testConcurrentAddPatron: the same ID added from two stores at once:
// one wins, the other gets ErrExists.
func testConcurrentAddPatron(t *testing.T) {
	ctx := context.Background()
	a, b, _ := newPair(t, nil)
	for i := range 10 {
		id := fmt.Sprintf("CU5%d", i)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, s := range []*Store{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); errs[j] = s.AddPatron(ctx, Patron{ID: id}, staff) }()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("%s: errors %v, want one nil", id, errs)
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, ErrExists) {
				t.Fatalf("%s: %v, want ErrExists", id, err)
			}
		}
	}
}

// testOtherStoreInvalidates: a store with WatchChanges hears, within a
// second, of every kind of change committed through another store (another
// instance, or binderyctl).
func testOtherStoreInvalidates(t *testing.T) {
	ctx := context.Background()
	ctl, clk := newStore(t, nil)
	srv := openSame(t, ctl, dsnOf(t, ctl), clk, func(o *Options) { o.WatchChanges = true; o.WatchInterval = 10 * time.Millisecond })
	for _, id := range []string{"CU1", "CU2", "CU3"} {
		addWithPIN(t, ctl, id)
	}
	rec := &recorder{}
	srv.OnInvalidate(rec.add)
	steps := []struct {
		name string
		do   func() error
		id   string
	}{
		{"reset", func() error { _, err := ctl.ResetPIN(ctx, "CU1", staff); return err }, "CU1"},
		{"change", func() error {
			_, err := ctl.ChangePassword(ctx, backend.PasswordChange{ID: "CU2", Old: goodPIN, New: "Another2026x"})
			return err
		}, "CU2"},
		{"suspend", func() error { return ctl.Suspend(ctx, "CU3", "fines", staff) }, "CU3"},
		{"resume", func() error { return ctl.Resume(ctx, "CU3", staff) }, "CU3"},
		{"lock", func() error {
			for range 5 {
				ctl.Authenticate(ctx, backend.Credentials{ID: "CU2", Password: wrongPIN})
			}
			return nil
		}, "CU2"},
		{"unlock", func() error { return ctl.Unlock(ctx, "CU2", staff) }, "CU2"},
		{"replace card", func() error { return ctl.ReplaceCard(ctx, "CU1", "CU4", staff) }, "CU4"},
	}
	for _, st := range steps {
		rec.take()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		deadline := time.Now().Add(time.Second)
		for !rec.has(st.id) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s not invalidated within a second", st.name, st.id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// dsnOf is the DSN a store was opened with by newStore.
func dsnOf(t *testing.T, s *Store) string {
	t.Helper()
	if s.dsn != "" {
		return s.dsn
	}
	return dbPath(t, s)
}

// testListPatrons: listing with and without a limit, by prefix.
func testListPatrons(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	for _, id := range []string{"CU1", "CU2", "EDU1", "X9"} {
		if err := s.AddPatron(ctx, Patron{ID: id}, staff); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		o    ListOptions
		want string
	}{
		{ListOptions{}, "CU1 CU2 EDU1 X9"},
		{ListOptions{Limit: 2}, "CU1 CU2"},
		{ListOptions{Prefix: "CU"}, "CU1 CU2"},
		{ListOptions{After: "CU2", Limit: 1}, "EDU1"},
		{ListOptions{Offset: 3}, "X9"},
	}
	for _, tc := range tests {
		ps, err := s.ListPatrons(ctx, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		if got := strings.Join(ids, " "); got != tc.want {
			t.Errorf("ListPatrons(%+v) = %q, want %q", tc.o, got, tc.want)
		}
	}
}
