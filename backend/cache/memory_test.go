package cache

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/bindery/bindery/backend"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// The store's reason to exist (store.go, pack.go, intern.go instead of
// golang-lru): a cached person costs at most storeBytesBound bytes, and at
// most storeShareOfLibrary of what the same people cost in golang-lru's
// simplelru under a mutex holding the entry as the backend returned it.
const (
	storeBytesBound     = 256
	storeShareOfLibrary = 0.5
	measuredPeople      = 200_000
)

// libraryRecord is what a cache built on simplelru would keep per person.
type libraryRecord struct {
	mac   [16]byte
	at    int64
	gen   uint64
	entry *backend.Entry
}

// TestStoreEarnsItsPlace fills the cache's own store and the library
// alternative with the same 200,000 pinstore-like people (each entry's
// strings allocated separately, as a database driver returns them) and
// fails when the store is no longer small enough to be worth its code.
func TestStoreEarnsItsPlace(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 200,000 entries twice")
	}
	ids := make([]string, measuredPeople)
	for i := range ids {
		ids[i] = "CU" + strconv.Itoa(1000000+i) // 9 characters, like a JULAC ID
	}
	ctx := context.Background()

	before := heap()
	c := New("m", manyBackend{}, Options{MaxEntries: measuredPeople})
	for _, id := range ids {
		if _, ok, _ := c.Authenticate(ctx, backend.Credentials{ID: id, Password: "Library2026"}); !ok {
			t.Fatal("bind failed")
		}
	}
	own := float64(heap()-before) / measuredPeople
	if n := c.Stats().Entries; n != measuredPeople {
		t.Fatalf("%d entries cached, want %d", n, measuredPeople)
	}
	runtime.KeepAlive(c)
	c = nil

	before = heap()
	var mu sync.Mutex
	lru, err := simplelru.NewLRU[string, libraryRecord](measuredPeople, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := newMACKey()
	for _, id := range ids {
		sum := key.sum("Library2026")
		rec := libraryRecord{at: 1, gen: 1, entry: driverEntry(id)}
		copy(rec.mac[:], sum[:])
		mu.Lock()
		lru.Add(id, rec)
		mu.Unlock()
	}
	library := float64(heap()-before) / measuredPeople
	runtime.KeepAlive(lru)

	t.Logf("bytes per cached person at %d: store %.0f, simplelru %.0f (%.2fx)", measuredPeople, own, library, own/library)
	if own > storeBytesBound {
		t.Errorf("the store costs %.0f bytes per person, over its bound of %d", own, storeBytesBound)
	}
	if own > storeShareOfLibrary*library {
		t.Errorf("the store costs %.0f bytes per person against %.0f for simplelru: more than %.0f%%, so golang-lru would do",
			own, library, 100*storeShareOfLibrary)
	}
}
