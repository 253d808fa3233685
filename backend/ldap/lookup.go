package ldapbackend

import (
	"time"

	"github.com/bindery/bindery/backend"
	lru "github.com/hashicorp/golang-lru/v2"
)

// lookups remembers, per login ID, the DN a search found and the entry it
// read, for LookupTTL, so that a login whose bind is not answered by the
// bind cache costs the directory one bind instead of a search and a bind.
// It holds no secret: every password is still checked by the directory.
//
// A DN that went stale (the person was moved or renamed) makes the bind
// fail; Authenticate then searches again and, when the DN changed, binds
// once more, so a stale DN never turns a right password into a 49.
type lookups struct {
	ttl time.Duration
	lru *lru.Cache[string, lookup] // nil when off
	now func() time.Time
}

type lookup struct {
	dn    string
	entry *backend.Entry
	at    time.Time
}

func newLookups(ttl time.Duration, size int) *lookups {
	l := &lookups{ttl: ttl, now: time.Now}
	if ttl > 0 && size > 0 {
		l.lru, _ = lru.New[string, lookup](size) // size > 0 cannot fail
	}
	return l
}

// get returns the remembered DN and entry of id, if younger than the ttl.
func (l *lookups) get(id string) (string, *backend.Entry, bool) {
	if l.lru == nil {
		return "", nil, false
	}
	v, ok := l.lru.Get(id)
	if !ok {
		return "", nil, false
	}
	if l.now().Sub(v.at) >= l.ttl {
		l.lru.Remove(id)
		return "", nil, false
	}
	return v.dn, v.entry, true
}

func (l *lookups) add(id, dn string, e *backend.Entry) {
	if l.lru != nil && dn != "" && e != nil {
		l.lru.Add(id, lookup{dn: dn, entry: e, at: l.now()})
	}
}

func (l *lookups) remove(id string) {
	if l.lru != nil {
		l.lru.Remove(id)
	}
}

// purge forgets everything (Close, and a test's way to start cold).
func (l *lookups) purge() {
	if l.lru != nil {
		l.lru.Purge()
	}
}
