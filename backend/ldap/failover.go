package ldapbackend

import (
	"sync"
	"time"

	"github.com/bindery/bindery/backend"
)

// failover orders the URLs for dialling: the one that last worked first,
// then the others in configured order. After PrimaryRetry on a later URL,
// the first URL is tried first again (once per PrimaryRetry).
type failover struct {
	mu        sync.Mutex
	retry     time.Duration
	now       func() time.Time
	preferred int
	since     time.Time // when preferred last changed or the primary was last retried
	states    []backend.UpstreamState
}

func newFailover(urls []string, retry time.Duration) *failover {
	f := &failover{retry: retry, now: time.Now, states: make([]backend.UpstreamState, len(urls))}
	for i, u := range urls {
		f.states[i] = backend.UpstreamState{URL: u, LastError: "not contacted yet"}
	}
	return f
}

// order returns the indexes of the URLs in the order to try them.
func (f *failover) order() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.preferred
	if first != 0 && f.now().Sub(f.since) >= f.retry {
		first = 0
		f.since = f.now()
	}
	out := make([]int, 0, len(f.states))
	out = append(out, first)
	for i := range f.states {
		if i != first {
			out = append(out, i)
		}
	}
	return out
}

// up records that URL idx works and makes it the preferred one.
func (f *failover) up(idx int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if idx != f.preferred {
		f.preferred = idx
		f.since = f.now()
	}
	f.states[idx].Up = true
	f.states[idx].LastError = ""
}

// down records a failure of URL idx.
func (f *failover) down(idx int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[idx].Up = false
	f.states[idx].LastError = err.Error()
}

// primaryDue reports whether a connection to a later URL, created at
// created, should be dropped so that the next dial tries the first URL.
func (f *failover) primaryDue(idx int, created time.Time) bool {
	return idx != 0 && f.now().Sub(created) >= f.retry
}

// snapshot copies the states.
func (f *failover) snapshot() []backend.UpstreamState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]backend.UpstreamState(nil), f.states...)
}
