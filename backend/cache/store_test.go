package cache

import (
	"context"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
)

// rec is a positive for id verified at at.
func rec(id string, at int64) positive {
	return positive{data: pack(id, nil, nil), at: at, gen: uint64(at)}
}

// has lists which of ids the store holds at now, without touching them.
func has(s *store, now int64, ids ...string) map[string]bool {
	got := map[string]bool{}
	for _, id := range ids {
		if _, ok := s.peek(id, now); ok {
			got[id] = true
		}
	}
	return got
}

// checkStore verifies every shard's structure: the LRU list and the free
// list cover the slab, the index and the list agree, and len adds up.
func checkStore(t *testing.T, s *store) {
	t.Helper()
	total := 0
	for k := range s.shards {
		sh := &s.shards[k]
		sh.mu.Lock()
		inList := 0
		for prev, i := int32(0), sh.newest(); i != 0; prev, i = i, sh.recs[i].next {
			if sh.recs[i].prev != prev {
				t.Fatalf("shard %d: record %d has prev %d, want %d", k, i, sh.recs[i].prev, prev)
			}
			id, _ := keyOf(sh.recs[i].data)
			if sh.index[id] != i {
				t.Fatalf("shard %d: index[%q] = %d, want %d", k, id, sh.index[id], i)
			}
			inList++
		}
		free := 0
		for i := sh.free; i != 0; i = sh.recs[i].next {
			if sh.recs[i].data != "" {
				t.Fatalf("shard %d: free slot %d still holds data", k, i)
			}
			free++
		}
		if inList != len(sh.index) || (len(sh.recs) > 0 && 1+inList+free != len(sh.recs)) {
			t.Fatalf("shard %d: %d listed, %d indexed, %d free, %d slots", k, inList, len(sh.index), free, len(sh.recs))
		}
		total += inList
		sh.mu.Unlock()
	}
	if total != s.len() || int64(total) > s.max {
		t.Fatalf("%d records, len() = %d, max %d", total, s.len(), s.max)
	}
}

// newest is the newest record of sh (locked), 0 when it is empty.
func (sh *shard) newest() int32 {
	if len(sh.recs) == 0 {
		return 0
	}
	return sh.recs[0].next
}

func TestStoreEvictsLeastRecentlyUsed(t *testing.T) {
	s := newStore(3, 1000)
	if len(s.shards) != 1 {
		t.Fatalf("%d shards for 3 entries, want 1", len(s.shards))
	}
	for _, id := range []string{"a", "b", "c"} {
		s.add(rec(id, 1))
	}
	s.get("a", 1) // a is now the newest: a c b
	s.add(rec("d", 2))
	s.peek("c", 2) // peek does not touch: d a c
	s.add(rec("e", 3))
	got := has(s, 3, "a", "b", "c", "d", "e")
	if len(got) != 3 || !got["a"] || !got["d"] || !got["e"] {
		t.Fatalf("holds %v, want a, d, e", got)
	}
	s.add(rec("a", 4)) // replacing is not adding
	if n := s.len(); n != 3 {
		t.Fatalf("len %d after replacing, want 3", n)
	}
	if p, _ := s.peek("a", 4); p.at != 4 {
		t.Fatalf("a verified at %d, want 4 (the replacement)", p.at)
	}
	checkStore(t, s)
}

// TestStoreBound: with many shards, the store holds exactly MaxEntries
// and keeps the most recent ones.
func TestStoreBound(t *testing.T) {
	const bound = 100_000
	s := newStore(bound, 1<<62)
	if len(s.shards) != maxShards {
		t.Fatalf("%d shards, want %d", len(s.shards), maxShards)
	}
	const n = 150_000
	for i := range n {
		s.add(rec("CU"+strconv.Itoa(i), int64(i)))
	}
	if got := s.len(); got != bound {
		t.Fatalf("len %d, want %d", got, bound)
	}
	for i := n - 1000; i < n; i++ {
		if _, ok := s.peek("CU"+strconv.Itoa(i), n); !ok {
			t.Fatalf("CU%d, one of the last 1000 added, was evicted", i)
		}
	}
	checkStore(t, s)
}

// TestStoreEvictsFromAnotherShard: a new record alone in its shard makes
// room in another shard.
func TestStoreEvictsFromAnotherShard(t *testing.T) {
	s := newStore(2*minShardEntries, 1<<62)
	if len(s.shards) != 2 {
		t.Fatalf("%d shards, want 2", len(s.shards))
	}
	var in0, in1 []string
	for i := 0; len(in0) < 1 || len(in1) < int(s.max); i++ {
		id := "CU" + strconv.Itoa(i)
		if s.shardOf(id) == &s.shards[0] {
			in0 = append(in0, id)
		} else {
			in1 = append(in1, id)
		}
	}
	for i, id := range in1[:s.max] {
		s.add(rec(id, int64(i)))
	}
	s.add(rec(in0[0], s.max))
	got := has(s, s.max, in0[0], in1[0], in1[1])
	if s.len() != int(s.max) || !got[in0[0]] || got[in1[0]] || !got[in1[1]] {
		t.Fatalf("len %d, holds %v: want the new record kept and the oldest of the other shard gone", s.len(), got)
	}
	checkStore(t, s)
}

func TestStoreExpiry(t *testing.T) {
	s := newStore(10, 10)
	s.add(rec("a", 100))
	if _, ok := s.get("a", 109); !ok {
		t.Fatal("a gone at age 9 of 10")
	}
	if _, ok := s.get("a", 110); ok {
		t.Fatal("a still there at age 10 of 10")
	}
	if n := s.len(); n != 0 {
		t.Fatalf("len %d after reading an expired record, want 0 (dropped)", n)
	}
	checkStore(t, s)
}

func TestStoreRemove(t *testing.T) {
	s := newStore(10, 1000)
	for _, id := range []string{"a", "b", "c"} {
		s.add(rec(id, 1))
	}
	s.remove("a", nil)
	s.remove("b", func(p *positive) bool { return p.gen == 2 })
	s.remove("c", func(p *positive) bool { return p.gen == 1 })
	s.remove("nobody", nil)
	if got := has(s, 1, "a", "b", "c"); len(got) != 1 || !got["b"] {
		t.Fatalf("holds %v, want only b", got)
	}
	checkStore(t, s)
	s.purge()
	if got := has(s, 1, "b"); len(got) != 0 || s.len() != 0 {
		t.Fatalf("after purge: holds %v, len %d", got, s.len())
	}
	s.add(rec("d", 1))
	if got := has(s, 1, "d"); !got["d"] || s.len() != 1 {
		t.Fatalf("after purge and add: holds %v, len %d", got, s.len())
	}
	checkStore(t, s)
}

// TestStoreConcurrent: many goroutines adding, reading, removing and
// purging (run with -race); the structure stays whole and bounded.
func TestStoreConcurrent(t *testing.T) {
	for _, bound := range []int{50, 8 * minShardEntries} {
		t.Run(strconv.Itoa(bound), func(t *testing.T) {
			s := newStore(bound, 1<<62)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 1))
					for i := range 20_000 {
						id := "CU" + strconv.Itoa(rng.IntN(3*bound))
						switch op := rng.IntN(100); {
						case op < 40:
							s.add(rec(id, int64(i)))
						case op < 70:
							s.get(id, int64(i))
						case op < 85:
							s.peek(id, int64(i))
						case op < 99:
							s.remove(id, func(p *positive) bool { return p.gen%2 == 0 })
						default:
							if rng.IntN(50) == 0 {
								s.purge()
							}
						}
					}
				}()
			}
			wg.Wait()
			checkStore(t, s)
		})
	}
}

// TestCacheConcurrent: binds, look-ups and invalidations of overlapping
// IDs from many goroutines (run with -race) give only right answers.
func TestCacheConcurrent(t *testing.T) {
	c := New("many", manyBackend{}, Options{MaxEntries: 100, NegativeMaxEntries: 10})
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for range 5_000 {
				id := "CU" + strconv.Itoa(1000000+rng.IntN(300))
				switch op := rng.IntN(100); {
				case op < 70:
					res, ok, err := c.Authenticate(ctx, backend.Credentials{ID: id, Password: "pw"})
					if !ok || err != nil || res.Entry == nil || res.Entry.ID != id || res.Entry.UUID != driverEntry(id).UUID {
						t.Errorf("bind %s: %+v %v %v", id, res, ok, err)
						return
					}
				case op < 80:
					c.Lookup(ctx, id)
				case op < 99:
					c.Invalidate(id)
				default:
					c.Invalidate("")
				}
			}
		}()
	}
	wg.Wait()
	checkStore(t, c.pos)
}

// TestCachedEntryIsTheBackendsEntry: a hit gives back the very entry the
// backend gave, field for field.
func TestCachedEntryIsTheBackendsEntry(t *testing.T) {
	c := New("many", manyBackend{}, Options{})
	ctx := context.Background()
	cr := backend.Credentials{ID: "CU1234567", Password: "pw"}
	c.Authenticate(ctx, cr)
	res, ok, _ := c.Authenticate(ctx, cr)
	if !ok || !res.Cached {
		t.Fatalf("second bind: ok=%v cached=%v", ok, res.Cached)
	}
	if want := driverEntry(cr.ID); !reflect.DeepEqual(res.Entry, want) {
		t.Fatalf("cached entry\n%+v\nwant\n%+v", *res.Entry, *want)
	}
}

// TestExpiredEntriesAreDropped: an entry older than max(TTL,
// ServeStaleFor) is dropped when read, by the cache's clock.
func TestExpiredEntriesAreDropped(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	c := New("fake", newFake(), Options{TTL: time.Minute, ServeStaleFor: time.Hour, Now: clk.Now})
	ctx := context.Background()
	c.Authenticate(ctx, backend.Credentials{ID: "CU1", Password: right})
	clk.Advance(59 * time.Minute)
	c.Lookup(ctx, "CU1")
	if n := c.Stats().Entries; n != 1 {
		t.Fatalf("%d entries at 59 minutes, want 1 (kept for serve_stale_for)", n)
	}
	clk.Advance(time.Minute)
	c.Lookup(ctx, "CU1")
	if n := c.Stats().Entries; n != 0 {
		t.Fatalf("%d entries at an hour, want 0", n)
	}
}

// TestNoGoroutine: a cache starts no goroutine (the expirable LRU it
// replaced started one per LRU that could never be stopped).
func TestNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 20 {
		c := New("fake", newFake(), Options{})
		c.Authenticate(context.Background(), backend.Credentials{ID: "CU1", Password: wrong})
		c.Close()
	}
	// singleflight runs each backend call on a goroutine that ends just
	// after it hands over the answer: give the last one a moment.
	after := runtime.NumGoroutine()
	for i := 0; i < 100 && after > before; i++ {
		time.Sleep(10 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		t.Fatalf("%d goroutines after making 20 caches, %d before", after, before)
	}
}
