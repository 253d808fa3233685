package cache

import (
	"crypto/sha256"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"

	"github.com/bindery/bindery/backend"
)

// macLen is how much of the HMAC-SHA256 a positive record keeps: 128 bits,
// as RFC 2104 §5 and NIST SP 800-107 allow for a truncated HMAC.
const macLen = 16

// Shard sizing: a store has a power of two shards, at most maxShards and
// each with at least minShardEntries of MaxEntries, so that a small cache
// is one exact LRU.
const (
	maxShards       = 64
	minShardEntries = 1024
)

// positive is what a successful bind left: no password, only its
// truncated HMAC.
type positive struct {
	data string       // the login ID and the entry, packed (pack.go)
	mac  [macLen]byte // HMAC-SHA256 of the password, truncated
	at   int64        // verified at, Unix nanoseconds
	gen  uint64       // the account's generation
}

// matches reports, in constant time, whether mac is the one recorded.
func (p *positive) matches(mac *[sha256.Size]byte) bool {
	return macPrefixEqual(&p.mac, mac)
}

// entry returns the entry recorded with p, nil when none was kept; in is
// the intern table p was packed with.
func (p *positive) entry(in *interner) (*backend.Entry, error) { return unpack(p.data, in) }

// record is a positive in a shard's slab, linked into the shard's LRU list.
type record struct {
	positive
	prev, next int32
}

// store is the positive cache: login ID to positive, bounded by a number
// of records, with no goroutine of its own. It is split into shards by a
// seeded hash of the ID; each shard has a mutex, an index from ID to a slot
// of its slab of records and a doubly linked LRU list through int32 links
// (slot 0 is the list's head; freed slots form a free list). The bound is
// global: when a new record makes one too many, the least recently used
// record of the same shard goes (of another shard if it was alone), so
// eviction is LRU within a shard and approximately LRU overall. A record
// older than maxAge is dropped when it is read.
type store struct {
	seed   maphash.Seed
	shards []shard
	max    int64
	maxAge int64 // nanoseconds
	count  atomic.Int64
}

type shard struct {
	mu    sync.Mutex
	index map[string]int32 // keys are substrings of the records' data
	recs  []record         // recs[0] is the LRU list's head: next is the newest, prev the oldest
	free  int32            // first free slot, 0 for none
	_     [64]byte         // keeps shards' mutexes off one cache line
}

// newStore returns a store of at most maxEntries records that drops a
// record once it is maxAge nanoseconds old.
func newStore(maxEntries int, maxAge int64) *store {
	maxEntries = min(max(maxEntries, 1), math.MaxInt32-1)
	n := 1
	for n < maxShards && maxEntries/(2*n) >= minShardEntries {
		n *= 2
	}
	return &store{seed: maphash.MakeSeed(), shards: make([]shard, n), max: int64(maxEntries), maxAge: maxAge}
}

func (s *store) shardOf(id string) *shard {
	return &s.shards[maphash.String(s.seed, id)&uint64(len(s.shards)-1)]
}

// get returns id's record as of now and makes it the most recently used.
func (s *store) get(id string, now int64) (positive, bool) { return s.lookup(id, now, true) }

// peek returns id's record as of now without touching the LRU order.
func (s *store) peek(id string, now int64) (positive, bool) { return s.lookup(id, now, false) }

func (s *store) lookup(id string, now int64, touch bool) (positive, bool) {
	sh := s.shardOf(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sh.index[id]
	if !ok {
		return positive{}, false
	}
	r := &sh.recs[i]
	if now-r.at >= s.maxAge {
		s.drop(sh, id, i)
		return positive{}, false
	}
	if touch {
		sh.moveToFront(i)
	}
	return r.positive, true
}

// add records p (whose data is pack(id, entry)) as the most recently used,
// replacing id's record if there is one, and evicts the least recently
// used record when the store is then over its bound.
func (s *store) add(p positive) {
	id, _ := keyOf(p.data)
	sh := s.shardOf(id)
	sh.mu.Lock()
	if i, ok := sh.index[id]; ok {
		delete(sh.index, id) // its key string belongs to the old data
		sh.recs[i].positive = p
		sh.index[id] = i
		sh.moveToFront(i)
		sh.mu.Unlock()
		return
	}
	if sh.index == nil {
		sh.index = make(map[string]int32)
	}
	i := sh.alloc()
	sh.recs[i].positive = p
	sh.index[id] = i
	sh.pushFront(i)
	over := s.count.Add(1) > s.max
	if over && len(sh.index) > 1 {
		s.evictOldest(sh)
		over = false
	}
	sh.mu.Unlock()
	if over {
		s.evictElsewhere(sh)
	}
}

// remove drops id's record, if any, when drop says so (drop nil: always).
// drop runs under the shard's lock and must be quick.
func (s *store) remove(id string, drop func(*positive) bool) {
	sh := s.shardOf(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.index[id]; ok && (drop == nil || drop(&sh.recs[i].positive)) {
		s.drop(sh, id, i)
	}
}

// purge drops every record and frees the shards' memory.
func (s *store) purge() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n := len(sh.index)
		sh.index, sh.recs, sh.free = nil, nil, 0
		sh.mu.Unlock()
		s.count.Add(-int64(n))
	}
}

// len is the number of records held, some possibly past maxAge.
func (s *store) len() int { return int(s.count.Load()) }

// drop removes record i, whose key is id, from sh (locked).
func (s *store) drop(sh *shard, id string, i int32) {
	delete(sh.index, id)
	sh.unlink(i)
	sh.release(i)
	s.count.Add(-1)
}

// evictOldest drops the least recently used record of sh (locked, not
// empty).
func (s *store) evictOldest(sh *shard) {
	i := sh.recs[0].prev
	id, _ := keyOf(sh.recs[i].data)
	s.drop(sh, id, i)
}

// evictElsewhere evicts one record from the first shard after from that
// has any: from held only the record just added.
func (s *store) evictElsewhere(from *shard) {
	start := 0
	for i := range s.shards {
		if &s.shards[i] == from {
			start = i + 1
		}
	}
	for k := range len(s.shards) - 1 {
		sh := &s.shards[(start+k)%len(s.shards)]
		sh.mu.Lock()
		found := len(sh.index) > 0
		if found {
			s.evictOldest(sh)
		}
		sh.mu.Unlock()
		if found {
			return
		}
	}
}

// alloc returns a free slot, growing the slab when there is none.
func (sh *shard) alloc() int32 {
	if len(sh.recs) == 0 {
		sh.recs = append(sh.recs, record{}) // the head: an empty circular list
	}
	if i := sh.free; i != 0 {
		sh.free = sh.recs[i].next
		return i
	}
	sh.recs = append(sh.recs, record{})
	return int32(len(sh.recs) - 1)
}

// release clears slot i (so its data can be collected) and frees it.
func (sh *shard) release(i int32) {
	sh.recs[i] = record{next: sh.free}
	sh.free = i
}

func (sh *shard) unlink(i int32) {
	r := &sh.recs[i]
	sh.recs[r.prev].next = r.next
	sh.recs[r.next].prev = r.prev
}

func (sh *shard) pushFront(i int32) {
	head := &sh.recs[0]
	sh.recs[i].prev, sh.recs[i].next = 0, head.next
	sh.recs[head.next].prev = i
	head.next = i
}

func (sh *shard) moveToFront(i int32) {
	if sh.recs[0].next != i {
		sh.unlink(i)
		sh.pushFront(i)
	}
}
