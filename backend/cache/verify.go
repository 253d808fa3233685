package cache

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Verifier remembers the last password a verify function accepted, as an
// HMAC under the process key, for ttl: a service account that binds for
// every patron login (EZproxy, Apache) then costs one argon2id check per
// ttl instead of one per login, and never waits in the hashing queue. A
// different password always goes to verify; failures are not remembered.
type Verifier struct {
	verify func(string) (bool, error)
	ttl    time.Duration
	now    func() time.Time
	key    *macKey

	mu    sync.Mutex
	mac   [sha256.Size]byte
	until time.Time
}

// NewVerifier wraps verify; ttl <= 0 turns remembering off.
func NewVerifier(verify func(string) (bool, error), ttl time.Duration) *Verifier {
	return &Verifier{verify: verify, ttl: ttl, now: time.Now, key: newMACKey()}
}

// Verify checks password, from memory when it was accepted within ttl.
func (v *Verifier) Verify(password string) (bool, error) {
	if v.ttl <= 0 {
		return v.verify(password)
	}
	m := v.key.sum(password)
	now := v.now()
	v.mu.Lock()
	hit := now.Before(v.until) && macEqual(&m, &v.mac)
	v.mu.Unlock()
	if hit {
		return true, nil
	}
	ok, err := v.verify(password)
	if ok && err == nil {
		v.mu.Lock()
		v.mac, v.until = m, now.Add(v.ttl)
		v.mu.Unlock()
	}
	return ok, err
}
