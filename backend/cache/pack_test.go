package cache

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
)

// fullEntry sets every field of an entry, Extra with several values, a nil
// and an empty value list.
func fullEntry() *backend.Entry {
	return &backend.Entry{
		ID: "CU1234567", CommonName: "陳大文", Surname: "Chan", GivenName: "Tai Man",
		Mail: "cu1234567@example.edu", Category: "julac", Institution: "The Chinese University of Hong Kong",
		UUID:     "0f8fad5b-d9cb-469f-a165-70867728950e",
		Created:  time.UnixMilli(1_700_000_000_123).UTC(),
		Modified: time.Unix(1_760_000_000, 123_456_789).UTC(),
		Extra: map[string][]string{
			"departmentNumber": {"LIB", "CSE"},
			"title":            {"Librarian"},
			"nothing":          nil,
			"empty":            {},
			"blank":            {""},
		},
	}
}

// sameEntry compares entries field by field; times by instant, zone name
// and offset, and for UTC and Local by location too.
func sameEntry(t *testing.T, got, want *backend.Entry) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got == nil {
		return
	}
	for _, tt := range [][2]time.Time{{got.Created, want.Created}, {got.Modified, want.Modified}} {
		g, w := tt[0], tt[1]
		gn, go_ := g.Zone()
		wn, wo := w.Zone()
		if !g.Equal(w) || gn != wn || go_ != wo || g.IsZero() != w.IsZero() {
			t.Fatalf("time %v, want %v", g, w)
		}
		if wl := w.Location(); (wl == time.UTC || wl == time.Local) && g.Location() != wl {
			t.Fatalf("time %v in %v, want in %v", g, g.Location(), wl)
		}
	}
	g, w := *got, *want
	g.Created, g.Modified, w.Created, w.Modified = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got\n%#v\nwant\n%#v", g, w)
	}
}

func TestPackRoundTrip(t *testing.T) {
	hk := time.FixedZone("HKT", 8*3600)
	tests := []struct {
		name string
		id   string
		e    func(e *backend.Entry)
	}{
		{"every field", "CU1234567", func(*backend.Entry) {}},
		{"no entry", "CU1234567", nil},
		{"zero entry", "CU1", func(e *backend.Entry) { *e = backend.Entry{} }},
		{"zero times", "CU1234567", func(e *backend.Entry) { e.Created, e.Modified = time.Time{}, time.Time{} }},
		{"entry ID differs from the key", "cu1234567", func(*backend.Entry) {}},
		{"UUID not a UUID", "CU1234567", func(e *backend.Entry) { e.UUID = "not-a-uuid" }},
		{"UUID in capitals", "CU1234567", func(e *backend.Entry) { e.UUID = strings.ToUpper(e.UUID) }},
		{"UUID without hyphens", "CU1234567", func(e *backend.Entry) { e.UUID = strings.ReplaceAll(e.UUID, "-", "") }},
		{"UUID with a wrong hyphen", "CU1234567", func(e *backend.Entry) { e.UUID = e.UUID[:8] + "x" + e.UUID[9:] }},
		{"empty Extra", "CU1234567", func(e *backend.Entry) { e.Extra = map[string][]string{} }},
		{"no Extra", "CU1234567", func(e *backend.Entry) { e.Extra = nil }},
		{"microseconds and nanoseconds", "CU1234567", func(e *backend.Entry) {
			e.Created, e.Modified = time.Unix(1, 1_000).UTC(), time.Unix(-1, 999_999_999).UTC()
		}},
		{"local and fixed zones", "CU1234567", func(e *backend.Entry) {
			e.Created, e.Modified = time.Unix(1_700_000_000, 0), time.Unix(1_700_000_000, 5).In(hk)
		}},
		{"before 1970 and far ahead", "CU1234567", func(e *backend.Entry) {
			e.Created, e.Modified = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
		}},
		{"long strings", "CU1234567", func(e *backend.Entry) { e.CommonName = strings.Repeat("長", 500) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want *backend.Entry
			if tc.e != nil {
				want = fullEntry()
				tc.e(want)
			}
			for _, in := range []*interner{nil, {}} {
				packed := pack(tc.id, want, in)
				if id, _ := keyOf(packed); id != tc.id {
					t.Fatalf("key %q, want %q", id, tc.id)
				}
				got, err := unpack(packed, in)
				if err != nil {
					t.Fatal(err)
				}
				sameEntry(t, got, want)
			}
		})
	}
}

// TestPackSize: a pinstore-like entry packs into little more than its
// text, and a canonical UUID into 16 bytes.
func TestPackSize(t *testing.T) {
	e := fullEntry()
	e.Extra, e.Modified = nil, time.UnixMilli(1_760_000_000_456).UTC()
	text := len(e.ID) + len(e.CommonName) + len(e.Surname) + len(e.GivenName) + len(e.Mail) + len(e.Category) + len(e.Institution)
	in := &interner{}
	pack(e.ID, e, in) // interns Category and Institution
	packed := pack(e.ID, e, in)
	// 5 length bytes (key, cn, sn, givenName, mail), 1 flags byte, 2
	// interned references, 16 UUID bytes, two millisecond times of 5 + 2.
	want := text - len(e.Category) - len(e.Institution) + 5 + 1 + 2 + 16 + 2*(5+2)
	if len(packed) != want {
		t.Fatalf("packed into %d bytes, want %d", len(packed), want)
	}
}

// TestUnpackCorrupt: a cut or padded record is an error, never a panic or
// a wrong entry.
func TestUnpackCorrupt(t *testing.T) {
	packed := pack("CU1234567", fullEntry(), nil)
	_, keyEnd := keyOf(packed)
	for n := range len(packed) {
		e, err := unpack(packed[:n], nil)
		switch {
		case n == keyEnd && (err != nil || e != nil):
			t.Fatalf("cut at the key's end: %v, %v; want no entry", e, err)
		case n != keyEnd && !errors.Is(err, errCorrupt):
			t.Fatalf("cut at %d of %d: %+v, %v; want errCorrupt", n, len(packed), e, err)
		}
	}
	if _, err := unpack(packed+"x", nil); !errors.Is(err, errCorrupt) {
		t.Fatalf("padded: %v, want errCorrupt", err)
	}
	interned := pack("CU1234567", fullEntry(), &interner{})
	if _, err := unpack(interned, &interner{}); !errors.Is(err, errCorrupt) {
		t.Fatalf("unknown intern index: %v, want errCorrupt", err)
	}
}

// TestInternerBound: the table takes the first internMax values; later
// values are stored inline and every entry still round-trips.
func TestInternerBound(t *testing.T) {
	in := &interner{}
	packed := make([]string, internMax+50)
	for i := range packed {
		e := fullEntry()
		e.Category, e.Institution = "cat"+strconv.Itoa(i), "The Chinese University of Hong Kong"
		packed[i] = pack(e.ID, e, in)
	}
	if n := len(in.snapshot()); n != internMax {
		t.Fatalf("%d values interned, want %d", n, internMax)
	}
	if len(packed[len(packed)-1]) <= len(packed[0]) {
		t.Fatal("a value past the bound was not stored inline")
	}
	for i, p := range packed {
		e, err := unpack(p, in)
		if err != nil || e.Category != "cat"+strconv.Itoa(i) || e.Institution != "The Chinese University of Hong Kong" {
			t.Fatalf("entry %d: %+v, %v", i, e, err)
		}
	}
}

// TestUnpackAllocations: unpacking costs the Entry, plus the text of a
// UUID kept as 16 bytes, plus Extra's map (two allocations for a small
// one) and one slice for all its values.
func TestUnpackAllocations(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    func(*backend.Entry)
		want float64
	}{
		{"text UUID, no Extra", func(e *backend.Entry) { e.UUID, e.Extra = "not-a-uuid", nil }, 1},
		{"canonical UUID, no Extra", func(e *backend.Entry) { e.Extra = nil }, 2},
		{"canonical UUID and Extra", func(*backend.Entry) {}, 5},
	} {
		e := fullEntry()
		tc.e(e)
		in := &interner{}
		packed := pack(e.ID, e, in)
		if got := testing.AllocsPerRun(100, func() { unpack(packed, in) }); got != tc.want {
			t.Errorf("%s: %v allocations, want %v", tc.name, got, tc.want)
		}
	}
}

// BenchmarkUnpack is the rebuilding of a pinstore-like entry on a hit.
func BenchmarkUnpack(b *testing.B) {
	e := fullEntry()
	e.Extra = nil
	in := &interner{}
	packed := pack(e.ID, e, in)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unpack(packed, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewEntry is the floor of BenchmarkUnpack: allocating the
// entry and a UUID string.
func BenchmarkNewEntry(b *testing.B) {
	var u [16]byte
	b.ReportAllocs()
	for b.Loop() {
		sink = &backend.Entry{UUID: formatUUID(&u)}
	}
}

var sink *backend.Entry
