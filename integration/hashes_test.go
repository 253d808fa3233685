package integration

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// legacyHash builds a hash the way an older directory or ILS stored it.
func legacyHash(t *testing.T, scheme, secret string) string {
	t.Helper()
	salt := make([]byte, 8)
	rand.Read(salt)
	switch scheme {
	case "{SHA}":
		d := sha1.Sum([]byte(secret))
		return "{SHA}" + base64.StdEncoding.EncodeToString(d[:])
	case "{SSHA256}":
		d := sha256.Sum256(append([]byte(secret), salt...))
		return "{SSHA256}" + base64.StdEncoding.EncodeToString(append(d[:], salt...))
	case "{SSHA512}":
		d := sha512.Sum512(append([]byte(secret), salt...))
		return "{SSHA512}" + base64.StdEncoding.EncodeToString(append(d[:], salt...))
	case "bcrypt":
		h, err := bcrypt.GenerateFromPassword([]byte(secret), 4)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	t.Fatalf("unknown scheme %s", scheme)
	return ""
}
