package cache

import (
	"crypto/sha256"
	"sync"

	"github.com/bindery/bindery/backend"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// negativeSlots is how many distinct failed passwords are remembered per ID.
const negativeSlots = 4

// negatives is the negative cache: per login ID, the last few passwords
// that failed, as HMACs, in an LRU bounded by IDs (golang-lru's simplelru
// under one mutex: no goroutine of its own). A failure counts for ttl; an
// ID whose failures are all older is dropped when it is read, or when it
// is at the LRU's tail as another failure is recorded.
type negatives struct {
	ttl int64 // nanoseconds
	mu  sync.Mutex
	lru *simplelru.LRU[string, negative]
}

// negative is the failed passwords of one ID.
type negative struct {
	slot [negativeSlots]negSlot
}

type negSlot struct {
	mac    [sha256.Size]byte
	at     int64 // failed at, Unix nanoseconds; 0: empty
	reason backend.Reason
}

// newNegatives returns a negative cache of at most size IDs (size > 0).
func newNegatives(size int, ttl int64) *negatives {
	lru, err := simplelru.NewLRU[string, negative](size, nil)
	if err != nil {
		panic("cache: " + err.Error()) // only for size <= 0
	}
	return &negatives{ttl: ttl, lru: lru}
}

// hit returns the reason (id, mac) failed with, if that was less than ttl
// before now.
func (n *negatives) hit(id string, mac *[sha256.Size]byte, now int64) (backend.Reason, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.lru.Get(id)
	if !ok {
		return "", false
	}
	if v.expired(now, n.ttl) {
		n.lru.Remove(id)
		return "", false
	}
	for i := range v.slot {
		s := &v.slot[i]
		if s.at != 0 && now-s.at < n.ttl && macEqual(&s.mac, mac) {
			return s.reason, true
		}
	}
	return "", false
}

// record remembers that (id, mac) failed at now for reason: in the slot
// of the same password, else an empty one, else the oldest.
func (n *negatives) record(id string, mac *[sha256.Size]byte, now int64, reason backend.Reason) {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, _ := n.lru.Peek(id)
	oldest := 0
	for i := range v.slot {
		s := &v.slot[i]
		if macEqual(&s.mac, mac) || s.at == 0 {
			oldest = i
			break
		}
		if s.at < v.slot[oldest].at {
			oldest = i
		}
	}
	v.slot[oldest] = negSlot{mac: *mac, at: now, reason: reason}
	n.lru.Add(id, v)
	n.sweep(now)
}

// sweep drops up to two IDs at the LRU's tail whose failures have all
// expired, so that dead entries do not wait for eviction.
func (n *negatives) sweep(now int64) {
	for range 2 {
		id, v, ok := n.lru.GetOldest()
		if !ok || !v.expired(now, n.ttl) {
			return
		}
		n.lru.Remove(id)
	}
}

func (n *negatives) remove(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lru.Remove(id)
}

func (n *negatives) purge() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lru.Purge()
}

// expired reports whether every failure of v is ttl old at now.
func (v *negative) expired(now, ttl int64) bool {
	for i := range v.slot {
		if at := v.slot[i].at; at != 0 && now-at < ttl {
			return false
		}
	}
	return true
}
