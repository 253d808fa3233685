package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
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

// IDKeyFunc derives an argon2id key, as argon2.IDKey does.
type IDKeyFunc func(secret, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

var deriver atomic.Pointer[IDKeyFunc]

// SetIDKey makes every argon2id derivation of this package (Hash, Verify,
// DummyVerify) call f, e.g. internal/hashproc's helper process; nil goes
// back to golang.org/x/crypto/argon2 in this process.
func SetIDKey(f IDKeyFunc) {
	if f == nil {
		deriver.Store(nil)
		return
	}
	deriver.Store(&f)
}

// idKey is argon2.IDKey, or what SetIDKey set. Each call allocates its
// work area (MemoryKiB, 19 MiB by default) and leaves it to the garbage
// collector; the hashing pool (internal/hashpool) bounds how many run at
// once, and with them the heap (docs/benchmarks.md, "argon2id from
// golang.org/x/crypto").
func idKey(secret, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if f := deriver.Load(); f != nil {
		return (*f)(secret, salt, time, memory, threads, keyLen)
	}
	return argon2.IDKey(secret, salt, time, memory, threads, keyLen)
}
