package cache

import (
	"context"
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
	verify func(ctx context.Context, client, password string) (bool, error)
	ttl    time.Duration
	now    func() time.Time
	key    *macKey

	mu    sync.Mutex
	mac   [sha256.Size]byte
	until time.Time
}

// NewVerifier wraps verify (which is given the bind's context and client
// address, for the hashing pool); ttl <= 0 turns remembering off.
func NewVerifier(verify func(ctx context.Context, client, password string) (bool, error), ttl time.Duration) *Verifier {
	return &Verifier{verify: verify, ttl: ttl, now: time.Now, key: newMACKey()}
}

// Verify checks password, from memory when it was accepted within ttl.
func (v *Verifier) Verify(ctx context.Context, client, password string) (bool, error) {
	if v.ttl <= 0 {
		return v.verify(ctx, client, password)
	}
	m := v.key.sum(password)
	now := v.now()
	v.mu.Lock()
	hit := now.Before(v.until) && macEqual(&m, &v.mac)
	v.mu.Unlock()
	if hit {
		return true, nil
	}
	ok, err := v.verify(ctx, client, password)
	if ok && err == nil {
		v.mu.Lock()
		v.mac, v.until = m, now.Add(v.ttl)
		v.mu.Unlock()
	}
	return ok, err
}
