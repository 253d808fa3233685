package argon2

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"

	xargon2 "golang.org/x/crypto/argon2"
)

// TestSameAsXCrypto derives keys with one reused Memory, in an order that
// leaves the previous derivation's data in the work area (larger, then
// smaller, then larger memory; several lanes, then one), and compares each
// with x/crypto's IDKey.
func TestSameAsXCrypto(t *testing.T) {
	var m Memory
	cases := []struct {
		pw, salt     string
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}{
		{"Library2026", "0123456789abcdef", 2, 19456, 1, 32},
		{"wrong PIN", "0123456789abcdef", 2, 19456, 1, 32},
		{"", "salt-salt-salt", 1, 64, 1, 16},
		{"陳大文 PIN", "another salt....", 3, 4096, 4, 32},
		{"Library2026", "0123456789abcdef", 1, 8192, 2, 64},
		{"x", "0123456789abcdef", 2, 19456, 1, 32},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			want := xargon2.IDKey([]byte(c.pw), []byte(c.salt), c.time, c.memory, c.threads, c.keyLen)
			got := m.IDKey([]byte(c.pw), []byte(c.salt), c.time, c.memory, c.threads, c.keyLen)
			if !bytes.Equal(got, want) {
				t.Fatalf("IDKey(%+v) = %x, x/crypto %x", c, got, want)
			}
			if fresh := IDKey([]byte(c.pw), []byte(c.salt), c.time, c.memory, c.threads, c.keyLen); !bytes.Equal(fresh, want) {
				t.Fatalf("package IDKey(%+v) = %x, x/crypto %x", c, fresh, want)
			}
		})
	}
}

// TestRFC9106Vector is the Argon2id test vector of RFC 9106 §5.3 (with
// secret and associated data, through deriveKey).
func TestRFC9106Vector(t *testing.T) {
	pw := bytes.Repeat([]byte{0x01}, 32)
	salt := bytes.Repeat([]byte{0x02}, 16)
	secret := bytes.Repeat([]byte{0x03}, 8)
	ad := bytes.Repeat([]byte{0x04}, 12)
	want := "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
	var m Memory
	for i := 0; i < 2; i++ { // the second run reuses the work area
		got := deriveKey(argon2id, pw, salt, secret, ad, 3, 32, 4, 32, &m)
		if hex.EncodeToString(got) != want {
			t.Fatalf("run %d: %x, want %s", i, got, want)
		}
	}
}

func BenchmarkIDKeyDefault(b *testing.B) {
	b.Run("x/crypto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			xargon2.IDKey([]byte("Library2026"), []byte("0123456789abcdef"), 2, 19456, 1, 32)
		}
	})
	b.Run("reused", func(b *testing.B) {
		var m Memory
		b.ReportAllocs()
		for b.Loop() {
			m.IDKey([]byte("Library2026"), []byte("0123456789abcdef"), 2, 19456, 1, 32)
		}
	})
}
