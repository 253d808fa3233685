package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bindery/bindery/internal/argon2"
)

const argon2Prefix = "$argon2id$"

var b64 = base64.RawStdEncoding

// Hash returns the argon2id PHC string of secret with a fresh random salt.
func Hash(secret string, p Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", fmt.Errorf("passhash: hash: %w", err)
	}
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passhash: hash: salt: %w", err)
	}
	key := idKey([]byte(secret), salt, p.Iterations, p.MemoryKiB, p.Parallelism, KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s", argon2.Version, p, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// argon2Hash is a parsed argon2id PHC string.
type argon2Hash struct {
	params Params
	salt   []byte
	key    []byte
}

// parseArgon2id parses "$argon2id$v=19$m=..,t=..,p=..$salt$hash".
func parseArgon2id(encoded string) (*argon2Hash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, fmt.Errorf("%w: argon2id: want $argon2id$v=19$m=,t=,p=$salt$hash", ErrMalformed)
	}
	if parts[2] != "v=19" {
		return nil, fmt.Errorf("%w: argon2id: version %q (only v=19)", ErrUnsupported, parts[2])
	}
	var h argon2Hash
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return nil, fmt.Errorf("%w: argon2id: parameters %q", ErrMalformed, parts[3])
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: argon2id: parameter %s=%q", ErrMalformed, k, v)
		}
		switch k {
		case "m":
			h.params.MemoryKiB = uint32(n)
		case "t":
			h.params.Iterations = uint32(n)
		case "p":
			if n > 255 {
				return nil, fmt.Errorf("%w: argon2id: parallelism %d", ErrMalformed, n)
			}
			h.params.Parallelism = uint8(n)
		default:
			return nil, fmt.Errorf("%w: argon2id: unknown parameter %q", ErrMalformed, k)
		}
	}
	if len(seen) != 3 {
		return nil, fmt.Errorf("%w: argon2id: need m, t and p", ErrMalformed)
	}
	if err := h.params.Validate(); err != nil {
		return nil, fmt.Errorf("%w: argon2id: %v", ErrMalformed, err)
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return nil, fmt.Errorf("%w: argon2id: salt", ErrMalformed)
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 128 {
		return nil, fmt.Errorf("%w: argon2id: hash", ErrMalformed)
	}
	return &h, nil
}

func (h *argon2Hash) verify(secret string) bool {
	key := idKey([]byte(secret), h.salt, h.params.Iterations, h.params.MemoryKiB, h.params.Parallelism, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// current reports whether h was made with want and this package's sizes.
func (h *argon2Hash) current(want Params) bool {
	return h.params == want && len(h.key) == KeyLen && len(h.salt) == SaltLen
}

// dummySalt and dummyKey are fixed inputs for DummyVerify.
var (
	dummySalt = []byte("bindery-dummy-sa")
	dummyKey  = make([]byte, KeyLen)
)

// DummyVerify costs what a real verification with DefaultParams costs and
// always fails. Call it for unknown IDs so the time taken does not reveal
// who exists.
func DummyVerify(secret string) { DummyVerifyWith(secret, DefaultParams) }

// DummyVerifyWith is DummyVerify for the given params (the ones new hashes
// are made with).
func DummyVerifyWith(secret string, p Params) {
	if p.Validate() != nil {
		p = DefaultParams
	}
	key := idKey([]byte(secret), dummySalt, p.Iterations, p.MemoryKiB, p.Parallelism, KeyLen)
	subtle.ConstantTimeCompare(key, dummyKey)
}

// workAreas keeps argon2id work areas between derivations: a server that
// verifies PINs all day would otherwise allocate (and make the garbage
// collector reclaim) 19 MiB per check, and under a storm of wrong PINs the
// heap, and with it the RSS, would swing by hundreds of MB.
var workAreas = &areaPool{max: runtime.NumCPU(), idleFor: time.Minute}

// areaPool is a bounded free list of work areas. At most max wait idle
// (as many as the hashing pool runs at once by default), and all are
// dropped once none has been taken for idleFor, so an idle server does
// not keep them.
type areaPool struct {
	max     int
	idleFor time.Duration

	mu       sync.Mutex
	idle     []*argon2.Memory
	lastUsed time.Time
	timer    *time.Timer
}

func (a *areaPool) get() *argon2.Memory {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastUsed = time.Now()
	if n := len(a.idle); n > 0 {
		m := a.idle[n-1]
		a.idle[n-1] = nil
		a.idle = a.idle[:n-1]
		return m
	}
	return new(argon2.Memory)
}

func (a *areaPool) put(m *argon2.Memory) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.idle) >= a.max {
		return
	}
	a.idle = append(a.idle, m)
	if a.timer == nil {
		a.timer = time.AfterFunc(a.idleFor, a.dropIdle)
	}
}

// dropIdle releases the idle work areas if none was taken for idleFor,
// and otherwise looks again later.
func (a *areaPool) dropIdle() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if wait := a.idleFor - time.Since(a.lastUsed); wait > 0 {
		a.timer.Reset(wait)
		return
	}
	clear(a.idle)
	a.idle = a.idle[:0]
	a.timer = nil
}

// idKey is argon2.IDKey in a reused work area.
func idKey(secret, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	m := workAreas.get()
	defer workAreas.put(m)
	return m.IDKey(secret, salt, time, memory, threads, keyLen)
}
