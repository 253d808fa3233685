package pinstore

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"testing"
)

// csvLines reads a CSV file the way Import does and returns, per line of
// a record that reads cleanly, the trimmed value of its id column.
func csvLines(data string) map[int]string {
	cr := csv.NewReader(strings.NewReader(data))
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil
	}
	idCol := -1
	for i, h := range header {
		if strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) == "id" {
			idCol = i
		}
	}
	out := map[int]string{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				continue
			}
			return out
		}
		line, _ := cr.FieldPos(0)
		if idCol >= 0 && idCol < len(rec) {
			out[line] = strings.TrimSpace(rec[idCol])
		}
	}
}

// FuzzImportCSV imports arbitrary CSV into an empty store. Import must
// never panic; a row it reports bad must not be loaded (unless the same ID
// is also on a good row); Created must equal the patrons in the store; a
// strict import with a bad row loads nothing; and a row error never
// echoes a cell of the pin_hash column.
func FuzzImportCSV(f *testing.F) {
	header := "id,name,email,category,institution,active_from,expires,status,pin_hash,must_change\n"
	for _, s := range []string{
		header + "CU1234567,Chan Tai Man,tm@example.edu,julac,,2026-01-01,2027-08-31,active," + ssha + ",true\n",
		header + "CITYU5012345,Wong Siu Ming,,julac,,,,,,\n,No Id,,,,,,,,\nCU2,Bad Date,,,,2026-13-01,,,,\n",
		header + "CU4,Plaintext,,,,,,,Library2026,\nCU5,Bad Flag,,,,,,,,maybe\n\"CU7,broken\n",
		header + "CU8,Twice,,,,,,,,\nCU8,Twice bad,,,,,,gone,,\n",
		"id,status,superseded_by\nCU9,superseded,\nCU10,superseded,CU11\n",
		"\ufeffID , Name\nA1,x\n",
		"id,name\nA1\nA2,a,b\n",
		"name\nA1\n",
		"id,id\nA,B\n",
		"id,uuid\nA," + strings.Repeat("u", 65) + "\n",
		"id,pin_hash\nA,{CRYPT}abJnggxhB/yWI\nB,$2y$04$abcdefghijklmnopqrstuu\n",
		"id\n\"multi\nline\"\nok\n",
		"",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, data string, strict bool) {
		if len(data) > 8192 {
			return // keep each input fast: Import's cost is per row, not per byte
		}
		ctx := context.Background()
		s, _ := newStore(t, func(o *Options) { o.DSN = ":memory:" })
		sum, err := s.Import(ctx, strings.NewReader(data), ImportOptions{Strict: strict, BatchSize: 3})
		all, lerr := s.ListPatrons(ctx, ListOptions{})
		if lerr != nil {
			t.Fatalf("list: %v", lerr)
		}
		if err != nil && sum.Created+sum.Updated+sum.Skipped == 0 && len(all) != 0 {
			t.Fatalf("import failed (%v) but %d patrons are in the store", err, len(all))
		}
		if strict && len(sum.Errors) > 0 && len(all) != 0 {
			t.Fatalf("strict import with %d bad rows loaded %d patrons", len(sum.Errors), len(all))
		}
		if len(all) != sum.Created {
			t.Fatalf("summary says %d created, the store holds %d", sum.Created, len(all))
		}
		if sum.Updated != 0 && len(all) == 0 {
			t.Fatalf("%d updated in an empty store", sum.Updated)
		}
		lines := csvLines(data)
		bad := map[int]bool{}
		for _, e := range sum.Errors {
			bad[e.Line] = true
		}
		good := map[string]bool{}
		for line, id := range lines {
			if !bad[line] {
				good[id] = true
			}
		}
		loaded := map[string]bool{}
		for _, p := range all {
			loaded[p.ID] = true
		}
		for line, id := range lines {
			if bad[line] && !good[id] && loaded[id] {
				t.Fatalf("line %d was reported bad but %q was loaded", line, id)
			}
		}
		for _, e := range sum.Errors {
			if e.Line <= 0 {
				t.Fatalf("row error without a line: %+v", e)
			}
		}
	})
}
