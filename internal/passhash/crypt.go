package passhash

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// crypt(3) formats implemented in pure Go: MD5-crypt ($1$) and SHA-crypt
// ($5$, $6$, Ulrich Drepper's specification). Traditional DES crypt,
// yescrypt ($y$) and others are ErrUnsupported.

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

type cryptHash struct {
	id     string // "1", "5", "6"
	salt   []byte
	rounds int  // SHA-crypt only
	custom bool // rounds= was given
	sum    string
}

func parseCrypt(s string) (verifier, error) {
	if !strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("%w: {CRYPT}: traditional DES crypt", ErrUnsupported)
	}
	parts := strings.Split(s, "$")
	h := cryptHash{id: parts[1]}
	if h.id != "1" && h.id != "5" && h.id != "6" {
		return nil, fmt.Errorf("%w: {CRYPT}: $%s$ (only $1$, $5$, $6$)", ErrUnsupported, h.id)
	}
	if len(parts) < 4 {
		return nil, fmt.Errorf("%w: {CRYPT}: want $id$salt$hash", ErrMalformed)
	}
	switch h.id {
	case "1":
		if len(parts) != 4 {
			return nil, fmt.Errorf("%w: {CRYPT}$1$: want $1$salt$hash", ErrMalformed)
		}
		h.salt, h.sum = []byte(parts[2]), parts[3]
		if len(h.salt) > 8 {
			h.salt = h.salt[:8]
		}
		if len(h.sum) != 22 {
			return nil, fmt.Errorf("%w: {CRYPT}$1$: hash length", ErrMalformed)
		}
	case "5", "6":
		h.rounds = 5000
		rest := parts[2:]
		if strings.HasPrefix(rest[0], "rounds=") {
			n, err := strconv.Atoi(strings.TrimPrefix(rest[0], "rounds="))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%w: {CRYPT}$%s$: rounds", ErrMalformed, h.id)
			}
			h.rounds, h.custom = min(max(n, 1000), 999999999), true
			rest = rest[1:]
		}
		if len(rest) != 2 {
			return nil, fmt.Errorf("%w: {CRYPT}$%s$: want $%s$[rounds=N$]salt$hash", ErrMalformed, h.id, h.id)
		}
		h.salt, h.sum = []byte(rest[0]), rest[1]
		if len(h.salt) > 16 {
			h.salt = h.salt[:16]
		}
		want := 43
		if h.id == "6" {
			want = 86
		}
		if len(h.sum) != want {
			return nil, fmt.Errorf("%w: {CRYPT}$%s$: hash length", ErrMalformed, h.id)
		}
		if h.rounds > 10_000_000 {
			return nil, fmt.Errorf("%w: {CRYPT}$%s$: %d rounds is more than bindery accepts", ErrUnsupported, h.id, h.rounds)
		}
	}
	for _, c := range []byte(h.sum) {
		if strings.IndexByte(cryptAlphabet, c) < 0 {
			return nil, fmt.Errorf("%w: {CRYPT}: hash character %q", ErrMalformed, c)
		}
	}
	return h, nil
}

func (h cryptHash) verify(secret string) bool {
	var got string
	switch h.id {
	case "1":
		got = md5Crypt([]byte(secret), h.salt)
	case "5":
		got = shaCrypt(sha256.New, []byte(secret), h.salt, h.rounds)
	case "6":
		got = shaCrypt(sha512.New, []byte(secret), h.salt, h.rounds)
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(h.sum)) == 1
}

func (cryptHash) current(Params) bool { return false }

// b64From24 appends n characters encoding the 24-bit value b2<<16|b1<<8|b0.
func b64From24(dst []byte, b2, b1, b0 byte, n int) []byte {
	w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
	for ; n > 0; n-- {
		dst = append(dst, cryptAlphabet[w&0x3f])
		w >>= 6
	}
	return dst
}

// md5Crypt returns the hash part of MD5-crypt ($1$) for pw and salt.
func md5Crypt(pw, salt []byte) string {
	alt := md5.New()
	alt.Write(pw)
	alt.Write(salt)
	alt.Write(pw)
	final := alt.Sum(nil)

	ctx := md5.New()
	ctx.Write(pw)
	ctx.Write([]byte("$1$"))
	ctx.Write(salt)
	for pl := len(pw); pl > 0; pl -= 16 {
		ctx.Write(final[:min(pl, 16)])
	}
	for i := len(pw); i > 0; i >>= 1 {
		if i&1 != 0 {
			ctx.Write([]byte{0})
		} else {
			ctx.Write(pw[:1])
		}
	}
	final = ctx.Sum(nil)

	for i := range 1000 {
		c := md5.New()
		if i&1 != 0 {
			c.Write(pw)
		} else {
			c.Write(final)
		}
		if i%3 != 0 {
			c.Write(salt)
		}
		if i%7 != 0 {
			c.Write(pw)
		}
		if i&1 != 0 {
			c.Write(final)
		} else {
			c.Write(pw)
		}
		final = c.Sum(nil)
	}

	out := make([]byte, 0, 22)
	out = b64From24(out, final[0], final[6], final[12], 4)
	out = b64From24(out, final[1], final[7], final[13], 4)
	out = b64From24(out, final[2], final[8], final[14], 4)
	out = b64From24(out, final[3], final[9], final[15], 4)
	out = b64From24(out, final[4], final[10], final[5], 4)
	out = b64From24(out, 0, 0, final[11], 2)
	return string(out)
}

// repeatTo returns src repeated (and cut) to n bytes.
func repeatTo(src []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, src[:min(len(src), n-len(out))]...)
	}
	return out
}

// shaCrypt returns the hash part of SHA-crypt ($5$ with sha256.New, $6$ with
// sha512.New).
func shaCrypt(newH func() hash.Hash, pw, salt []byte, rounds int) string {
	b := newH()
	b.Write(pw)
	b.Write(salt)
	b.Write(pw)
	sumB := b.Sum(nil)
	size := len(sumB)

	a := newH()
	a.Write(pw)
	a.Write(salt)
	a.Write(repeatTo(sumB, len(pw)))
	for i := len(pw); i > 0; i >>= 1 {
		if i&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(pw)
		}
	}
	sumA := a.Sum(nil)

	dp := newH()
	for range len(pw) {
		dp.Write(pw)
	}
	p := repeatTo(dp.Sum(nil), len(pw))

	ds := newH()
	for range 16 + int(sumA[0]) {
		ds.Write(salt)
	}
	s := repeatTo(ds.Sum(nil), len(salt))

	c := sumA
	for i := range rounds {
		h := newH()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(nil)
	}

	var out []byte
	if size == sha256.Size {
		for k := range 10 {
			x, y, z := k, k+10, k+20
			switch k % 3 {
			case 0:
				out = b64From24(out, c[x], c[y], c[z], 4)
			case 1:
				out = b64From24(out, c[z], c[x], c[y], 4)
			case 2:
				out = b64From24(out, c[y], c[z], c[x], 4)
			}
		}
		out = b64From24(out, 0, c[31], c[30], 3)
	} else {
		for k := range 21 {
			x, y, z := k, k+21, k+42
			switch k % 3 {
			case 0:
				out = b64From24(out, c[x], c[y], c[z], 4)
			case 1:
				out = b64From24(out, c[y], c[z], c[x], 4)
			case 2:
				out = b64From24(out, c[z], c[x], c[y], 4)
			}
		}
		out = b64From24(out, 0, 0, c[63], 2)
	}
	return string(out)
}
