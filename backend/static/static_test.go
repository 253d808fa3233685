package static

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/hashpool"
	"github.com/google/uuid"
)

// fakeVerify accepts "$fake$<secret>" hashes and records every call.
type fakeVerify struct {
	mu    sync.Mutex
	calls []string // encoded hashes it was asked about
}

func (f *fakeVerify) verify(encoded, secret string) (bool, error) {
	f.mu.Lock()
	f.calls = append(f.calls, encoded)
	f.mu.Unlock()
	want, ok := strings.CutPrefix(encoded, "$fake$")
	if !ok {
		return false, errors.New("malformed hash")
	}
	return want == secret, nil
}

var users = []User{
	{ID: "ils", PasswordHash: "$fake$ils-secret", Name: "Koha ILS", Category: "service"},
	{ID: "demo1", PasswordHash: "$fake$Demo#2024pin", Name: "Demo User", GivenName: "Demo", Surname: "User",
		Mail: "demo1@example.edu", Category: "alumni", Institution: "Example University"},
	{ID: "broken", PasswordHash: "argon2-but-not-really"},
}

func newBackend(t *testing.T, dummy string) (*Backend, *fakeVerify) {
	t.Helper()
	f := &fakeVerify{}
	b, err := New("staticusers", users, f.verify, Options{DummyHash: dummy})
	if err != nil {
		t.Fatal(err)
	}
	return b, f
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		id, pw      string
		wantOK      bool
		wantReason  backend.Reason
		wantErr     bool
		wantVerify  []string
		dummyConfig string
	}{
		{"right password", "demo1", "Demo#2024pin", true, "", false, []string{"$fake$Demo#2024pin"}, ""},
		{"wrong password", "demo1", "Demo#2024PIN", false, backend.ReasonBadCredentials, false, []string{"$fake$Demo#2024pin"}, ""},
		{"case differs", "DEMO1", "Demo#2024pin", false, backend.ReasonUnknownUser, false, nil, ""},
		{"unknown, no dummy", "nobody", "x", false, backend.ReasonUnknownUser, false, nil, ""},
		{"unknown, dummy verified", "nobody", "x", false, backend.ReasonUnknownUser, false, []string{"$fake$dummy"}, "$fake$dummy"},
		{"unknown, dummy matches", "nobody", "dummy", false, backend.ReasonUnknownUser, false, []string{"$fake$dummy"}, "$fake$dummy"},
		{"empty password", "ils", "", false, backend.ReasonBadCredentials, false, nil, ""},
		{"bad hash", "broken", "xyzzy-pass", false, "", true, []string{"argon2-but-not-really"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, f := newBackend(t, tc.dummyConfig)
			res, ok, err := b.Authenticate(context.Background(), backend.Credentials{ID: tc.id, Password: tc.pw})
			if ok != tc.wantOK || res.Reason != tc.wantReason {
				t.Fatalf("ok=%v reason=%q, want %v %q", ok, res.Reason, tc.wantOK, tc.wantReason)
			}
			if tc.wantErr != (err != nil) {
				t.Fatalf("err = %v", err)
			}
			if err != nil && !errors.Is(err, backend.ErrUnavailable) {
				t.Fatalf("err = %v, want it to wrap ErrUnavailable", err)
			}
			if err != nil && strings.Contains(err.Error(), tc.pw) {
				t.Fatalf("error %q contains the password", err)
			}
			if ok != (res.Entry != nil) {
				t.Fatalf("ok=%v entry=%v", ok, res.Entry)
			}
			if strings.Join(f.calls, ",") != strings.Join(tc.wantVerify, ",") {
				t.Fatalf("verify calls = %q, want %q", f.calls, tc.wantVerify)
			}
		})
	}
}

func TestEntry(t *testing.T) {
	t.Parallel()
	b, _ := newBackend(t, "")
	res, ok, err := b.Authenticate(context.Background(), backend.Credentials{ID: "demo1", Password: "Demo#2024pin"})
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	e := res.Entry
	want := backend.Entry{ID: "demo1", CommonName: "Demo User", GivenName: "Demo", Surname: "User",
		Mail: "demo1@example.edu", Category: "alumni", Institution: "Example University", UUID: UUID("staticusers", "demo1")}
	if e.ID != want.ID || e.CommonName != want.CommonName || e.GivenName != want.GivenName || e.Surname != want.Surname ||
		e.Mail != want.Mail || e.Category != want.Category || e.Institution != want.Institution || e.UUID != want.UUID {
		t.Fatalf("entry = %+v, want %+v", e, want)
	}
	u, err := uuid.Parse(e.UUID)
	if err != nil || u.Version() != 5 {
		t.Fatalf("UUID %q: version %v, %v", e.UUID, u.Version(), err)
	}
	if UUID("staticusers", "demo1") == UUID("other", "demo1") || UUID("a", "bc") == UUID("ab", "c") {
		t.Fatal("UUIDs collide across backends or name/id splits")
	}

	// Entries are copies.
	e.Mail = "changed"
	l, err := b.Lookup(context.Background(), "demo1")
	if err != nil || l.Mail != "demo1@example.edu" || l.UUID != want.UUID {
		t.Fatalf("Lookup = %+v, %v", l, err)
	}
	if _, err := b.Lookup(context.Background(), "nobody"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Lookup(nobody) err = %v", err)
	}
	if got := len(b.IDs()); got != 3 {
		t.Fatalf("IDs = %d", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	f := &fakeVerify{}
	tests := []struct {
		name    string
		users   []User
		verify  VerifyFunc
		wantErr []string
	}{
		{"ok", users, f.verify, nil},
		{"no users", nil, f.verify, nil},
		{"no verify", users, nil, []string{"no verify function"}},
		{"empty id", []User{{PasswordHash: "$fake$x"}}, f.verify, []string{"user[0].id: required"}},
		{"spaces", []User{{ID: " a", PasswordHash: "$fake$x"}}, f.verify, []string{`user[0].id: " a" has surrounding spaces`}},
		{"duplicate", []User{{ID: "a", PasswordHash: "$fake$x"}, {ID: "a", PasswordHash: "$fake$y"}}, f.verify, []string{`user[1].id: "a" is defined twice`}},
		{"no hash", []User{{ID: "a"}}, f.verify, []string{`user[0].password_hash: required`}},
		{"all at once", []User{{ID: ""}, {ID: "b"}}, nil, []string{"no verify", "user[0].id: required", "user[1].password_hash"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New("s", tc.users, tc.verify)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	b, _ := newBackend(t, "$fake$dummy")
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, pw := "ils", "ils-secret"
			if i%2 == 1 {
				id = "nobody"
			}
			_, ok, err := b.Authenticate(context.Background(), backend.Credentials{ID: id, Password: pw})
			if err != nil || ok != (i%2 == 0) {
				t.Errorf("%d: ok=%v err=%v", i, ok, err)
			}
		}(i)
	}
	wg.Wait()
}

// TestHashPoolBusy: a full hash pool refuses the bind with ErrBusy, for
// known and unknown IDs alike, without verifying.
func TestHashPoolBusy(t *testing.T) {
	pool := hashpool.NewWith(hashpool.Options{Workers: 1, MaxWait: -1})
	f := &fakeVerify{}
	b, err := New("staticusers", users, f.verify, Options{DummyHash: "$fake$dummy", HashPool: pool})
	if err != nil {
		t.Fatal(err)
	}
	release, started := make(chan struct{}), make(chan struct{})
	go pool.Do(context.Background(), "", func() { close(started); <-release })
	<-started
	defer close(release)
	for _, id := range []string{"demo1", "nobody"} {
		_, _, err := b.Authenticate(context.Background(), backend.Credentials{ID: id, Password: "Demo#2024pin"})
		if !errors.Is(err, backend.ErrBusy) {
			t.Errorf("%s: %v, want ErrBusy", id, err)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("verified %d times with a full pool", len(f.calls))
	}
}
