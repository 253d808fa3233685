package passhash

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
)

// digestScheme is one of the RFC 2307 style {SCHEME}base64 hashes.
type digestScheme struct {
	name   string
	newH   func() hash.Hash
	size   int
	salted bool
}

// digests maps upper-case scheme names to their definition.
var digests = map[string]digestScheme{
	"SHA":     {"SHA", sha1.New, sha1.Size, false},
	"SSHA":    {"SSHA", sha1.New, sha1.Size, true},
	"SHA256":  {"SHA256", sha256.New, sha256.Size, false},
	"SSHA256": {"SSHA256", sha256.New, sha256.Size, true},
	"SHA512":  {"SHA512", sha512.New, sha512.Size, false},
	"SSHA512": {"SSHA512", sha512.New, sha512.Size, true},
	"MD5":     {"MD5", md5.New, md5.Size, false},
	"SMD5":    {"SMD5", md5.New, md5.Size, true},
}

type digestHash struct {
	scheme digestScheme
	sum    []byte
	salt   []byte
}

// decodeB64 takes standard base64 with or without padding.
func decodeB64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func parseDigest(d digestScheme, rest string) (verifier, error) {
	raw, err := decodeB64(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: {%s}: base64: %v", ErrMalformed, d.name, err)
	}
	switch {
	case !d.salted && len(raw) != d.size:
		return nil, fmt.Errorf("%w: {%s}: digest is %d bytes, want %d", ErrMalformed, d.name, len(raw), d.size)
	case d.salted && len(raw) <= d.size:
		return nil, fmt.Errorf("%w: {%s}: digest+salt is %d bytes, want more than %d", ErrMalformed, d.name, len(raw), d.size)
	}
	return digestHash{scheme: d, sum: raw[:d.size], salt: raw[d.size:]}, nil
}

func (h digestHash) verify(secret string) bool {
	hh := h.scheme.newH()
	hh.Write([]byte(secret))
	hh.Write(h.salt)
	return subtle.ConstantTimeCompare(hh.Sum(nil), h.sum) == 1
}

func (digestHash) current(Params) bool { return false }
