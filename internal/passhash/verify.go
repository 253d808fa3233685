package passhash

import (
	"errors"
	"fmt"
	"strings"
)

// Errors for hashes that cannot be used. A wrong secret is never an error.
var (
	// ErrMalformed: the string is not a valid hash of a known scheme.
	ErrMalformed = errors.New("malformed hash")
	// ErrUnsupported: a recognised scheme (or variant) this package cannot verify,
	// e.g. {CRYPT} with traditional DES or yescrypt, or a plaintext value.
	ErrUnsupported = errors.New("unsupported scheme")
)

// verifier is a parsed hash of any scheme.
type verifier interface {
	verify(secret string) bool
	// current reports whether the hash is argon2id made with want.
	current(want Params) bool
}

// Verify checks secret against encoded, judging needsRehash against
// DefaultParams. See VerifyWith.
func Verify(encoded, secret string) (ok, needsRehash bool, err error) {
	return VerifyWith(encoded, secret, DefaultParams)
}

// VerifyWith checks secret against encoded. needsRehash is true when the
// hash is of a legacy scheme or argon2id with parameters other than want;
// it is reported only together with ok. err (wrapping ErrMalformed or
// ErrUnsupported) is only for a hash that cannot be used, never for a wrong
// secret.
func VerifyWith(encoded, secret string, want Params) (ok, needsRehash bool, err error) {
	v, err := parse(encoded)
	if err != nil {
		return false, false, fmt.Errorf("passhash: verify: %w", err)
	}
	if !v.verify(secret) {
		return false, false, nil
	}
	return true, !v.current(want), nil
}

// Check validates the format of encoded without a secret. Import and config
// loading use it; a plaintext value fails.
func Check(encoded string) error {
	if _, err := parse(encoded); err != nil {
		return fmt.Errorf("passhash: check: %w", err)
	}
	return nil
}

// NeedsRehash reports whether encoded is anything but an argon2id hash made
// with want (a malformed hash needs one too).
func NeedsRehash(encoded string, want Params) bool {
	v, err := parse(encoded)
	return err != nil || !v.current(want)
}

// Scheme names the scheme of encoded as this package sees it ("argon2id",
// "bcrypt", "SSHA", "CRYPT", ...), or "" when it recognises none.
func Scheme(encoded string) string {
	switch {
	case strings.HasPrefix(encoded, argon2Prefix):
		return "argon2id"
	case isBcrypt(encoded):
		return "bcrypt"
	case strings.HasPrefix(encoded, "{"):
		if i := strings.IndexByte(encoded, '}'); i > 1 {
			return strings.ToUpper(encoded[1:i])
		}
	}
	return ""
}

// parse recognises the scheme of encoded and parses it.
func parse(encoded string) (verifier, error) {
	switch {
	case encoded == "":
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	case strings.HasPrefix(encoded, argon2Prefix):
		return parseArgon2id(encoded)
	case strings.HasPrefix(encoded, "$argon2"):
		return nil, fmt.Errorf("%w: only argon2id among the argon2 variants", ErrUnsupported)
	case isBcrypt(encoded):
		return parseBcrypt(encoded)
	case strings.HasPrefix(encoded, "{"):
		end := strings.IndexByte(encoded, '}')
		if end < 2 {
			return nil, fmt.Errorf("%w: scheme name", ErrMalformed)
		}
		scheme, rest := strings.ToUpper(encoded[1:end]), encoded[end+1:]
		if scheme == "CRYPT" {
			return parseCrypt(rest)
		}
		if d, ok := digests[scheme]; ok {
			return parseDigest(d, rest)
		}
		return nil, fmt.Errorf("%w: {%s}", ErrUnsupported, scheme)
	case strings.HasPrefix(encoded, "$"):
		// A bare crypt(3) string ($1$, $5$, $6$) as some systems export it.
		return parseCrypt(encoded)
	}
	return nil, fmt.Errorf("%w: no known scheme prefix (a plaintext is never accepted)", ErrUnsupported)
}
