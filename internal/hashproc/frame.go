package hashproc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A request on the helper's input:
//
//	length u32 | id u64 | time u32 | memory u32 | threads u8 | keyLen u32 | saltLen u32 | salt | secret
//
// an answer on its output:
//
//	length u32 | id u64 | key
//
// big-endian; length counts what follows it.
type request struct {
	id                   uint64
	time, memory, keyLen uint32
	threads              uint8
	salt, secret         []byte
}

const (
	requestHeader = 8 + 4 + 4 + 1 + 4 + 4
	// maxFrame bounds a frame: a secret and a salt are short, a key at
	// most 1 KiB.
	maxFrame = 64 << 10
	// maxMemoryKiB bounds argon2id's memory in one request (4 GiB).
	maxMemoryKiB = 4 << 20
)

var errFrame = errors.New("hashproc: malformed frame")

func (q *request) encode() []byte {
	b := make([]byte, 0, 4+requestHeader+len(q.salt)+len(q.secret))
	b = binary.BigEndian.AppendUint32(b, uint32(requestHeader+len(q.salt)+len(q.secret)))
	b = binary.BigEndian.AppendUint64(b, q.id)
	b = binary.BigEndian.AppendUint32(b, q.time)
	b = binary.BigEndian.AppendUint32(b, q.memory)
	b = append(b, q.threads)
	b = binary.BigEndian.AppendUint32(b, q.keyLen)
	b = binary.BigEndian.AppendUint32(b, uint32(len(q.salt)))
	b = append(b, q.salt...)
	return append(b, q.secret...)
}

func readFrame(r *bufio.Reader, min int) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err // io.EOF: the other side closed between frames
	}
	size := binary.BigEndian.Uint32(n[:])
	if size < uint32(min) || size > maxFrame {
		return nil, fmt.Errorf("%w: length %d", errFrame, size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: %v", errFrame, io.ErrUnexpectedEOF)
	}
	return b, nil
}

func readRequest(r *bufio.Reader) (request, error) {
	b, err := readFrame(r, requestHeader)
	if err != nil {
		return request{}, err
	}
	q := request{
		id:      binary.BigEndian.Uint64(b),
		time:    binary.BigEndian.Uint32(b[8:]),
		memory:  binary.BigEndian.Uint32(b[12:]),
		threads: b[16],
		keyLen:  binary.BigEndian.Uint32(b[17:]),
	}
	saltLen := binary.BigEndian.Uint32(b[21:])
	rest := b[requestHeader:]
	if uint64(saltLen) > uint64(len(rest)) {
		return request{}, fmt.Errorf("%w: salt of %d bytes in %d", errFrame, saltLen, len(rest))
	}
	q.salt, q.secret = rest[:saltLen], rest[saltLen:]
	if q.time < 1 || q.threads < 1 || q.memory < 8*uint32(q.threads) || q.memory > maxMemoryKiB || q.keyLen < 1 || q.keyLen > 1024 {
		return request{}, fmt.Errorf("%w: parameters t=%d m=%d p=%d keyLen=%d", errFrame, q.time, q.memory, q.threads, q.keyLen)
	}
	return q, nil
}

func writeResponse(w io.Writer, id uint64, key []byte) error {
	b := make([]byte, 0, 12+len(key))
	b = binary.BigEndian.AppendUint32(b, uint32(8+len(key)))
	b = binary.BigEndian.AppendUint64(b, id)
	_, err := w.Write(append(b, key...))
	return err
}

func readResponse(r *bufio.Reader) (uint64, []byte, error) {
	b, err := readFrame(r, 8)
	if err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint64(b), b[8:], nil
}
