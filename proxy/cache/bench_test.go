package cache

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/bindery/bindery/backend"
)

// BenchmarkCacheHit is the cached bind path: HMAC, LRU look-up, constant
// time compare.
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

// manyBackend succeeds for every ID with the password "pw", giving each
// its own entry (as pinstore does).
type manyBackend struct{ shared *backend.Entry }

func (m manyBackend) Authenticate(_ context.Context, c backend.Credentials) (backend.Result, bool, error) {
	e := m.shared
	if e == nil {
		e = &backend.Entry{ID: c.ID, CommonName: "Chan Tai Man", Surname: "Chan", GivenName: "Tai Man",
			Mail: c.ID + "@example.edu", Category: "julac", Institution: "The Chinese University of Hong Kong",
			UUID: "0f8fad5b-d9cb-469f-a165-70867728950e"}
	}
	return backend.Result{Entry: e, Generation: 1}, true, nil
}
func (manyBackend) Lookup(context.Context, string) (*backend.Entry, error) {
	return nil, backend.ErrNotFound
}
func (manyBackend) Close() error { return nil }

// TestMeasureMemory fills a cache with 1,000,000 entries and prints heap
// after GC / entries. Run with BINDERY_MEASURE=1:
//
//	BINDERY_MEASURE=1 go test -run TestMeasureMemory -v ./proxy/cache
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
		{"own entry per ID (pinstore-like: 8 short strings)", manyBackend{}, false},
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
