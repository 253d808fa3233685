package proxy

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

const testSuffix = "dc=library,dc=example,dc=edu"

// fakeUser is one account of a fake backend.
type fakeUser struct {
	password   string
	entry      backend.Entry
	reason     backend.Reason // non-empty: the bind fails with this reason even with the right password
	mustChange bool
}

// fakeBackend implements Authenticator, PasswordChanger and PatronChecker.
type fakeBackend struct {
	mu    sync.Mutex
	users map[string]*fakeUser

	authErr   error // returned by Authenticate
	lookupErr error // returned by Lookup
	panicID   string

	// blockLookup, when set, makes Lookup signal lookupStarted and wait
	// for release or cancellation.
	blockLookup   bool
	lookupStarted chan string
	release       chan struct{}
	lookupDone    chan error

	changeErr   error
	generated   string
	lastChange  backend.PasswordChange
	patronState map[string]backend.Reason // id → "" active, else the reason

	authCalls   atomic.Int64
	lookupCalls atomic.Int64
	lastNoEntry atomic.Bool // Credentials.NoEntry of the last Authenticate
	passwords   []string    // every password Authenticate was given, under mu
}

func newFake() *fakeBackend {
	return &fakeBackend{
		users:         map[string]*fakeUser{},
		lookupStarted: make(chan string, 16),
		release:       make(chan struct{}),
		lookupDone:    make(chan error, 16),
	}
}

func (f *fakeBackend) add(id, password, category string) *fakeUser {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := &fakeUser{password: password, entry: backend.Entry{
		ID: id, CommonName: "Name " + id, Surname: "Sur", GivenName: "Given", Mail: id + "@example.edu",
		Category: category, Institution: "Example U", UUID: "uuid-" + id,
		Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	}}
	f.users[id] = u
	return u
}

func (f *fakeBackend) Authenticate(ctx context.Context, c backend.Credentials) (backend.Result, bool, error) {
	f.authCalls.Add(1)
	f.lastNoEntry.Store(c.NoEntry)
	f.mu.Lock()
	f.passwords = append(f.passwords, c.Password)
	f.mu.Unlock()
	if f.panicID != "" && c.ID == f.panicID {
		panic("fake backend exploded")
	}
	if f.authErr != nil {
		return backend.Result{}, false, fmt.Errorf("fake: authenticate: %w", f.authErr)
	}
	f.mu.Lock()
	u, ok := f.users[c.ID]
	f.mu.Unlock()
	if !ok {
		return backend.Result{Reason: backend.ReasonUnknownUser}, false, nil
	}
	if subtle.ConstantTimeCompare([]byte(u.password), []byte(c.Password)) != 1 {
		return backend.Result{Reason: backend.ReasonBadCredentials}, false, nil
	}
	if u.reason != "" {
		return backend.Result{Reason: u.reason}, false, nil
	}
	e := u.entry
	return backend.Result{Entry: &e, MustChange: u.mustChange}, true, nil
}

func (f *fakeBackend) Lookup(ctx context.Context, id string) (*backend.Entry, error) {
	f.lookupCalls.Add(1)
	if f.blockLookup {
		f.lookupStarted <- id
		select {
		case <-f.release:
		case <-ctx.Done():
			f.lookupDone <- ctx.Err()
			return nil, fmt.Errorf("fake: lookup: %w", ctx.Err())
		}
		f.lookupDone <- nil
	}
	if f.lookupErr != nil {
		return nil, fmt.Errorf("fake: lookup: %w", f.lookupErr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[id]
	if !ok {
		return nil, fmt.Errorf("fake: lookup %q: %w", id, backend.ErrNotFound)
	}
	e := u.entry
	return &e, nil
}

func (f *fakeBackend) Close() error { return nil }

func (f *fakeBackend) ChangePassword(ctx context.Context, req backend.PasswordChange) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastChange = req
	if f.changeErr != nil {
		return "", fmt.Errorf("fake: change password: %w", f.changeErr)
	}
	u, ok := f.users[req.ID]
	if !ok {
		return "", fmt.Errorf("fake: change password: %w", backend.ErrNotFound)
	}
	if !req.Force && subtle.ConstantTimeCompare([]byte(u.password), []byte(req.Old)) != 1 {
		return "", fmt.Errorf("fake: change password: %w", backend.ErrWrongOldPassword)
	}
	newPW := req.New
	gen := ""
	if newPW == "" {
		newPW, gen = f.generated, f.generated
	}
	u.password = newPW
	u.mustChange = req.Force && req.MustChange
	return gen, nil
}

func (f *fakeBackend) CheckPatron(ctx context.Context, id string) (backend.Reason, bool, error) {
	r, ok := f.patronState[id]
	if !ok {
		return backend.ReasonNoPatron, false, nil
	}
	return r, r == "", nil
}

// campusOnly wraps a fake so that it is not a PasswordChanger.
type campusOnly struct{ f *fakeBackend }

func (c campusOnly) Authenticate(ctx context.Context, cr backend.Credentials) (backend.Result, bool, error) {
	return c.f.Authenticate(ctx, cr)
}
func (c campusOnly) Lookup(ctx context.Context, id string) (*backend.Entry, error) {
	return c.f.Lookup(ctx, id)
}
func (c campusOnly) Close() error { return nil }

func password(pw string) func(context.Context, string, string) (bool, error) {
	return func(_ context.Context, _, got string) (bool, error) {
		return subtle.ConstantTimeCompare([]byte(pw), []byte(got)) == 1, nil
	}
}

// env is a running server with two fake backends: "pin" for JULAC IDs
// (upper-cased) and "campus" for portal UIDs (lower-cased, not a
// PasswordChanger).
type env struct {
	t      *testing.T
	srv    *Server
	addr   string
	pin    *fakeBackend
	campus *fakeBackend
	served chan error
}

func newEnv(t *testing.T, mod func(*Server)) *env {
	t.Helper()
	e := &env{t: t, pin: newFake(), campus: newFake(), served: make(chan error, 1)}
	e.pin.add("CU1234567", "right-pin-123", "julac")
	e.pin.add("CITYU5012345", "other-pin-456", "julac")
	e.campus.add("jchan", "portal-pw", "staff")
	e.srv = &Server{
		Suffix:    testSuffix,
		UPNSuffix: "example.edu",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	e.srv.SetRoutes(&Routes{
		List: []Route{
			{Name: "julac", Match: regexp.MustCompile(`^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{5,9}$`), Case: CaseUpper, BackendName: "pin", Backend: e.pin},
			{Name: "campus", Match: regexp.MustCompile(`^[a-z][a-z0-9]{1,15}$`), Case: CaseLower, BackendName: "campus", Backend: campusOnly{e.campus}},
		},
		ServiceAccounts: []ServiceAccount{
			{Name: "ils", Verify: password("ils-secret"), CanSearch: true, CanReset: true},
			{Name: "nosearch", Verify: password("ns-secret")},
			{Name: "faraway", Verify: password("fa-secret"), CanSearch: true, Networks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
		},
	})
	if mod != nil {
		mod(e.srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	go func() { e.served <- e.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
	})
	return e
}

// dial returns a go-ldap client connected to the server.
func (e *env) dial() *ldap.Conn {
	e.t.Helper()
	c, err := ldap.DialURL("ldap://" + e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	c.SetTimeout(10 * time.Second)
	e.t.Cleanup(func() { c.Close() })
	return c
}

func personDN(id string) string  { return "uid=" + id + ",ou=people," + testSuffix }
func serviceDN(id string) string { return "cn=" + id + ",ou=services," + testSuffix }

// code returns the LDAP result code of a go-ldap error (0 for nil).
func code(err error) int {
	if err == nil {
		return 0
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		return int(le.ResultCode)
	}
	return -1
}

var errFake = errors.New("fake failure")
