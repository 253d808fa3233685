package pinstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/passhash"
)

func TestAuthenticateStates(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t, nil)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	setups := map[string]func(id string){
		"active":  func(id string) { addWithPIN(t, s, id) },
		"unknown": func(string) {},
		"superseded": func(id string) {
			addWithPIN(t, s, id)
			must(s.ReplaceCard(ctx, id, id+"-NEW", staff))
		},
		"suspended": func(id string) {
			addWithPIN(t, s, id)
			must(s.Suspend(ctx, id, "fines", staff))
		},
		"expired by date": func(id string) {
			addWithPIN(t, s, id)
			must(s.Expire(ctx, id, staff))
		},
		"expired by status": func(id string) {
			addWithPIN(t, s, id)
			h, _ := passhash.Hash(goodPIN, cheap)
			_, err := s.Import(ctx, strings.NewReader("id,status,pin_hash\n"+id+",expired,\""+h+"\"\n"), ImportOptions{Strict: true})
			must(err)
		},
		"pending": func(id string) {
			addWithPIN(t, s, id)
			p, _ := s.GetPatron(ctx, id)
			p.ActiveFrom = clk.Now().Add(48 * time.Hour)
			must(s.UpdatePatron(ctx, *p, staff))
		},
		"no PIN": func(id string) {
			must(s.AddPatron(ctx, Patron{ID: id}, staff))
		},
		"locked": func(id string) {
			addWithPIN(t, s, id)
			for range 5 {
				s.Authenticate(ctx, backend.Credentials{ID: id, Password: wrongPIN})
			}
		},
		"must change": func(id string) {
			addWithPIN(t, s, id)
			_, err := s.ChangePassword(ctx, backend.PasswordChange{ID: id, New: goodPIN, Force: true, MustChange: true, Operator: staff})
			must(err)
		},
	}
	cases := []struct {
		state      string
		rightOK    bool
		right      backend.Reason
		wrong      backend.Reason
		mustChange bool
	}{
		{"active", true, backend.ReasonNone, backend.ReasonBadCredentials, false},
		{"unknown", false, backend.ReasonUnknownUser, backend.ReasonUnknownUser, false},
		{"superseded", false, backend.ReasonSuperseded, backend.ReasonSuperseded, false},
		{"suspended", false, backend.ReasonSuspended, backend.ReasonSuspended, false},
		{"expired by date", false, backend.ReasonExpired, backend.ReasonExpired, false},
		{"expired by status", false, backend.ReasonExpired, backend.ReasonExpired, false},
		{"pending", false, backend.ReasonPending, backend.ReasonPending, false},
		{"no PIN", false, backend.ReasonNoPIN, backend.ReasonNoPIN, false},
		{"locked", false, backend.ReasonLocked, backend.ReasonLocked, false},
		{"must change", true, backend.ReasonMustChange, backend.ReasonBadCredentials, true},
	}
	for i, c := range cases {
		t.Run(c.state, func(t *testing.T) {
			id := "CU10000" + string(rune('0'+i))
			setups[c.state](id)
			before, _ := s.GetPatron(ctx, id)

			res, ok, err := s.Authenticate(ctx, backend.Credentials{ID: id, Password: goodPIN, ClientAddr: "10.0.0.7"})
			if err != nil || ok != c.rightOK || res.Reason != c.right || res.MustChange != c.mustChange {
				t.Errorf("right PIN: %+v, %v, %v; want ok=%v reason=%q mustChange=%v", res, ok, err, c.rightOK, c.right, c.mustChange)
			}
			if ok && (res.Entry == nil || res.Entry.ID != id || res.Entry.Institution != "The Chinese University of Hong Kong") {
				t.Errorf("entry = %+v", res.Entry)
			}
			res, ok, err = s.Authenticate(ctx, backend.Credentials{ID: id, Password: wrongPIN, ClientAddr: "10.0.0.7"})
			if err != nil || ok || res.Reason != c.wrong {
				t.Errorf("wrong PIN: %+v, %v, %v; want reason %q", res, ok, err, c.wrong)
			}
			after, err := s.GetPatron(ctx, id)
			if c.state == "unknown" {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantCount := before.FailureCount
			if c.wrong == backend.ReasonBadCredentials {
				wantCount++
			}
			if after.FailureCount != wantCount {
				t.Errorf("failure count %d -> %d, want %d (only wrong PINs of usable accounts count)", before.FailureCount, after.FailureCount, wantCount)
			}
		})
	}
}

func TestLockout(t *testing.T) {
	ctx := context.Background()
	bind := func(s *Store, pin string) (backend.Result, bool) {
		t.Helper()
		res, ok, err := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: pin, ClientAddr: "10.0.0.7"})
		if err != nil {
			t.Fatal(err)
		}
		return res, ok
	}

	t.Run("five wrong lock, then the lock ends", func(t *testing.T) {
		s, clk := newStore(t, nil)
		addWithPIN(t, s, "CU1")
		gen0, _ := s.GetPatron(ctx, "CU1")
		for i := 1; i <= 5; i++ {
			if res, _ := bind(s, wrongPIN); res.Reason != backend.ReasonBadCredentials {
				t.Fatalf("failure %d: %q, want bad_credentials (also for the one that locks)", i, res.Reason)
			}
		}
		p, _ := s.GetPatron(ctx, "CU1")
		if p.FailureCount != 5 || !p.LockedUntil.Equal(clk.Now().Add(15*time.Minute)) || p.Generation != gen0.Generation+1 {
			t.Fatalf("after 5: count %d, locked until %v, gen %d->%d", p.FailureCount, p.LockedUntil, gen0.Generation, p.Generation)
		}
		if res, ok := bind(s, goodPIN); ok || res.Reason != backend.ReasonLocked {
			t.Fatalf("right PIN while locked: %q", res.Reason)
		}
		bind(s, wrongPIN) // neither counted nor extends the lock
		p2, _ := s.GetPatron(ctx, "CU1")
		if p2.FailureCount != 5 || !p2.LockedUntil.Equal(p.LockedUntil) {
			t.Errorf("wrong PIN while locked changed count/lock: %d %v", p2.FailureCount, p2.LockedUntil)
		}
		clk.Advance(15*time.Minute + time.Second)
		if res, ok := bind(s, goodPIN); !ok {
			t.Fatalf("after the lock: %q", res.Reason)
		}
		p3, _ := s.GetPatron(ctx, "CU1")
		if p3.FailureCount != 0 || !p3.LockedUntil.IsZero() || p3.LastSuccessAt.IsZero() {
			t.Errorf("success did not reset: %+v", p3)
		}
	})

	t.Run("failures outside the window restart the count", func(t *testing.T) {
		s, clk := newStore(t, nil)
		addWithPIN(t, s, "CU1")
		for range 4 {
			bind(s, wrongPIN)
		}
		clk.Advance(16 * time.Minute)
		for range 4 {
			bind(s, wrongPIN)
		}
		p, _ := s.GetPatron(ctx, "CU1")
		if p.FailureCount != 4 || !p.LockedUntil.IsZero() {
			t.Fatalf("count %d locked %v; want 4, not locked", p.FailureCount, p.LockedUntil)
		}
		if _, ok := bind(s, goodPIN); !ok {
			t.Fatal("right PIN refused")
		}
	})

	t.Run("expired lock restarts the count", func(t *testing.T) {
		s, clk := newStore(t, func(o *Options) { o.Lockout = Lockout{MaxFailures: 3, Window: time.Hour, Duration: time.Minute} })
		addWithPIN(t, s, "CU1")
		for range 3 {
			bind(s, wrongPIN)
		}
		clk.Advance(2 * time.Minute)
		if res, _ := bind(s, wrongPIN); res.Reason != backend.ReasonBadCredentials {
			t.Fatalf("first failure after the lock: %q", res.Reason)
		}
		p, _ := s.GetPatron(ctx, "CU1")
		if p.FailureCount != 1 || !p.LockedUntil.IsZero() {
			t.Errorf("count %d locked %v; want 1 and not locked", p.FailureCount, p.LockedUntil)
		}
	})

	t.Run("duration 0 locks until Unlock", func(t *testing.T) {
		s, clk := newStore(t, func(o *Options) { o.Lockout = Lockout{MaxFailures: 5, Window: 15 * time.Minute} })
		addWithPIN(t, s, "CU1")
		for range 5 {
			bind(s, wrongPIN)
		}
		clk.Advance(1000 * time.Hour)
		if res, _ := bind(s, goodPIN); res.Reason != backend.ReasonLocked {
			t.Fatalf("after 1000h: %q, want locked", res.Reason)
		}
		p, _ := s.GetPatron(ctx, "CU1")
		if !p.LockedUntil.Equal(LockForever) {
			t.Errorf("LockedUntil = %v", p.LockedUntil)
		}
		if err := s.Unlock(ctx, "CU1", staff); err != nil {
			t.Fatal(err)
		}
		if res, ok := bind(s, goodPIN); !ok {
			t.Fatalf("after Unlock: %q", res.Reason)
		}
	})

	t.Run("max failures 0 disables lockout", func(t *testing.T) {
		s, _ := newStore(t, func(o *Options) { o.Lockout = Lockout{MaxFailures: 0, Window: time.Minute} })
		addWithPIN(t, s, "CU1")
		for range 20 {
			bind(s, wrongPIN)
		}
		if _, ok := bind(s, goodPIN); !ok {
			t.Fatal("locked although lockout is off")
		}
	})
}

func TestConcurrentFailures(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		max, wantCount int
		locked         bool
	}{
		{1000, 50, false},
		{5, 5, true},
	} {
		s, _ := newStore(t, func(o *Options) { o.Lockout = Lockout{MaxFailures: c.max, Window: time.Hour, Duration: time.Hour} })
		addWithPIN(t, s, "CU1")
		var wg sync.WaitGroup
		var mu sync.Mutex
		reasons := map[backend.Reason]int{}
		for range 50 {
			wg.Go(func() {
				res, ok, err := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: wrongPIN, ClientAddr: "10.0.0.7"})
				if err != nil || ok {
					t.Errorf("Authenticate = %v, %v", ok, err)
				}
				mu.Lock()
				reasons[res.Reason]++
				mu.Unlock()
			})
		}
		wg.Wait()
		p, _ := s.GetPatron(ctx, "CU1")
		if p.FailureCount != c.wantCount || (!p.LockedUntil.IsZero()) != c.locked {
			t.Errorf("max %d: count %d locked %v; want %d, %v", c.max, p.FailureCount, p.LockedUntil, c.wantCount, c.locked)
		}
		if c.locked && (reasons[backend.ReasonBadCredentials] != 5 || reasons[backend.ReasonLocked] != 45) {
			t.Errorf("max %d: reasons %v; want 5 bad_credentials and 45 locked", c.max, reasons)
		}
	}
}

func TestLegacyRehash(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	// Each of these verifies "secret"; the policy does not apply to imported hashes.
	hashes := map[string]string{
		"SSHA":              "{SSHA}0wwR31ayHNuhkChV2X6CHG3+dskdYXzP",
		"SHA":               "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
		"SSHA256":           "{SSHA256}kkFbK0jhuDajHKJDoqAN3yZwuYwKO0Ozhe7+Cvv50RbxVSjsLeJ3uA==",
		"SSHA512":           "{SSHA512}HLOdOn3tM5neobr2wt5r0HPpjrrFZXtEPU2IFWXtfzAR7tAMbYghXFBeq9dfVJo1fruspm3KNnJDQ72khUnC8IRdqNOIeZqQ",
		"CRYPT6":            "{CRYPT}$6$5s2G2zYs9aOS5gC9$14.6VUchVnj3WiDRWgzx5OomxrsFjOsvtRFn5tYI0aZ6C/41tpX4l1A.tyTve.JxAHkbyfsohwcX8.uP7.3560",
		"CRYPT1":            "{CRYPT}$1$vEkfsAvj$OEFPfS/wAPgeI3jlhoAxl0",
		"bcrypt":            "$2y$04$rSwL/NUtrG5NiiJBLB7DHeaDMPOr/Djhr6/pR6aGUmR3Z93oJLf2a",
		"argon2-old-params": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$6G4RVhNf4sYzxbGJQzsImNwnF3BnniV+nogjylwdjiA",
	}
	var csv strings.Builder
	csv.WriteString("id,pin_hash,must_change\n")
	for name, h := range hashes {
		csv.WriteString("L-" + name + ",\"" + h + "\",false\n")
	}
	sum, err := s.Import(ctx, strings.NewReader(csv.String()), ImportOptions{Strict: true, Operator: staff})
	if err != nil || sum.Created != len(hashes) {
		t.Fatalf("Import = %+v, %v", sum, err)
	}
	for name := range hashes {
		t.Run(name, func(t *testing.T) {
			id := "L-" + name
			if res, ok, err := s.Authenticate(ctx, backend.Credentials{ID: id, Password: "wrong"}); ok || err != nil || res.Reason != backend.ReasonBadCredentials {
				t.Errorf("wrong: %+v %v %v", res, ok, err)
			}
			res, ok, err := s.Authenticate(ctx, backend.Credentials{ID: id, Password: "secret"})
			if !ok || err != nil || !res.LegacyRehash {
				t.Fatalf("right: %+v %v %v", res, ok, err)
			}
			h, _ := s.ExportHash(ctx, id, staff)
			if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Errorf("stored hash after bind: %.30s...", h)
			}
			res, ok, _ = s.Authenticate(ctx, backend.Credentials{ID: id, Password: "secret"})
			if !ok || res.LegacyRehash {
				t.Errorf("second bind: %+v %v", res, ok)
			}
		})
	}
}

func TestLookupAndCheckPatron(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t, nil)
	addWithPIN(t, s, "CU1234567")
	e, err := s.Lookup(ctx, "CU1234567")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.GetPatron(ctx, "CU1234567")
	if e.CommonName != "Chan Tai Man" || e.Surname != "Man" || e.GivenName != "Chan Tai" || e.Mail != "CU1234567@example.edu" ||
		e.Category != "julac" || e.Institution != "The Chinese University of Hong Kong" || e.UUID != p.UUID || len(e.UUID) != 36 ||
		!e.Created.Equal(clk.Now()) {
		t.Errorf("entry = %+v", e)
	}
	if _, err := s.Lookup(ctx, "CU0000000"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	if r, ok, err := s.CheckPatron(ctx, "CU1234567"); !ok || err != nil || r != backend.ReasonNone {
		t.Errorf("CheckPatron active = %q %v %v", r, ok, err)
	}
	if r, ok, err := s.CheckPatron(ctx, "nobody"); ok || err != nil || r != backend.ReasonNoPatron {
		t.Errorf("CheckPatron unknown = %q %v %v", r, ok, err)
	}
	p.ActiveFrom = clk.Now().Add(time.Hour)
	s.UpdatePatron(ctx, *p, staff)
	if r, ok, _ := s.CheckPatron(ctx, "CU1234567"); ok || r != backend.ReasonPending {
		t.Errorf("CheckPatron pending = %q %v", r, ok)
	}
	s.Suspend(ctx, "CU1234567", "", staff)
	if r, ok, _ := s.CheckPatron(ctx, "CU1234567"); ok || r != backend.ReasonSuspended {
		t.Errorf("CheckPatron suspended = %q %v", r, ok)
	}
	// A locked account with no PIN is still a patron.
	s.AddPatron(ctx, Patron{ID: "CU7"}, staff)
	if _, ok, _ := s.CheckPatron(ctx, "CU7"); !ok {
		t.Error("CheckPatron without PIN = false")
	}
	// Superseded numbers are not in the directory.
	s.ReplaceCard(ctx, "CU7", "CU8", staff)
	if _, err := s.Lookup(ctx, "CU7"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("superseded lookup: %v", err)
	}
	if r, ok, _ := s.CheckPatron(ctx, "CU7"); ok || r != backend.ReasonSuperseded {
		t.Errorf("CheckPatron superseded = %q %v", r, ok)
	}
}

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	addWithPIN(t, s, "CU1")
	s.Close()
	if _, _, err := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN}); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Authenticate on a closed store: %v, want ErrUnavailable", err)
	}
	if _, err := s.Lookup(ctx, "CU1"); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Lookup: %v", err)
	}
	if _, _, err := s.CheckPatron(ctx, "CU1"); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("CheckPatron: %v", err)
	}
}
