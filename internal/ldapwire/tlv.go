package ldapwire

import (
	"fmt"
)

// BER identifier octet parts (X.690 §8.1.2).
const (
	classUniversal   = 0x00
	classApplication = 0x40
	classContext     = 0x80
	classPrivate     = 0xc0
	constructed      = 0x20

	tagBoolean     = 0x01
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagNull        = 0x05
	tagEnumerated  = 0x0a
	tagSequence    = 0x10
	tagSet         = 0x11
)

// tlv is one BER element inside a buffer that has already been read whole.
// body aliases the input; raw is the whole element (identifier, length and
// body).
type tlv struct {
	class       byte // classUniversal, classApplication, ...
	constructed bool
	tag         int
	body        []byte
	raw         []byte
}

// is reports whether t has the given class, form and tag.
func (t tlv) is(class byte, cons bool, tag int) bool {
	return t.class == class && t.constructed == cons && t.tag == tag
}

func (t tlv) String() string {
	return fmt.Sprintf("class=%#x constructed=%t tag=%d len=%d", t.class, t.constructed, t.tag, len(t.body))
}

// maxTag bounds high-tag-number tags: LDAP never uses one above 30, and a
// bound keeps the arithmetic far from overflow.
const maxTag = 1 << 24

// next parses the first element of b and returns it with the bytes that
// follow it. Only the definite length form is accepted (RFC 4511 §5.1).
func next(b []byte) (tlv, []byte, error) {
	var t tlv
	if len(b) < 2 {
		return t, nil, fmt.Errorf("%w: element truncated", ErrMalformed)
	}
	id := b[0]
	t.class = id & 0xc0
	t.constructed = id&constructed != 0
	i := 1
	if id&0x1f != 0x1f {
		t.tag = int(id & 0x1f)
	} else {
		// High tag number form.
		tag := 0
		for {
			if i >= len(b) {
				return t, nil, fmt.Errorf("%w: tag truncated", ErrMalformed)
			}
			c := b[i]
			i++
			if tag == 0 && c == 0x80 {
				return t, nil, fmt.Errorf("%w: non-minimal tag", ErrMalformed)
			}
			tag = tag<<7 | int(c&0x7f)
			if tag >= maxTag {
				return t, nil, fmt.Errorf("%w: tag too large", ErrMalformed)
			}
			if c&0x80 == 0 {
				break
			}
		}
		t.tag = tag
	}
	if i >= len(b) {
		return t, nil, fmt.Errorf("%w: length truncated", ErrMalformed)
	}
	n, ln, err := parseLength(b[i:])
	if err != nil {
		return t, nil, err
	}
	i += ln
	if n > len(b)-i {
		return t, nil, fmt.Errorf("%w: element length %d exceeds the %d bytes left", ErrMalformed, n, len(b)-i)
	}
	t.body = b[i : i+n]
	t.raw = b[:i+n]
	return t, b[i+n:], nil
}

// parseLength decodes a definite BER length at the start of b and returns it
// with the number of bytes it took.
func parseLength(b []byte) (n, used int, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: length truncated", ErrMalformed)
	}
	c := b[0]
	switch {
	case c < 0x80:
		return int(c), 1, nil
	case c == 0x80:
		return 0, 0, fmt.Errorf("%w: indefinite length", ErrMalformed)
	case c == 0xff:
		return 0, 0, fmt.Errorf("%w: reserved length octet 0xff", ErrMalformed)
	}
	k := int(c & 0x7f)
	if k > 4 {
		// Four octets already describe 4 GiB; nothing that big fits a
		// message we accept.
		return 0, 0, fmt.Errorf("%w: length of %d octets", ErrMalformed, k)
	}
	if len(b) < 1+k {
		return 0, 0, fmt.Errorf("%w: length truncated", ErrMalformed)
	}
	var v uint64
	for _, d := range b[1 : 1+k] {
		v = v<<8 | uint64(d)
	}
	if v > maxInt31 {
		return 0, 0, fmt.Errorf("%w: length %d too large", ErrMalformed, v)
	}
	return int(v), 1 + k, nil
}

// maxInt31 is maxInt of RFC 4511 (2^31 - 1).
const maxInt31 = 1<<31 - 1

// parseInt decodes the body of a BER INTEGER or ENUMERATED as a signed
// two's-complement value of at most 8 octets.
func parseInt(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty integer", ErrMalformed)
	}
	// Skip redundant leading octets so that padded encodings still fit.
	for len(b) > 1 && ((b[0] == 0x00 && b[1]&0x80 == 0) || (b[0] == 0xff && b[1]&0x80 != 0)) {
		b = b[1:]
	}
	if len(b) > 8 {
		return 0, fmt.Errorf("%w: integer too large", ErrMalformed)
	}
	var v int64
	if b[0]&0x80 != 0 {
		v = -1
	}
	for _, d := range b {
		v = v<<8 | int64(d)
	}
	return v, nil
}

// expectInt reads an INTEGER (or ENUMERATED when tag says so) within
// [lo, hi].
func expectInt(b []byte, class byte, tag int, lo, hi int64, what string) (int64, []byte, error) {
	t, rest, err := next(b)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", what, err)
	}
	if !t.is(class, false, tag) {
		return 0, nil, fmt.Errorf("%w: %s: unexpected element %v", ErrMalformed, what, t)
	}
	v, err := parseInt(t.body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", what, err)
	}
	if v < lo || v > hi {
		return 0, nil, fmt.Errorf("%w: %s %d out of range", ErrMalformed, what, v)
	}
	return v, rest, nil
}

// expectPrimitive reads a primitive element of the given class and tag and
// returns its body. OCTET STRINGs are primitive only in LDAP (RFC 4511 §5.1).
func expectPrimitive(b []byte, class byte, tag int, what string) ([]byte, []byte, error) {
	t, rest, err := next(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if !t.is(class, false, tag) {
		return nil, nil, fmt.Errorf("%w: %s: unexpected element %v", ErrMalformed, what, t)
	}
	return t.body, rest, nil
}

// expectConstructed reads a constructed element and returns its body.
func expectConstructed(b []byte, class byte, tag int, what string) ([]byte, []byte, error) {
	t, rest, err := next(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if !t.is(class, true, tag) {
		return nil, nil, fmt.Errorf("%w: %s: unexpected element %v", ErrMalformed, what, t)
	}
	return t.body, rest, nil
}

// parseBool decodes a BOOLEAN body: one octet, any non-zero value is TRUE
// (BER; DER's 0xff is not required of clients).
func parseBool(b []byte) (bool, error) {
	if len(b) != 1 {
		return false, fmt.Errorf("%w: boolean of %d octets", ErrMalformed, len(b))
	}
	return b[0] != 0, nil
}

// peek returns the next element without consuming it, and ok=false when b
// is empty.
func peek(b []byte) (tlv, bool, error) {
	if len(b) == 0 {
		return tlv{}, false, nil
	}
	t, _, err := next(b)
	if err != nil {
		return tlv{}, false, err
	}
	return t, true, nil
}
