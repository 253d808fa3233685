package ldapwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// searchOp builds a SearchRequest around raw filter bytes.
func searchOp(filter []byte) []byte {
	var body []byte
	body = appendString(body, idOctetString, "dc=x")
	body = appendInt(body, idEnumerated, 2)
	body = appendInt(body, idEnumerated, 0)
	body = appendInt(body, idInteger, 0)
	body = appendInt(body, idInteger, 0)
	body = appendBool(body, idBoolean, false)
	body = append(body, filter...)
	body = append(body, idSequence, 0)
	return wrap(1, appApp(TagSearchRequest), body)
}

// wrap builds an LDAPMessage with the given op identifier and body.
func wrap(id int64, opID byte, body []byte) []byte {
	var inner []byte
	inner = appendInt(inner, idInteger, id)
	inner = appendBytes(inner, opID, body)
	return appendBytes(nil, idSequence, inner)
}

// nestedNot returns depth "not" filters around (a=*), built without
// quadratic copying.
func nestedNot(depth int) []byte {
	inner := []byte{classContext | filterPresent, 1, 'a'}
	headers := make([][]byte, depth)
	n := len(inner)
	for i := 0; i < depth; i++ {
		h := appendLength([]byte{classContext | constructed | filterNot}, n)
		headers[i] = h
		n += len(h)
	}
	out := make([]byte, 0, n)
	for i := depth - 1; i >= 0; i-- {
		out = append(out, headers[i]...)
	}
	return append(out, inner...)
}

func avaFilter(tag byte, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return appendBytes(nil, classContext|constructed|tag, body)
}

func octets(s string) []byte { return appendString(nil, idOctetString, s) }

// TestMalformed feeds broken messages to Decode and ReadMessage.
func TestMalformed(t *testing.T) {
	good := envelope(1, simpleBindOp("a", "b"))
	bindBody := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return wrap(1, appApp(TagBindRequest), b)
	}
	ver := appendInt(nil, idInteger, 3)
	tests := []struct {
		name string
		raw  []byte
		want error // for ReadMessage
	}{
		{"empty sequence", []byte{0x30, 0x00}, ErrMalformed},
		{"wrong outer tag", append([]byte{0x31}, good[1:]...), ErrMalformed},
		{"outer indefinite", []byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x42, 0x00, 0x00, 0x00}, ErrMalformed},
		{"outer 0xff length", []byte{0x30, 0xff}, ErrMalformed},
		{"outer 9 length octets", []byte{0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ErrMalformed},
		{"truncated header", []byte{0x30}, io.ErrUnexpectedEOF},
		{"truncated long length", []byte{0x30, 0x82, 0x01}, io.ErrUnexpectedEOF},
		{"truncated body", good[:len(good)-1], io.ErrUnexpectedEOF},
		{"inner indefinite", wrap(1, appApp(TagBindRequest), []byte{0x02, 0x01, 0x03, 0x04, 0x80, 0x00, 0x00}), ErrMalformed},
		{"inner length past end", wrap(1, appApp(TagBindRequest), []byte{0x02, 0x01, 0x03, 0x04, 0x05, 'a'}), ErrMalformed},
		{"inner 5 length octets", wrap(1, appApp(TagBindRequest), []byte{0x02, 0x01, 0x03, 0x04, 0x85, 0, 0, 0, 0, 1, 'a'}), ErrMalformed},
		{"missing op", appendBytes(nil, idSequence, appendInt(nil, idInteger, 1)), ErrMalformed},
		{"negative id", wrap(-1, appApp(TagBindRequest), nil), ErrMalformed},
		{"id 2^31", wrap(1<<31, appApp(TagUnbindRequest), nil), ErrMalformed},
		{"id 9 octets", appendBytes(nil, idSequence, append([]byte{0x02, 0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 0x42, 0)), ErrMalformed},
		{"empty id", appendBytes(nil, idSequence, []byte{0x02, 0x00, 0x42, 0x00}), ErrMalformed},
		{"id not integer", appendBytes(nil, idSequence, []byte{0x04, 0x01, 0x01, 0x42, 0x00}), ErrMalformed},
		{"universal op", wrap(1, idSequence, nil), ErrMalformed},
		{"context op", wrap(1, classContext, nil), ErrMalformed},
		{"bind primitive", wrap(1, classApplication|TagBindRequest, nil), ErrMalformed},
		{"bind no auth", bindBody(ver, octets("a")), ErrMalformed},
		{"bind version 0", bindBody(appendInt(nil, idInteger, 0), octets("a"), []byte{0x80, 0}), ErrMalformed},
		{"bind version 200", bindBody(appendInt(nil, idInteger, 200), octets("a"), []byte{0x80, 0}), ErrMalformed},
		{"bind name constructed", bindBody(ver, []byte{0x24, 0x03, 0x04, 0x01, 'a'}, []byte{0x80, 0}), ErrMalformed},
		{"bind simple constructed", bindBody(ver, octets("a"), []byte{0xa0, 0}), ErrMalformed},
		{"bind auth universal", bindBody(ver, octets("a"), octets("pw")), ErrMalformed},
		{"sasl primitive", bindBody(ver, octets("a"), []byte{0x83, 0}), ErrMalformed},
		{"sasl no mechanism", bindBody(ver, octets("a"), []byte{0xa3, 0}), ErrMalformed},
		{"unbind constructed", wrap(1, appApp(TagUnbindRequest), nil), ErrMalformed},
		{"abandon constructed", wrap(1, appApp(TagAbandonRequest), nil), ErrMalformed},
		{"abandon empty", wrap(1, classApplication|TagAbandonRequest, nil), ErrMalformed},
		{"abandon negative", wrap(1, classApplication|TagAbandonRequest, []byte{0xff}), ErrMalformed},
		{"delete constructed", wrap(1, appApp(TagDelRequest), nil), ErrMalformed},
		{"modify primitive", wrap(1, classApplication|TagModifyRequest, nil), ErrMalformed},
		{"modify no dn", wrap(1, appApp(TagModifyRequest), nil), ErrMalformed},
		{"extended no name", wrap(1, appApp(TagExtendedRequest), nil), ErrMalformed},
		{"extended universal name", wrap(1, appApp(TagExtendedRequest), octets("1.2")), ErrMalformed},
		{"compare no ava", wrap(1, appApp(TagCompareRequest), octets("dc=x")), ErrMalformed},
		{"compare short ava", wrap(1, appApp(TagCompareRequest), append(octets("dc=x"), appendBytes(nil, idSequence, octets("cn"))...)), ErrMalformed},
		{"controls not sequence", withControls(good, []byte{0x04, 0x01, 'x'}), ErrMalformed},
		{"control without oid", withControls(good, []byte{0x30, 0x00}), ErrMalformed},
		{"control bad boolean", withControls(good, appendBytes(nil, idSequence, append(octets("1.2"), 0x01, 0x02, 0, 0))), ErrMalformed},
		{"search primitive", wrap(1, classApplication|TagSearchRequest, nil), ErrMalformed},
		{"search negative size limit", searchWith(func(f *searchFields) { f.size = appendInt(nil, idInteger, -1) }), ErrMalformed},
		{"search typesOnly integer", searchWith(func(f *searchFields) { f.typesOnly = appendInt(nil, idInteger, 1) }), ErrMalformed},
		{"search no attributes", searchWith(func(f *searchFields) { f.attrs = nil }), ErrMalformed},
		{"search attribute not string", searchWith(func(f *searchFields) { f.attrs = appendBytes(nil, idSequence, appendInt(nil, idInteger, 1)) }), ErrMalformed},
		{"filter universal", searchOp(octets("x")), ErrMalformed},
		{"filter unknown choice", searchOp([]byte{0xaa, 0x00}), ErrMalformed},
		{"filter present constructed", searchOp([]byte{0xa7, 0x00}), ErrMalformed},
		{"filter and primitive", searchOp([]byte{0x80, 0x00}), ErrMalformed},
		{"filter not empty", searchOp([]byte{0xa2, 0x00}), ErrMalformed},
		{"filter not two", searchOp(avaFilter(filterNot, []byte{0x87, 1, 'a'}, []byte{0x87, 1, 'b'})), ErrMalformed},
		{"filter equality one part", searchOp(avaFilter(filterEquality, octets("a"))), ErrMalformed},
		{"filter equality three parts", searchOp(avaFilter(filterEquality, octets("a"), octets("b"), octets("c"))), ErrMalformed},
		{"filter substrings empty", searchOp(avaFilter(filterSubstrings, octets("a"), []byte{0x30, 0})), ErrMalformed},
		{"filter substrings initial late", searchOp(avaFilter(filterSubstrings, octets("a"), appendBytes(nil, idSequence, []byte{0x81, 1, 'x', 0x80, 1, 'y'}))), ErrMalformed},
		{"filter substrings final early", searchOp(avaFilter(filterSubstrings, octets("a"), appendBytes(nil, idSequence, []byte{0x82, 1, 'x', 0x81, 1, 'y'}))), ErrMalformed},
		{"filter substrings bad tag", searchOp(avaFilter(filterSubstrings, octets("a"), appendBytes(nil, idSequence, []byte{0x83, 1, 'x'}))), ErrMalformed},
		{"filter extensible no value", searchOp(avaFilter(filterExtensible, []byte{0x82, 1, 'a'})), ErrMalformed},
		{"filter extensible out of order", searchOp(avaFilter(filterExtensible, []byte{0x83, 1, 'v', 0x82, 1, 'a'})), ErrMalformed},
		{"filter extensible bad bool", searchOp(avaFilter(filterExtensible, []byte{0x83, 1, 'v', 0x84, 0})), ErrMalformed},
		{"filter attr with =", searchOp(avaFilter(filterEquality, octets("a=b"), octets("c"))), ErrMalformed},
		{"filter attr with paren", searchOp(avaFilter(filterGE, octets("a)(b"), octets("c"))), ErrMalformed},
		{"filter attr starts with dash", searchOp([]byte{0x87, 2, '-', 'a'}), ErrMalformed},
		{"filter present empty", searchOp([]byte{0x87, 0}), ErrMalformed},
		{"filter substring empty piece", searchOp(avaFilter(filterSubstrings, octets("a"), appendBytes(nil, idSequence, []byte{0x81, 0}))), ErrMalformed},
		{"filter extensible value only", searchOp(avaFilter(filterExtensible, []byte{0x83, 1, 'v'})), ErrMalformed},
		{"filter extensible bad rule", searchOp(avaFilter(filterExtensible, []byte{0x81, 1, ':', 0x83, 1, 'v'})), ErrMalformed},
		{"filter nested 100000", searchOp(nestedNot(100000)), ErrMalformed},
		{"filter nested just too deep", searchOp(nestedNot(MaxFilterDepth + 1)), ErrMalformed},
		{"high tag truncated", wrap(1, 0x7f, nil)[:4], io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadMessage(bufio.NewReader(bytes.NewReader(tc.raw)), 1<<20)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadMessage: %v, want %v", err, tc.want)
			}
			if _, err := Decode(tc.raw); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode: %v, want ErrMalformed", err)
			}
		})
	}
}

// TestFilterDepthLimit accepts the deepest allowed filter.
func TestFilterDepthLimit(t *testing.T) {
	m, err := Decode(searchOp(nestedNot(MaxFilterDepth)))
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Op.(*SearchRequest).FilterString; len(s) != 2*MaxFilterDepth+len("(a=*)")+MaxFilterDepth {
		t.Fatalf("filter %q", s)
	}
}

// TestDecodeTrailingBytes: Decode wants exactly one message.
func TestDecodeTrailingBytes(t *testing.T) {
	raw := append(envelope(1, simpleBindOp("a", "b")), 0)
	if _, err := Decode(raw); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
}

type searchFields struct{ base, scope, deref, size, time, typesOnly, filter, attrs []byte }

// searchWith builds a search request with one field replaced.
func searchWith(mod func(*searchFields)) []byte {
	f := searchFields{
		base: octets("dc=x"), scope: appendInt(nil, idEnumerated, 2), deref: appendInt(nil, idEnumerated, 0),
		size: appendInt(nil, idInteger, 0), time: appendInt(nil, idInteger, 0), typesOnly: appendBool(nil, idBoolean, false),
		filter: []byte{0x87, 1, 'a'}, attrs: []byte{0x30, 0},
	}
	mod(&f)
	body := bytes.Join([][]byte{f.base, f.scope, f.deref, f.size, f.time, f.typesOnly, f.filter, f.attrs}, nil)
	return wrap(1, appApp(TagSearchRequest), body)
}

// withControls appends a raw controls body to a message with short lengths.
func withControls(msg, body []byte) []byte {
	return withTrailing(msg, appendBytes(nil, classContext|constructed, body))
}

// blockingReader serves data and then fails: reading past it would be a bug.
type blockingReader struct {
	data []byte
	read bool
}

var errReadPastHeader = errors.New("read past the header")

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.read {
		return 0, errReadPastHeader
	}
	b.read = true
	return copy(p, b.data), nil
}

// TestTooLarge: an oversized announced length is refused before any body
// byte is read or allocated.
func TestTooLarge(t *testing.T) {
	tests := []struct {
		name   string
		header []byte
		max    int
	}{
		{"2 GiB", []byte{0x30, 0x84, 0x80, 0x00, 0x00, 0x00}, 1 << 20},
		{"4 GiB - 1", []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, 1 << 20},
		{"8-octet length", []byte{0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1 << 20},
		{"one over", []byte{0x30, 0x82, 0x01, 0x01}, 256},
		{"short form over tiny limit", []byte{0x30, 0x10}, 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &blockingReader{data: tc.header}
			br := bufio.NewReaderSize(r, 16)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadMessage(br, tc.max)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
				t.Fatalf("%d bytes allocated", n)
			}
		})
	}
	// At the limit is fine.
	raw := envelope(1, simpleBindOp("a", "b"))
	if _, err := ReadMessage(bufio.NewReader(bytes.NewReader(raw)), len(raw)-2); err != nil {
		t.Fatalf("at limit: %v", err)
	}
}

// TestBerNestingUntouched documents that decoding does not depend on
// asn1-ber's global nesting limit.
func TestBerNestingUntouched(t *testing.T) {
	if ber.MaxNestingDepth < MaxFilterDepth+4 {
		t.Fatalf("ber.MaxNestingDepth %d below the filter limit", ber.MaxNestingDepth)
	}
}
