package ldapwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// envelope builds an LDAPMessage the way go-ldap does, with ber.Encode.
func envelope(id int64, op *ber.Packet, controls ...*ber.Packet) []byte {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	p.AppendChild(op)
	if len(controls) > 0 {
		c := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, x := range controls {
			c.AppendChild(x)
		}
		p.AppendChild(c)
	}
	return p.Bytes()
}

func simpleBindOp(name, pw string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, TagBindRequest, nil, "Bind Request")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, name, "User Name"))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, pw, "Password"))
	return op
}

func handAbandon(id, target int64) []byte {
	return envelope(id, ber.NewInteger(ber.ClassApplication, ber.TypePrimitive, TagAbandonRequest, target, "Abandon"))
}

func control(oid string, crit *bool, value *string) *ber.Packet {
	c := ber.NewSequence("Control")
	c.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, oid, "OID"))
	if crit != nil {
		c.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, *crit, "Criticality"))
	}
	if value != nil {
		c.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, *value, "Value"))
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// TestMessageIDs round-trips message IDs across every length boundary.
func TestMessageIDs(t *testing.T) {
	for _, id := range []int64{0, 1, 127, 128, 255, 256, 32767, 32768, 65535, 65536, 1<<23 - 1, 1 << 23, 2147483647} {
		// Request side: hand-built by asn1-ber, as a client would.
		raw := envelope(id, simpleBindOp("cn=x", "y"))
		m, err := ReadMessage(bufio.NewReader(bytes.NewReader(raw)), 1024)
		if err != nil || m.ID != id {
			t.Fatalf("id %d: got %+v, %v", id, m, err)
		}
		a, err := Decode(handAbandon(1, id))
		if err != nil || a.Op.(*AbandonRequest).MessageID != id {
			t.Fatalf("abandon %d: %+v, %v", id, a, err)
		}
		// Response side: asn1-ber must read back what we wrote.
		out := AppendBindResponse(nil, id, Result{Code: 49}, nil)
		p, err := ber.DecodePacketErr(out)
		if err != nil || p.Children[0].Value.(int64) != id {
			t.Fatalf("response id %d: %v %v", id, p, err)
		}
	}
}

// TestDecodeHandBuilt covers shapes go-ldap's client does not send.
func TestDecodeHandBuilt(t *testing.T) {
	saslOp := func(mech string, creds *string) *ber.Packet {
		op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, TagBindRequest, nil, "Bind Request")
		op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "User Name"))
		s := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "SASL")
		s.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, mech, "Mechanism"))
		if creds != nil {
			s.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, *creds, "Creds"))
		}
		op.AppendChild(s)
		return op
	}
	v2 := simpleBindOp("", "")
	v2.Children[0] = ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 2, "Version")
	v2 = rebuild(v2)
	sicily := ber.Encode(ber.ClassApplication, ber.TypeConstructed, TagBindRequest, nil, "Bind Request")
	sicily.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
	sicily.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "x", "User Name"))
	sicily.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 9, "", "Sicily discovery"))
	ext := ber.Encode(ber.ClassApplication, ber.TypeConstructed, TagExtendedRequest, nil, "Extended")
	ext.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.2.3", "Name"))
	ext.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 1, "", "Value"))
	unknown := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 30, nil, "unknown")
	unknown.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "x", ""))
	bindResp := ber.Encode(ber.ClassApplication, ber.TypeConstructed, TagBindResponse, nil, "client sent a response")

	tests := []struct {
		name string
		raw  []byte
		want *Message
	}{
		{"sasl with creds", envelope(2, saslOp("DIGEST-MD5", ptr("abc"))),
			&Message{ID: 2, Op: &BindRequest{Version: 3, SASLMechanism: "DIGEST-MD5", SASLCreds: []byte("abc"), AuthMethod: AuthSASL}}},
		{"sasl without creds", envelope(2, saslOp("EXTERNAL", nil)),
			&Message{ID: 2, Op: &BindRequest{Version: 3, SASLMechanism: "EXTERNAL", AuthMethod: AuthSASL}}},
		{"anonymous v2", envelope(1, v2),
			&Message{ID: 1, Op: &BindRequest{Version: 2, Simple: true, Password: []byte{}, AuthMethod: AuthSimple}}},
		{"sicily", envelope(1, sicily),
			&Message{ID: 1, Op: &BindRequest{Version: 3, Name: "x", AuthMethod: 9}}},
		{"extended empty value", envelope(4, ext),
			&Message{ID: 4, Op: &ExtendedRequest{OID: "1.2.3", Value: []byte{}, HasValue: true}}},
		{"unknown tag", envelope(9, unknown),
			&Message{ID: 9, Op: &UnsupportedRequest{Tag: 30, ResponseTag: -1}}},
		{"response tag from client", envelope(9, bindResp),
			&Message{ID: 9, Op: &UnsupportedRequest{Tag: TagBindResponse, ResponseTag: -1}}},
		{"controls", envelope(3, simpleBindOp("a", "b"),
			control(OIDPasswordPolicy, nil, nil),
			control(OIDManageDsaIT, ptr(true), nil),
			control(OIDPagedResults, ptr(false), ptr("v")),
			control("1.2.3.4", nil, ptr(""))),
			&Message{ID: 3, Op: &BindRequest{Version: 3, Name: "a", Simple: true, Password: []byte("b")}, Controls: []Control{
				{OID: OIDPasswordPolicy},
				{OID: OIDManageDsaIT, Critical: true},
				{OID: OIDPagedResults, Value: []byte("v"), HasValue: true},
				{OID: "1.2.3.4", Value: []byte{}, HasValue: true},
			}}},
		{"trailing unknown element ignored", withTrailing(envelope(3, simpleBindOp("a", "b")), []byte{0x9f, 0x30, 0x00}),
			&Message{ID: 3, Op: &BindRequest{Version: 3, Name: "a", Simple: true, Password: []byte("b")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// rebuild re-encodes a packet after its children were replaced.
func rebuild(p *ber.Packet) *ber.Packet {
	q := ber.Encode(p.ClassType, p.TagType, p.Tag, nil, p.Description)
	for _, c := range p.Children {
		q.AppendChild(c)
	}
	return q
}

// withTrailing appends an element inside the outer SEQUENCE of msg
// (short-form lengths only).
func withTrailing(msg, extra []byte) []byte {
	out := append([]byte{msg[0], msg[1] + byte(len(extra))}, msg[2:]...)
	return append(out, extra...)
}

// TestNonMinimalEncoding accepts long-form lengths and padded integers, which
// BER allows.
func TestNonMinimalEncoding(t *testing.T) {
	raw := []byte{
		0x30, 0x81, 0x14, // LDAPMessage, long-form length
		0x02, 0x03, 0x00, 0x00, 0x05, // messageID 5, padded
		0x60, 0x84, 0x00, 0x00, 0x00, 0x09, // BindRequest, 4-octet length
		0x02, 0x01, 0x03, // version
		0x04, 0x01, 'a', // name
		0x80, 0x01, 'b', // simple
	}
	m, err := ReadMessage(bufio.NewReader(bytes.NewReader(raw)), 100)
	if err != nil {
		t.Fatal(err)
	}
	want := &Message{ID: 5, Op: &BindRequest{Version: 3, Name: "a", Simple: true, Password: []byte("b")}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %#v", m)
	}
}

// TestReadStream reads several messages from one stream, then a clean EOF.
func TestReadStream(t *testing.T) {
	var stream []byte
	for i := int64(1); i <= 3; i++ {
		stream = append(stream, envelope(i, simpleBindOp("a", "b"))...)
	}
	stream = append(stream, handAbandon(4, 1)...)
	r := bufio.NewReader(bytes.NewReader(stream))
	for i := int64(1); i <= 4; i++ {
		m, err := ReadMessage(r, 1024)
		if err != nil || m.ID != i {
			t.Fatalf("message %d: %+v %v", i, m, err)
		}
	}
	if _, err := ReadMessage(r, 1024); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}

// TestMessagesKeepTheirBytes: what ReadMessage returns is the message's
// own, whatever is read after it (the bufio.Reader's buffer is reused,
// here a small one filled a byte at a time); Decode copies a bind's name
// out of the caller's bytes, which the caller may reuse.
func TestMessagesKeepTheirBytes(t *testing.T) {
	type want struct{ name, pw string }
	wants := []want{
		{"uid=CU1234567,ou=people,dc=library,dc=example,dc=edu", "Library2026"},
		{"uid=CITYU5012345,ou=people,dc=library,dc=example,dc=edu", "other-PIN-456"},
		{"jchan", strings.Repeat("long password ", 40)},
		{"", ""},
	}
	var stream []byte
	for i, w := range wants {
		stream = append(stream, envelope(int64(i+1), simpleBindOp(w.name, w.pw))...)
	}
	for _, size := range []int{16, 4096} {
		r := bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(stream)), size)
		var got []*BindRequest
		for range wants {
			m, err := ReadMessage(r, 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.Op.(*BindRequest))
		}
		for i, w := range wants {
			if got[i].Name != w.name || string(got[i].Password) != w.pw {
				t.Errorf("reader of %d: bind %d became %q / %q after the later reads", size, i+1, got[i].Name, got[i].Password)
			}
		}
	}
	raw := envelope(1, simpleBindOp(wants[0].name, wants[0].pw))
	m, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	clear(raw)
	if name := m.Op.(*BindRequest).Name; name != wants[0].name {
		t.Errorf("Decode: the name shares the caller's bytes: %q", name)
	}
}

// TestInlineBindBoundary: binds whose bodies are just under, at and just
// over inlineBind (read into one allocation with their message, or not),
// and a non-bind of that size, read as Decode decodes them; cut short they
// are io.ErrUnexpectedEOF.
func TestInlineBindBoundary(t *testing.T) {
	bodyLen := func(raw []byte) int {
		if raw[1] < 0x80 {
			return len(raw) - 2
		}
		return len(raw) - 2 - int(raw[1]&0x7f)
	}
	name := "uid=CU1234567,ou=people,dc=library,dc=example,dc=edu"
	for _, n := range []int{inlineBind - 1, inlineBind, inlineBind + 1} {
		var raw []byte
		var pw string
		for k := 0; k < 2*inlineBind; k++ {
			pw = strings.Repeat("p", k)
			if raw = envelope(7, simpleBindOp(name, pw)); bodyLen(raw) >= n {
				break
			}
		}
		if got := bodyLen(raw); got != n {
			t.Fatalf("body of %d bytes, want %d", got, n)
		}
		// One allocation for a bind up to inlineBind, two past it.
		src := bytes.NewReader(raw)
		br := bufio.NewReader(src)
		allocs := testing.AllocsPerRun(50, func() {
			src.Reset(raw)
			br.Reset(src)
			if _, err := ReadMessage(br, 1<<16); err != nil {
				t.Fatal(err)
			}
		})
		if want := map[bool]float64{true: 1, false: 2}[n <= inlineBind]; allocs != want {
			t.Errorf("%d: %v allocations, want %v", n, allocs, want)
		}
		compare := envelope(8, ber.NewString(ber.ClassApplication, ber.TypePrimitive, TagDelRequest, name+pw+"xyzw", "Del"))
		for _, raw := range [][]byte{raw, compare} {
			m, err := ReadMessage(bufio.NewReader(bytes.NewReader(raw)), 1<<16)
			if err != nil {
				t.Fatalf("%d: %v", n, err)
			}
			want, err := Decode(raw)
			if err != nil || !reflect.DeepEqual(m, want) {
				t.Fatalf("%d: ReadMessage %#v, Decode %#v (%v)", n, m, want, err)
			}
			_, err = ReadMessage(bufio.NewReader(bytes.NewReader(raw[:len(raw)-1])), 1<<16)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%d, cut short: %v", n, err)
			}
		}
	}
}

// TestLargeBody reads a message bigger than the read chunk.
func TestLargeBody(t *testing.T) {
	pw := bytes.Repeat([]byte("x"), 3*readChunk+17)
	raw := envelope(1, simpleBindOp("a", string(pw)))
	m, err := ReadMessage(bufio.NewReader(bytes.NewReader(raw)), len(raw))
	if err != nil || !bytes.Equal(m.Op.(*BindRequest).Password, pw) {
		t.Fatalf("large: %v", err)
	}
	_, err = ReadMessage(bufio.NewReader(bytes.NewReader(raw[:len(raw)-1])), len(raw))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated large: %v", err)
	}
}
