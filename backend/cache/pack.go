package cache

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/bindery/bindery/backend"
)

// A positive record keeps its login ID and its entry packed into one
// string, so that a cached person costs one small allocation instead of a
// backend.Entry and each of its strings:
//
//	uvarint len(id) | id | entry?
//
// entry, absent when the cache keeps none (DropEntries, or a backend that
// gave none), is
//
//	flags                                  one byte, see flagOwnID...
//	ID                                     only with flagOwnID
//	CommonName Surname GivenName Mail      strings
//	Category Institution                   interned strings, see appendInterned
//	UUID                                   16 bytes with flagRawUUID, else a string
//	Created Modified                       see appendTime; zones in the flags
//	Extra                                  only with flagExtra, see appendExtra
//
// where a string is uvarint length and bytes. Unpacking gives an entry
// whose strings are substrings of the packed string (no copies); only a
// raw UUID is formatted again.
const (
	flagOwnID   = 1 << iota // Entry.ID is not the key and follows
	flagRawUUID             // UUID is a canonical text UUID stored as its 16 bytes
	flagExtra               // Extra is not nil and follows

	createdShift  = 3 // two bits: zone of Created
	modifiedShift = 5 // two bits: zone of Modified
)

// Zones of a packed time: which *time.Location an unpacked time gets.
const (
	zoneZero  = iota // the zero time.Time: nothing follows
	zoneUTC          // time.UTC
	zoneLocal        // time.Local
	zoneFixed        // any other: its name and offset at that instant follow
)

// Scales of a packed time's nanoseconds, in the low two bits: database
// times are usually whole milliseconds or microseconds, which then take
// two or three bytes instead of five.
const (
	scaleNano = iota
	scaleMicro
	scaleMilli
)

// errCorrupt is returned for a packed record that does not decode.
var errCorrupt = errors.New("corrupt packed entry")

// packBuf is the stack buffer pack starts with; a larger entry spills to
// the heap before the final copy.
const packBuf = 256

// pack returns the packed form of id and e (e may be nil), interning
// values in in (which may be nil).
func pack(id string, e *backend.Entry, in *interner) string {
	b := make([]byte, 0, packBuf)
	b = appendString(b, id)
	if e != nil {
		b = appendEntry(b, id, e, in)
	}
	return string(b)
}

func appendEntry(b []byte, id string, e *backend.Entry, in *interner) []byte {
	var flags byte
	if e.ID != id {
		flags |= flagOwnID
	}
	uuid, rawUUID := parseUUID(e.UUID)
	if rawUUID {
		flags |= flagRawUUID
	}
	if e.Extra != nil {
		flags |= flagExtra
	}
	flags |= zoneOf(e.Created)<<createdShift | zoneOf(e.Modified)<<modifiedShift
	b = append(b, flags)
	if flags&flagOwnID != 0 {
		b = appendString(b, e.ID)
	}
	for _, s := range [...]string{e.CommonName, e.Surname, e.GivenName, e.Mail} {
		b = appendString(b, s)
	}
	b = appendInterned(b, e.Category, in)
	b = appendInterned(b, e.Institution, in)
	if rawUUID {
		b = append(b, uuid[:]...)
	} else {
		b = appendString(b, e.UUID)
	}
	b = appendTime(b, e.Created)
	b = appendTime(b, e.Modified)
	if e.Extra != nil {
		b = appendExtra(b, e.Extra)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendInterned appends s as uvarint index<<1 | 1 when it is in the
// intern table, else as uvarint length<<1 and its bytes.
func appendInterned(b []byte, s string, in *interner) []byte {
	if i, ok := in.indexOf(s); ok {
		return binary.AppendUvarint(b, uint64(i)<<1|1)
	}
	b = binary.AppendUvarint(b, uint64(len(s))<<1)
	return append(b, s...)
}

func zoneOf(t time.Time) byte {
	switch loc := t.Location(); {
	case loc == time.UTC && t.IsZero():
		return zoneZero
	case loc == time.UTC:
		return zoneUTC
	case loc == time.Local:
		return zoneLocal
	}
	return zoneFixed
}

// appendTime appends t (unless it is the zero time) as varint Unix seconds
// and uvarint scaled nanoseconds, then, for a zone other than UTC and
// Local, the zone's name and offset. The monotonic clock reading, if any,
// is not kept.
func appendTime(b []byte, t time.Time) []byte {
	zone := zoneOf(t)
	if zone == zoneZero {
		return b
	}
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, scaledNanos(t.Nanosecond()))
	if zone == zoneFixed {
		name, offset := t.Zone()
		b = appendString(b, name)
		b = binary.AppendVarint(b, int64(offset))
	}
	return b
}

func scaledNanos(ns int) uint64 {
	switch {
	case ns%1e6 == 0:
		return uint64(ns/1e6)<<2 | scaleMilli
	case ns%1e3 == 0:
		return uint64(ns/1e3)<<2 | scaleMicro
	}
	return uint64(ns)<<2 | scaleNano
}

// appendExtra appends the number of names and of values in all, then per
// name the name and its values, preceded by their count plus one (0 for a
// nil slice).
func appendExtra(b []byte, extra map[string][]string) []byte {
	values := 0
	for _, vs := range extra {
		values += len(vs)
	}
	b = binary.AppendUvarint(b, uint64(len(extra)))
	b = binary.AppendUvarint(b, uint64(values))
	for name, vs := range extra {
		b = appendString(b, name)
		if vs == nil {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(vs))+1)
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	return b
}

// keyOf returns the login ID at the start of a packed record and where the
// entry starts.
func keyOf(packed string) (id string, rest int) {
	r := reader{s: packed}
	id = r.string()
	if r.err != nil {
		panic("cache: packed record without its key") // pack always writes it
	}
	return id, r.off
}

// unpack returns the entry of a packed record, nil when it has none. in
// is the intern table the record was packed with.
func unpack(packed string, in *interner) (*backend.Entry, error) {
	r := reader{s: packed, in: in}
	id := r.string()
	if r.err != nil || r.off == len(packed) {
		return nil, r.err
	}
	e := r.entry(id)
	if r.err == nil && r.off != len(r.s) {
		r.err = fmt.Errorf("%w: %d bytes left over", errCorrupt, len(r.s)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return e, nil
}

// reader decodes a packed string. The first problem is kept in err; reads
// after it return zero values.
type reader struct {
	s   string
	off int
	in  *interner
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s at byte %d", errCorrupt, what, r.off)
	}
}

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.s) {
		r.fail("byte")
		return 0
	}
	r.off++
	return r.s[r.off-1]
}

func (r *reader) uvarint() uint64 {
	if r.off < len(r.s) && r.s[r.off] < 0x80 {
		r.off++
		return uint64(r.s[r.off-1])
	}
	return r.longUvarint()
}

func (r *reader) longUvarint() uint64 {
	var v uint64
	for shift := 0; shift < 64 && r.off < len(r.s); shift += 7 {
		c := r.s[r.off]
		r.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.fail("uvarint")
	return 0
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a uvarint that is a number of following items, each at
// least one byte long.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.s)-r.off) {
		r.fail("count")
		return 0
	}
	return int(n)
}

// string returns the next string: a substring of r.s, not a copy.
func (r *reader) string() string { return r.take(r.uvarint()) }

// take returns the next n bytes as a substring of r.s.
func (r *reader) take(n uint64) string {
	if r.err != nil || n > uint64(len(r.s)-r.off) {
		r.fail("string")
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// interned returns the next string written by appendInterned.
func (r *reader) interned() string {
	v := r.uvarint()
	if v&1 == 0 {
		return r.take(v >> 1)
	}
	s, ok := r.in.value(v >> 1)
	if !ok {
		r.fail("intern index")
	}
	return s
}

func (r *reader) entry(id string) *backend.Entry {
	flags := r.byte()
	e := &backend.Entry{ID: id}
	if flags&flagOwnID != 0 {
		e.ID = r.string()
	}
	for _, f := range [...]*string{&e.CommonName, &e.Surname, &e.GivenName, &e.Mail} {
		*f = r.string()
	}
	e.Category = r.interned()
	e.Institution = r.interned()
	if flags&flagRawUUID != 0 {
		e.UUID = r.uuid()
	} else {
		e.UUID = r.string()
	}
	e.Created = r.time(flags >> createdShift & 3)
	e.Modified = r.time(flags >> modifiedShift & 3)
	if flags&flagExtra != 0 {
		e.Extra = r.extra()
	}
	return e
}

func (r *reader) uuid() string {
	if r.err != nil || len(r.s)-r.off < 16 {
		r.fail("uuid")
		return ""
	}
	var u [16]byte
	copy(u[:], r.s[r.off:])
	r.off += 16
	return formatUUID(&u)
}

func (r *reader) time(zone byte) time.Time {
	if zone == zoneZero {
		return time.Time{}
	}
	sec := r.varint()
	scaled := r.uvarint()
	ns := int64(scaled >> 2)
	switch scaled & 3 {
	case scaleMicro:
		ns *= 1e3
	case scaleMilli:
		ns *= 1e6
	}
	t := time.Unix(sec, ns)
	switch zone {
	case zoneUTC:
		return t.UTC()
	case zoneFixed:
		name := r.string()
		return t.In(time.FixedZone(name, int(r.varint())))
	}
	return t
}

func (r *reader) extra() map[string][]string {
	names := r.count()
	values := make([]string, r.count())
	extra := make(map[string][]string, names)
	for range names {
		name := r.string()
		n := r.uvarint()
		if n == 0 {
			extra[name] = nil
			continue
		}
		n--
		if n > uint64(len(values)) {
			r.fail("extra values")
			return nil
		}
		vs := values[:n:n]
		values = values[n:]
		for i := range vs {
			vs[i] = r.string()
		}
		extra[name] = vs
	}
	return extra
}

// uuidHexAt are the offsets of the 16 hex pairs of a text UUID.
var uuidHexAt = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// parseUUID reports whether s is a canonical text UUID (lower-case hex,
// 8-4-4-4-12) and returns its 16 bytes. Any other form is kept as text, so
// that unpacking gives back exactly s.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	for i, at := range uuidHexAt {
		hi, ok1 := fromHex(s[at])
		lo, ok2 := fromHex(s[at+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[i] = hi<<4 | lo
	}
	return u, true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// formatUUID is the canonical text of u.
func formatUUID(u *[16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	hex.Encode(b[9:13], u[4:6])
	hex.Encode(b[14:18], u[6:8])
	hex.Encode(b[19:23], u[8:10])
	hex.Encode(b[24:], u[10:])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}
