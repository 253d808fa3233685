package cache

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
)

// macKey is the process-random HMAC key: made once, kept only in memory.
type macKey struct {
	ipad, opad [sha256.BlockSize]byte
	key        [32]byte
}

func newMACKey() *macKey {
	k := &macKey{}
	if _, err := rand.Read(k.key[:]); err != nil {
		panic("cache: crypto/rand failed: " + err.Error())
	}
	for i := range k.ipad {
		k.ipad[i], k.opad[i] = 0x36, 0x5c
	}
	for i, b := range k.key {
		k.ipad[i] ^= b
		k.opad[i] ^= b
	}
	return k
}

// inlineMax is the longest password hashed without a heap allocation.
const inlineMax = 256

// sum returns HMAC-SHA256(key, pw) (RFC 2104, computed from the padded key
// on a stack buffer so that the cached bind path does not allocate; longer
// passwords go through crypto/hmac).
func (k *macKey) sum(pw string) (m [sha256.Size]byte) {
	if len(pw) > inlineMax {
		h := hmac.New(sha256.New, k.key[:])
		h.Write([]byte(pw))
		copy(m[:], h.Sum(nil))
		return m
	}
	var in [sha256.BlockSize + inlineMax]byte
	copy(in[:], k.ipad[:])
	n := copy(in[sha256.BlockSize:], pw)
	inner := sha256.Sum256(in[:sha256.BlockSize+n])
	clear(in[sha256.BlockSize : sha256.BlockSize+n]) // do not leave the password on the stack
	var out [sha256.BlockSize + sha256.Size]byte
	copy(out[:], k.opad[:])
	copy(out[sha256.BlockSize:], inner[:])
	return sha256.Sum256(out[:])
}

func macEqual(a, b *[sha256.Size]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// truncated is the part of mac a positive record keeps.
func truncated(mac *[sha256.Size]byte) [macLen]byte { return [macLen]byte(mac[:macLen]) }

// macPrefixEqual reports, in constant time, whether short is the first
// macLen bytes of full.
func macPrefixEqual(short *[macLen]byte, full *[sha256.Size]byte) bool {
	return subtle.ConstantTimeCompare(short[:], full[:macLen]) == 1
}
