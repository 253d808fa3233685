package cache

import (
	"strings"
	"sync"
	"sync/atomic"
)

// internMax bounds a cache's table of interned values.
const internMax = 256

// interner is a small, bounded, append-only table of field values that
// many entries share (Category and Institution: a few dozen values across
// a whole library consortium): a packed entry refers to such a value by
// its index instead of holding a copy. Values are added as first seen
// until the table is full; later ones are stored inline. Indices never
// change, so readers index a snapshot without locking. A nil *interner
// interns nothing.
type interner struct {
	mu     sync.Mutex
	index  map[string]int
	values atomic.Pointer[[]string] // copied on write
}

// indexOf returns s's index in the table, adding it if there is room.
func (in *interner) indexOf(s string) (int, bool) {
	if in == nil || s == "" {
		return 0, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if i, ok := in.index[s]; ok {
		return i, true
	}
	old := in.snapshot()
	if len(old) >= internMax {
		return 0, false
	}
	s = strings.Clone(s) // not the backend's memory, which may hold more
	values := append(old[:len(old):len(old)], s)
	in.values.Store(&values)
	if in.index == nil {
		in.index = make(map[string]int)
	}
	in.index[s] = len(old)
	return len(old), true
}

// value returns the value at index i.
func (in *interner) value(i uint64) (string, bool) {
	if in == nil {
		return "", false
	}
	values := in.snapshot()
	if i >= uint64(len(values)) {
		return "", false
	}
	return values[i], true
}

func (in *interner) snapshot() []string {
	if p := in.values.Load(); p != nil {
		return *p
	}
	return nil
}
