package cache

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/google/uuid"
)

// BenchmarkCacheHit is the cached bind path: HMAC, store look-up,
// constant time compare, rebuilding the (small) entry.
func BenchmarkCacheHit(b *testing.B) {
	c := New("fake", newFake(), Options{})
	ctx := context.Background()
	cr := backend.Credentials{ID: "CU1", Password: right, ClientAddr: "192.0.2.1:4000"}
	if _, ok, _ := c.Authenticate(ctx, cr); !ok {
		b.Fatal("first bind failed")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, _ := c.Authenticate(ctx, cr); !ok {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkCacheHitFullEntry is BenchmarkCacheHit with a pinstore-like
// entry (every field set), so the hit rebuilds a whole entry.
func BenchmarkCacheHitFullEntry(b *testing.B) {
	c := New("many", manyBackend{}, Options{})
	ctx := context.Background()
	cr := backend.Credentials{ID: "CU1234567", Password: right, ClientAddr: "192.0.2.1:4000"}
	if _, ok, _ := c.Authenticate(ctx, cr); !ok {
		b.Fatal("first bind failed")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, ok, _ := c.Authenticate(ctx, cr); !ok || !res.Cached {
				b.Fatal("miss")
			}
		}
	})
}

// manyBackend succeeds for every ID with the password "pw", giving each
// its own entry (as pinstore does) unless shared is set.
type manyBackend struct{ shared *backend.Entry }

func (m manyBackend) Authenticate(_ context.Context, c backend.Credentials) (backend.Result, bool, error) {
	e := m.shared
	if e == nil {
		e = driverEntry(c.ID)
	}
	return backend.Result{Entry: e, Generation: 1}, true, nil
}

// driverEntry is a pinstore-like entry for id as a database driver returns
// it: every string separately allocated (no two entries share string
// memory), a 36-character text UUID, millisecond UTC times.
func driverEntry(id string) *backend.Entry {
	n, _ := strconv.Atoi(id[2:])
	created := time.UnixMilli(1_700_000_000_000 + int64(n)*1_000).UTC()
	return &backend.Entry{
		ID:          strings.Clone(id),
		CommonName:  strings.Clone("Chan Tai Man"),
		Surname:     strings.Clone("Chan"),
		GivenName:   strings.Clone("Tai Man"),
		Mail:        fmt.Sprintf("%s@example.edu", strings.ToLower(id)),
		Category:    strings.Clone("julac"),
		Institution: strings.Clone("The Chinese University of Hong Kong"),
		UUID:        uuid.NewSHA1(uuid.NameSpaceOID, []byte(id)).String(),
		Created:     created,
		Modified:    created.Add(90*24*time.Hour + 123*time.Millisecond),
	}
}

func (manyBackend) Lookup(context.Context, string) (*backend.Entry, error) {
	return nil, backend.ErrNotFound
}
func (manyBackend) Close() error { return nil }

// TestMeasureMemory fills a cache with 1,000,000 entries and prints heap
// after GC / entries. Run with BINDERY_MEASURE=1:
//
//	BINDERY_MEASURE=1 go test -run TestMeasureMemory -v ./backend/cache
func TestMeasureMemory(t *testing.T) {
	if os.Getenv("BINDERY_MEASURE") == "" {
		t.Skip("set BINDERY_MEASURE=1 to measure memory per entry")
	}
	const n = 1_000_000
	for _, tc := range []struct {
		name string
		next manyBackend
		drop bool
	}{
		{"one shared entry (cache overhead only)", manyBackend{shared: &backend.Entry{ID: "x"}}, false},
		{"own entry per ID (pinstore-like: 7 driver strings, 2 times)", manyBackend{}, false},
		{"own entry per ID, Options.DropEntries", manyBackend{}, true},
	} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = "CU" + strconv.Itoa(1000000+i) // 9 characters, like a JULAC ID
		}
		before := heap()
		c := New("m", tc.next, Options{MaxEntries: n, DropEntries: tc.drop})
		ctx := context.Background()
		for _, id := range ids {
			if _, ok, _ := c.Authenticate(ctx, backend.Credentials{ID: id, Password: "Library2026"}); !ok {
				t.Fatal("bind failed")
			}
		}
		ids = nil
		after := heap()
		if got := c.Stats().Entries; got != n {
			t.Fatalf("%d entries", got)
		}
		fmt.Printf("%s: %d entries, heap after GC grew %.1f MiB: %.0f bytes per entry (ID strings included)\n",
			tc.name, n, float64(after-before)/(1<<20), float64(after-before)/n)
		runtime.KeepAlive(c)
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
