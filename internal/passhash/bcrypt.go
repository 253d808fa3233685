package passhash

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// isBcrypt reports whether s starts with a bcrypt prefix this package takes.
func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

type bcryptHash struct{ encoded []byte }

func parseBcrypt(encoded string) (verifier, error) {
	if _, err := bcrypt.Cost([]byte(encoded)); err != nil {
		return nil, fmt.Errorf("%w: bcrypt: %v", ErrMalformed, err)
	}
	return bcryptHash{encoded: []byte(encoded)}, nil
}

// verify compares in constant time (inside bcrypt). Any error after the
// format was checked (e.g. a secret longer than bcrypt takes) is a mismatch.
func (h bcryptHash) verify(secret string) bool {
	return bcrypt.CompareHashAndPassword(h.encoded, []byte(secret)) == nil
}

func (bcryptHash) current(Params) bool { return false }
