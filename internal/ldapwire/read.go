package ldapwire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// readChunk is how much of a large message body is allocated at a time, so
// that a peer announcing a big length and then stalling costs memory only
// for the bytes it actually sent.
const readChunk = 64 << 10

// ReadMessage reads exactly one LDAPMessage from r. It reads the tag and
// length first and returns ErrTooLarge without reading the body when the
// length exceeds maxBytes; it never allocates more than maxBytes for one
// message (maxBytes counts the body, not the few header octets). It returns
// io.EOF, unwrapped, only when the stream ends cleanly between messages;
// a stream that ends inside a message gives an error wrapping
// io.ErrUnexpectedEOF, and bytes that are not an LDAPMessage an error
// wrapping ErrMalformed.
//
// Each message is read into a buffer of its own, which this package never
// writes again: the message's byte slices (a bind's Password, a control's
// Value...) and a bind's Name share it, and a caller that writes none of
// them may take strings of them without a copy (the proxy does, for a
// bind's password).
func ReadMessage(r *bufio.Reader, maxBytes int) (*Message, error) {
	n, err := readHeader(r, maxBytes)
	if err != nil {
		return nil, err
	}
	var body []byte
	var bm *bindMessage
	if sb, err := readSmallBind(r, n); err != nil {
		return nil, fmt.Errorf("wire: read message: %w", err)
	} else if sb != nil {
		body, bm = sb.body[:n], &sb.bindMessage
	} else if body, err = readBody(r, n); err != nil {
		return nil, fmt.Errorf("wire: read message: %w", err)
	}
	m, err := decodeBody(body, true, bm)
	if err != nil {
		return nil, fmt.Errorf("wire: read message: %w", err)
	}
	return m, nil
}

// inlineBind is the largest body of a bind read into the allocation of
// its Message and BindRequest: a DN, a password and a control or two fit,
// and with bindMessage's 152 bytes (64-bit) it fills a 320-byte size
// class.
const inlineBind = 168

// smallBind is a bind whose body is at most inlineBind bytes: message,
// request and body in one allocation.
type smallBind struct {
	bindMessage
	body [inlineBind]byte
}

// readSmallBind reads a body of n bytes that holds a bind of at most
// inlineBind bytes into a smallBind. It returns nil, having read nothing,
// when the body is larger, does not fit r's buffer or is not a bind (or
// its first bytes do not parse: decodeBody says why).
func readSmallBind(r *bufio.Reader, n int) (*smallBind, error) {
	if n > inlineBind || n > r.Size() {
		return nil, nil
	}
	b, err := r.Peek(n)
	if err != nil {
		return nil, unexpected(err)
	}
	if _, rest, err := next(b); err != nil || len(rest) == 0 || rest[0] != classApplication|constructed|TagBindRequest {
		return nil, nil
	}
	sb := new(smallBind)
	copy(sb.body[:], b)
	r.Discard(n)
	return sb, nil
}

// readLength reads a definite BER length from r. It is separate from
// parseLength because it must not need the octets to be buffered.
func readLength(r *bufio.Reader) (int64, error) {
	c, err := r.ReadByte()
	if err != nil {
		return 0, unexpected(err)
	}
	switch {
	case c < 0x80:
		return int64(c), nil
	case c == 0x80:
		return 0, fmt.Errorf("%w: indefinite length", ErrMalformed)
	case c == 0xff:
		return 0, fmt.Errorf("%w: reserved length octet 0xff", ErrMalformed)
	}
	k := int(c & 0x7f)
	if k > 8 {
		return 0, fmt.Errorf("%w: length of %d octets", ErrMalformed, k)
	}
	var v uint64
	for i := 0; i < k; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		v = v<<8 | uint64(d)
	}
	if v > 1<<62 {
		// Larger than any limit; report it as too large, not malformed.
		return 1 << 62, nil
	}
	return int64(v), nil
}

// readBody reads exactly n bytes, growing the buffer as data arrives.
func readBody(r *bufio.Reader, n int) ([]byte, error) {
	if n <= readChunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, unexpected(err)
		}
		return b, nil
	}
	b := make([]byte, 0, readChunk)
	for len(b) < n {
		step := min(n-len(b), readChunk)
		if cap(b)-len(b) < step {
			nb := make([]byte, len(b), min(n, 2*cap(b)+step))
			copy(nb, b)
			b = nb
		}
		k, err := io.ReadFull(r, b[len(b):len(b)+step])
		b = b[:len(b)+k]
		if err != nil {
			return nil, unexpected(err)
		}
	}
	return b, nil
}

// unexpected turns io.EOF inside a message into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
