package web

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// staffSession is one logged-in staff member at one browser. Sessions
// live in memory only: a restart logs everybody out.
type staffSession struct {
	key      string // SHA-256 of the cookie's token (the token itself is never kept)
	uid      string // the campus login ID as its route normalised it
	name     string // cn, for the header
	category string
	groups   []string // memberOf values
	csrf     string   // the synchronizer token of every form of this session
	lang     string
	created  time.Time

	mu   sync.Mutex
	seen time.Time
	used map[string]bool // form nonces already acted on (a double submit, a reload)
	fifo []string
}

// maxUsedNonces bounds the nonces a session remembers.
const maxUsedNonces = 256

// useNonce marks a form's nonce as acted on; false when it already was.
func (s *staffSession) useNonce(n string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used[n] {
		return false
	}
	if s.used == nil {
		s.used = map[string]bool{}
	}
	s.used[n] = true
	s.fifo = append(s.fifo, n)
	if len(s.fifo) > maxUsedNonces {
		delete(s.used, s.fifo[0])
		s.fifo = s.fifo[1:]
	}
	return true
}

// sessions is the bounded set of live sessions.
type sessions struct {
	mu       sync.Mutex
	m        map[string]*staffSession
	idle     time.Duration
	absolute time.Duration
	max      int
	now      func() time.Time
}

func newSessions(idle, absolute time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{m: map[string]*staffSession{}, idle: idle, absolute: absolute, max: max, now: now}
}

func sessionKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// create starts a session and returns it with the token for the cookie.
func (ss *sessions) create(s *staffSession) (string, *staffSession) {
	token := newToken()
	now := ss.now()
	s.key, s.csrf, s.created, s.seen = sessionKey(token), newToken(), now, now
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= ss.max {
		ss.evict(now)
	}
	ss.m[s.key] = s
	return token, s
}

// evict drops expired sessions, or else the least recently seen one.
func (ss *sessions) evict(now time.Time) {
	var oldest *staffSession
	for k, s := range ss.m {
		if ss.expired(s, now) != "" {
			delete(ss.m, k)
			continue
		}
		if oldest == nil || s.lastSeen().Before(oldest.lastSeen()) {
			oldest = s
		}
	}
	if len(ss.m) >= ss.max && oldest != nil {
		delete(ss.m, oldest.key)
	}
}

func (s *staffSession) lastSeen() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

// expired says why s is over ("idle", "absolute") or "".
func (ss *sessions) expired(s *staffSession, now time.Time) string {
	switch {
	case now.Sub(s.created) >= ss.absolute:
		return "absolute"
	case now.Sub(s.lastSeen()) >= ss.idle:
		return "idle"
	}
	return ""
}

// get returns the live session of token and marks it seen; an expired
// one is removed and reported with why ("idle", "absolute"); "" and nil
// when there is none.
func (ss *sessions) get(token string) (*staffSession, string) {
	if token == "" {
		return nil, ""
	}
	key := sessionKey(token)
	ss.mu.Lock()
	s, ok := ss.m[key]
	ss.mu.Unlock()
	if !ok {
		return nil, ""
	}
	now := ss.now()
	if why := ss.expired(s, now); why != "" {
		ss.remove(s)
		return nil, why
	}
	s.mu.Lock()
	s.seen = now
	s.mu.Unlock()
	return s, ""
}

func (ss *sessions) remove(s *staffSession) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, s.key)
}

// len is the number of sessions held (tests).
func (ss *sessions) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}
