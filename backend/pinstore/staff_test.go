package pinstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
)

func TestReplaceCard(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t, nil)
	addWithPIN(t, s, "CU1234567")
	old, _ := s.GetPatron(ctx, "CU1234567")
	clk.Advance(time.Hour)
	if err := s.ReplaceCard(ctx, "CU1234567", "CU7654321", staff); err != nil {
		t.Fatal(err)
	}
	res, ok, _ := s.Authenticate(ctx, backend.Credentials{ID: "CU1234567", Password: goodPIN})
	if ok || res.Reason != backend.ReasonSuperseded {
		t.Errorf("old card: %+v %v", res, ok)
	}
	res, ok, _ = s.Authenticate(ctx, backend.Credentials{ID: "CU7654321", Password: goodPIN})
	if !ok || res.Entry.UUID != old.UUID || res.Entry.Mail != old.Email || res.Entry.Category != "julac" {
		t.Errorf("new card: %+v %v", res, ok)
	}
	o, _ := s.GetPatron(ctx, "CU1234567")
	if o.Status != StatusSuperseded || o.SupersededBy != "CU7654321" || o.HasPIN || o.Generation != old.Generation+1 {
		t.Errorf("old row = %+v", o)
	}
	// Again from the old number: refused. To an existing number: ErrExists.
	if err := s.ReplaceCard(ctx, "CU1234567", "CU999", staff); !errors.Is(err, backend.ErrNotPermitted) {
		t.Errorf("replace superseded: %v", err)
	}
	addWithPIN(t, s, "CU555")
	if err := s.ReplaceCard(ctx, "CU7654321", "CU555", staff); !errors.Is(err, ErrExists) {
		t.Errorf("replace onto existing: %v", err)
	}
	// A second replacement repoints the first old number; the institution follows a new prefix.
	if err := s.ReplaceCard(ctx, "CU7654321", "CITYU5012345", staff); err != nil {
		t.Fatal(err)
	}
	o, _ = s.GetPatron(ctx, "CU1234567")
	n, _ := s.GetPatron(ctx, "CITYU5012345")
	if o.SupersededBy != "CITYU5012345" || n.Institution != "City University of Hong Kong" || n.UUID != old.UUID {
		t.Errorf("chain: old -> %s, new institution %q", o.SupersededBy, n.Institution)
	}
	h, _ := s.CardHistory(ctx, "CU7654321")
	if len(h) != 2 || h[0].OldID != "CU1234567" || h[1].NewID != "CITYU5012345" || h[0].Operator != staff {
		t.Errorf("history = %+v", h)
	}
	e, _ := s.Explain(ctx, "CU1234567")
	if e.Text != "card replaced by CITYU5012345 on 2026-03-01 11:00" {
		t.Errorf("explain = %q", e.Text)
	}
}

func TestExplain(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t, nil)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// active, with a success and a failure
	addWithPIN(t, s, "A1")
	s.Authenticate(ctx, backend.Credentials{ID: "A1", Password: goodPIN})
	clk.Advance(time.Minute)
	s.Authenticate(ctx, backend.Credentials{ID: "A1", Password: wrongPIN, ClientAddr: "10.0.0.7"})
	// no PIN
	must(s.AddPatron(ctx, Patron{ID: "N1"}, staff))
	// must change
	addWithPIN(t, s, "M1")
	_, err := s.ResetPIN(ctx, "M1", staff)
	must(err)
	// pending
	must(s.AddPatron(ctx, Patron{ID: "P1", ActiveFrom: time.Date(2026, 12, 1, 0, 0, 0, 0, hkt)}, staff))
	// expired by date
	addWithPIN(t, s, "E1")
	p, _ := s.GetPatron(ctx, "E1")
	p.Expires = time.Date(2026, 2, 28, 0, 0, 0, 0, hkt)
	must(s.UpdatePatron(ctx, *p, staff))
	// suspended
	addWithPIN(t, s, "S1")
	must(s.Suspend(ctx, "S1", "unpaid fines", "bob"))
	// locked
	addWithPIN(t, s, "L1")
	for range 5 {
		s.Authenticate(ctx, backend.Credentials{ID: "L1", Password: wrongPIN, ClientAddr: "192.0.2.9"})
	}
	// superseded
	addWithPIN(t, s, "CU1234567")
	must(s.ReplaceCard(ctx, "CU1234567", "CU7654321", staff))

	cases := []struct {
		id    string
		state State
		text  string
	}{
		{"A1", StateActive, "active; last success 2026-03-01 10:00; last failure 2026-03-01 10:01 from 10.0.0.7"},
		{"N1", StateNoPIN, "no PIN set: first-time set-up needed"},
		{"M1", StateMustChange, "must change PIN at next login"},
		{"P1", StatePending, "pending until 2026-12-01"},
		{"E1", StateExpired, "expired on 2026-02-28"},
		{"S1", StateSuspended, "suspended by bob on 2026-03-01 10:01: unpaid fines"},
		{"L1", StateLocked, "locked until 2026-03-01 10:16, 5 failures, last from 192.0.2.9"},
		{"CU1234567", StateSuperseded, "card replaced by CU7654321 on 2026-03-01 10:01"},
	}
	for _, c := range cases {
		e, err := s.Explain(ctx, c.id)
		if err != nil {
			t.Fatalf("%s: %v", c.id, err)
		}
		if e.State != c.state || e.Text != c.text || e.NextStep == "" {
			t.Errorf("%s: %q %q (next: %q)\n want %q %q", c.id, e.State, e.Text, e.NextStep, c.state, c.text)
		}
	}
	if _, err := s.Explain(ctx, "nobody"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	s2, _ := newStore(t, func(o *Options) { o.Lockout = Lockout{MaxFailures: 1, Window: time.Minute} })
	addWithPIN(t, s2, "L2")
	s2.Authenticate(ctx, backend.Credentials{ID: "L2", Password: wrongPIN})
	if e, _ := s2.Explain(ctx, "L2"); e.Text != "locked until staff unlock, 1 failures, last from unknown" {
		t.Errorf("locked forever: %q", e.Text)
	}
}

func TestStaffOperations(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t, nil)
	addWithPIN(t, s, "CU1")
	if err := s.AddPatron(ctx, Patron{ID: "CU1"}, staff); !errors.Is(err, ErrExists) {
		t.Errorf("add twice: %v", err)
	}
	if err := s.AddPatron(ctx, Patron{ID: "CU2"}, ""); err == nil {
		t.Error("add without operator accepted")
	}
	for _, bad := range []string{"", " CU3", "CU\x003"} {
		if err := s.AddPatron(ctx, Patron{ID: bad}, staff); err == nil {
			t.Errorf("AddPatron(%q) accepted", bad)
		}
	}
	if err := s.SetPIN(ctx, "CU1", "short", staff); err == nil {
		t.Error("SetPIN accepted a bad PIN")
	}
	gen := func() uint64 { p, _ := s.GetPatron(ctx, "CU1"); return p.Generation }
	bind := func() backend.Reason {
		res, _, _ := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN})
		return res.Reason
	}
	steps := []struct {
		name string
		do   func() error
		want backend.Reason
	}{
		{"suspend", func() error { return s.Suspend(ctx, "CU1", "lost card", staff) }, backend.ReasonSuspended},
		{"resume", func() error { return s.Resume(ctx, "CU1", staff) }, backend.ReasonNone},
		{"expire", func() error { return s.Expire(ctx, "CU1", staff) }, backend.ReasonExpired},
		{"renew", func() error {
			p, _ := s.GetPatron(ctx, "CU1")
			p.Expires = clk.Now().AddDate(1, 0, 0)
			return s.UpdatePatron(ctx, *p, staff)
		}, backend.ReasonNone},
	}
	for _, st := range steps {
		g := gen()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if gen() != g+1 {
			t.Errorf("%s: generation %d -> %d", st.name, g, gen())
		}
		if r := bind(); r != st.want {
			t.Errorf("%s: bind = %q, want %q", st.name, r, st.want)
		}
	}
	if err := s.Resume(ctx, "CU1", staff); err == nil {
		t.Error("resume of an active account accepted")
	}
	for _, id := range []string{"CU2", "CU3", "BU1", "BU2"} {
		s.AddPatron(ctx, Patron{ID: id, Category: map[bool]string{true: "julac", false: "alumni"}[strings.HasPrefix(id, "CU")]}, staff)
	}
	list, _ := s.ListPatrons(ctx, ListOptions{Prefix: "CU"})
	if len(list) != 3 || list[0].ID != "CU1" {
		t.Errorf("prefix list = %d", len(list))
	}
	list, _ = s.ListPatrons(ctx, ListOptions{Category: "alumni", Limit: 1})
	if len(list) != 1 || list[0].ID != "BU1" || list[0].Institution != "Hong Kong Baptist University" {
		t.Errorf("category list = %+v", list)
	}
	list, _ = s.ListPatrons(ctx, ListOptions{After: "BU2", Limit: 2})
	if len(list) != 2 || list[0].ID != "CU1" {
		t.Errorf("after list = %+v", list)
	}
	list, _ = s.ListPatrons(ctx, ListOptions{Status: StatusActive, Offset: 4})
	if len(list) != 1 {
		t.Errorf("offset list = %d", len(list))
	}
	if err := s.Delete(ctx, "CU1", staff); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPatron(ctx, "CU1"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := s.Delete(ctx, "CU1", staff); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	log, _ := s.AuditLog(ctx, "CU1", 0)
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
		if strings.Contains(e.Detail, goodPIN) {
			t.Error("audit holds a PIN")
		}
	}
	want := "delete,update,expire,resume,suspend,set-pin,add"
	if strings.Join(actions, ",") != want {
		t.Errorf("audit actions %v, want %s", actions, want)
	}
}

func TestOpenOptions(t *testing.T) {
	ctx := context.Background()
	bad := []Options{
		{DSN: ":memory:", Driver: "postgres"},
		{DSN: ""},
		{DSN: ":memory:", Policy: Policy{MinLength: 5, MaxLength: 1, MinClasses: 2}},
		{DSN: ":memory:", Lockout: Lockout{MaxFailures: -1}},
	}
	for _, o := range bad {
		if s, err := Open(ctx, o); err == nil {
			s.Close()
			t.Errorf("Open(%+v) accepted", o)
		}
	}
	s, err := Open(ctx, Options{DSN: ":memory:", Hash: cheap})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addWithPIN(t, s, "CU1")
	if _, ok, err := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN}); !ok || err != nil {
		t.Errorf("in-memory store: %v %v", ok, err)
	}
	// Reopening a file runs no migration twice.
	f, _ := newStore(t, nil)
	path := dbPath(t, f)
	f.Close()
	s2, err := Open(ctx, Options{DSN: path, Hash: cheap})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var n int
	s2.r.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n)
	if n != len(sqliteMigrations) {
		t.Errorf("schema_migrations has %d rows", n)
	}
}

func TestDefaultParamsStore(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, func(o *Options) { o.Hash = passhashZero() })
	addWithPIN(t, s, "CU1")
	h, _ := s.ExportHash(ctx, "CU1", staff)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %.35s", h)
	}
	if _, ok, _ := s.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: goodPIN}); !ok {
		t.Error("bind failed")
	}
}

// TestAuditAddrAndOperator: a staff action under WithClientAddr records the
// desk's address, one without (binderyctl) records none; the self-service
// change records its client; OperatorLog lists what one operator did and
// RecordStaffEvent writes log-in rows that change no patron.
func TestAuditAddrAndOperator(t *testing.T) {
	s, _ := newStore(t, nil)
	ctx := context.Background()
	addWithPIN(t, s, "CU1")
	desk := WithClientAddr(ctx, "10.0.0.7")
	if err := s.Unlock(desk, "CU1", "jwong"); err != nil {
		t.Fatal(err)
	}
	if err := s.Suspend(desk, "CU1", "card reported lost", "jwong"); err != nil {
		t.Fatal(err)
	}
	if err := s.Resume(ctx, "CU1", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangePassword(ctx, backend.PasswordChange{ID: "CU1", Old: goodPIN, New: "Other-PIN-2026", Operator: SetupOperator, ClientAddr: "192.0.2.5"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordStaffEvent(desk, "jwong", "staff-login", "jwong", "role=counter"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordStaffEvent(desk, "", "staff-login", "", ""); err == nil {
		t.Fatal("a staff event without an operator was recorded")
	}
	log, err := s.AuditLog(ctx, "CU1", 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range log {
		got[e.Operator+" "+e.Action] = e.Addr
	}
	for k, want := range map[string]string{
		"jwong unlock": "10.0.0.7", "jwong suspend": "10.0.0.7", "alice resume": "", "alice set-pin": "",
		SetupOperator + " change-pin": "192.0.2.5",
	} {
		if a, ok := got[k]; !ok || a != want {
			t.Errorf("%s: addr %q (recorded %v), want %q", k, a, ok, want)
		}
	}
	ops, err := s.OperatorLog(ctx, "jwong", 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range ops {
		if e.Operator != "jwong" {
			t.Errorf("OperatorLog(jwong) holds a row by %s", e.Operator)
		}
		actions = append(actions, e.Action+":"+e.PatronID)
	}
	if want := "staff-login:jwong suspend:CU1 unlock:CU1"; strings.Join(actions, " ") != want {
		t.Fatalf("OperatorLog(jwong) = %v, want %s (newest first)", actions, want)
	}
}
