package pinstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/passhash"
)

const ssha = "{SSHA}0wwR31ayHNuhkChV2X6CHG3+dskdYXzP" // "secret"

func TestImportRows(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	in := `id,name,email,category,institution,active_from,expires,status,pin_hash,must_change
CU1234567,Chan Tai Man,tm@example.edu,julac,,2026-01-01,2027-08-31,active,` + ssha + `,true
CITYU5012345,Wong Siu Ming,,julac,,,,,,
2100000001,Mary Smith,mary@example.org,alumni,,2026-12-01,,,,
,No Id,,,,,,,,
CU2,Bad Date,,,,2026-13-01,,,,
CU3,Bad Status,,,,,,gone,,
CU4,Plaintext,,,,,,,Library2026,
CU5,Bad Flag,,,,,,,,maybe
CU6,Many problems,not-an-email,,,,31/12/2026,,{CRYPT}abJnggxhB/yWI,
"CU7,broken
`
	sum, err := s.Import(ctx, strings.NewReader(in), ImportOptions{Operator: staff})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 3 || sum.Updated != 0 || sum.Skipped != 0 {
		t.Errorf("summary %+v", sum)
	}
	wantErrs := []struct {
		line int
		has  string
	}{
		{5, "id: empty"},
		{6, "active_from"},
		{7, `status: "gone"`},
		{8, "pin_hash: unsupported scheme"},
		{9, "must_change"},
		{10, "email"},
		{11, "extraneous or missing"},
	}
	if len(sum.Errors) != len(wantErrs) {
		t.Fatalf("errors = %+v", sum.Errors)
	}
	for i, w := range wantErrs {
		e := sum.Errors[i]
		if e.Line != w.line || !strings.Contains(e.Reason, w.has) {
			t.Errorf("error %d = %+v, want line %d containing %q", i, e, w.line, w.has)
		}
		if strings.Contains(e.Reason, "Library2026") {
			t.Errorf("reason echoes a plaintext: %q", e.Reason)
		}
	}
	if !strings.Contains(sum.Errors[5].Reason, "expires") || !strings.Contains(sum.Errors[5].Reason, "pin_hash") {
		t.Errorf("row 10 should list every problem: %q", sum.Errors[5].Reason)
	}
	p, _ := s.GetPatron(ctx, "CU1234567")
	if !p.HasPIN || !p.MustChange || p.Institution != "The Chinese University of Hong Kong" ||
		p.ActiveFrom.Format(time.RFC3339) != "2025-12-31T16:00:00Z" || p.Expires.In(hkt).Format(time.DateOnly) != "2027-08-31" {
		t.Errorf("CU1234567 = %+v", p)
	}
	res, ok, _ := s.Authenticate(ctx, backend.Credentials{ID: "CU1234567", Password: "secret"})
	if !ok || !res.MustChange || !res.LegacyRehash {
		t.Errorf("migrated user: %+v %v", res, ok)
	}
	if _, ok, _ := s.Authenticate(ctx, backend.Credentials{ID: "CITYU5012345", Password: "x"}); ok {
		t.Error("no-PIN user bound")
	}
	if e, _ := s.Explain(ctx, "2100000001"); e.State != StatePending {
		t.Errorf("pending import: %q", e.State)
	}
}

func TestImportHeaderErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	for _, h := range []string{"id,name,password\n", "name,email\n", "id,id\n", ""} {
		if _, err := s.Import(ctx, strings.NewReader(h+"CU1,x\n"), ImportOptions{}); err == nil {
			t.Errorf("header %q accepted", h)
		}
	}
	if n, _ := s.ListPatrons(ctx, ListOptions{}); len(n) != 0 {
		t.Errorf("%d rows loaded", len(n))
	}
	// A BOM and odd case/spacing in the header are fine.
	sum, err := s.Import(ctx, strings.NewReader("\ufeffID , Name\nCU1,x\n"), ImportOptions{})
	if err != nil || sum.Created != 1 {
		t.Errorf("BOM header: %+v %v", sum, err)
	}
}

func TestImportStrictAndIdempotent(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	good := "id,name,category,pin_hash,must_change\nCU1,A,julac," + ssha + ",true\nCU2,B,julac,,\n"
	bad := good + "CU3,C,julac,plaintext,\n"
	sum, err := s.Import(ctx, strings.NewReader(bad), ImportOptions{Strict: true})
	if err == nil || len(sum.Errors) != 1 || sum.Errors[0].Line != 4 || sum.Created != 0 {
		t.Errorf("strict: %+v %v", sum, err)
	}
	if n, _ := s.ListPatrons(ctx, ListOptions{}); len(n) != 0 {
		t.Fatalf("strict loaded %d rows", len(n))
	}
	sum, err = s.Import(ctx, strings.NewReader(good), ImportOptions{Strict: true})
	if err != nil || sum.Created != 2 {
		t.Fatalf("strict good: %+v %v", sum, err)
	}
	p1, _ := s.GetPatron(ctx, "CU1")
	sum, err = s.Import(ctx, strings.NewReader(good), ImportOptions{})
	if err != nil || sum.Created != 0 || sum.Updated != 0 || sum.Skipped != 2 {
		t.Errorf("re-run: %+v %v", sum, err)
	}
	p2, _ := s.GetPatron(ctx, "CU1")
	if p1.Generation != p2.Generation || p1.UUID != p2.UUID {
		t.Errorf("re-run changed the row: gen %d->%d", p1.Generation, p2.Generation)
	}
	// A file without a PIN column keeps the PINs; a changed name updates.
	sum, err = s.Import(ctx, strings.NewReader("id,name,category\nCU1,A2,julac\n"), ImportOptions{})
	p3, _ := s.GetPatron(ctx, "CU1")
	if err != nil || sum.Updated != 1 || !p3.HasPIN || !p3.MustChange || p3.Name != "A2" || p3.Generation != p2.Generation+1 {
		t.Errorf("partial update: %+v %v %+v", sum, err, p3)
	}
	log, _ := s.AuditLog(ctx, "CU1", 1)
	if len(log) != 1 || log[0].Action != "import-update" || log[0].Detail != "line 2 changed: name" {
		t.Errorf("audit %+v", log)
	}
}

func TestExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	addWithPIN(t, s, "CU1234567")
	s.AddPatron(ctx, Patron{ID: "2100000001", Name: "Mary, Smith \"Jr\"", ActiveFrom: time.Date(2026, 12, 1, 0, 0, 0, 0, hkt), Category: "alumni"}, staff)
	addWithPIN(t, s, "BU1")
	s.Expire(ctx, "BU1", staff) // an expiry with a time of day
	s.Suspend(ctx, "BU1", "x", staff)
	s.ReplaceCard(ctx, "CU1234567", "CU7654321", staff)

	for _, withHashes := range []bool{false, true} {
		var out bytes.Buffer
		if err := s.Export(ctx, &out, withHashes); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "$argon2id$") != withHashes {
			t.Errorf("withHashes=%v: hashes present = %v", withHashes, !withHashes)
		}
		s2, _ := newStore(t, nil)
		sum, err := s2.Import(ctx, bytes.NewReader(out.Bytes()), ImportOptions{Strict: true})
		if err != nil || sum.Created != 4 {
			t.Fatalf("import of export: %+v %v\n%s", sum, err, out.String())
		}
		var again bytes.Buffer
		s2.Export(ctx, &again, withHashes)
		if again.String() != out.String() {
			t.Errorf("round trip differs:\n%s\n---\n%s", out.String(), again.String())
		}
		if withHashes {
			if _, ok, _ := s2.Authenticate(ctx, backend.Credentials{ID: "CU7654321", Password: goodPIN}); !ok {
				t.Error("PIN lost in the round trip")
			}
			if res, _, _ := s2.Authenticate(ctx, backend.Credentials{ID: "CU1234567", Password: goodPIN}); res.Reason != backend.ReasonSuperseded {
				t.Errorf("superseded in the round trip: %q", res.Reason)
			}
		}
	}
}

// TestImport100k loads 100,000 rows (a third with legacy hashes) and
// reports the time. It is skipped with -short; under -race (twenty times
// slower) it loads 10,000.
func TestImport100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100k import skipped in -short mode")
	}
	ctx := context.Background()
	s, _ := newStore(t, nil)
	argon, _ := passhash.Hash("secret", cheap)
	var b strings.Builder
	b.WriteString("id,name,email,category,institution,active_from,expires,status,pin_hash,must_change\n")
	n := 100_000
	if raceEnabled {
		n = 10_000
	}
	for i := range n {
		hash := ""
		switch i % 3 {
		case 0:
			hash = ssha
		case 1:
			hash = argon
		}
		fmt.Fprintf(&b, "CU%07d,Patron %d,p%d@example.edu,julac,,2026-01-01,2027-08-31,active,\"%s\",%v\n", i, i, i, hash, i%2 == 0)
	}
	data := b.String()
	batches := 0
	start := time.Now()
	sum, err := s.Import(ctx, strings.NewReader(data), ImportOptions{Operator: staff, Progress: func(int) { batches++ }})
	took := time.Since(start)
	if err != nil || sum.Created != n || len(sum.Errors) != 0 {
		t.Fatalf("import: %+v %v", sum.Created, err)
	}
	t.Logf("imported %d rows in %v (%.0f rows/s), %d batches", n, took, float64(n)/took.Seconds(), batches)
	start = time.Now()
	sum, err = s.Import(ctx, strings.NewReader(data), ImportOptions{Operator: staff})
	t.Logf("re-import (all skipped) in %v", time.Since(start))
	if err != nil || sum.Skipped != n {
		t.Fatalf("re-import: %+v %v", sum.Skipped, err)
	}
	if batches != n/1000 {
		t.Errorf("progress called %d times, want 100", batches)
	}
	if _, ok, _ := s.Authenticate(ctx, backend.Credentials{ID: fmt.Sprintf("CU%07d", n-1), Password: "secret"}); !ok {
		t.Error("last row cannot bind")
	}
}

func TestImportDatabaseError(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, nil)
	s.Close()
	_, err := s.Import(ctx, strings.NewReader("id\nCU1\n"), ImportOptions{})
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("import on a closed store: %v", err)
	}
}
