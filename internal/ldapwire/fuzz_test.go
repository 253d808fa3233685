package ldapwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// FuzzReadMessage reads messages from arbitrary bytes: no panic, only the
// documented errors, and decoded values within their ranges. A filter's
// string form must parse back to the same filter.
func FuzzReadMessage(f *testing.F) {
	for _, raw := range clientSeeds(f) {
		f.Add(raw)
	}
	f.Add(searchOp(nestedNot(MaxFilterDepth + 1)))
	f.Add([]byte{0x30, 0x84, 0x80, 0x00, 0x00, 0x00})
	f.Add([]byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x42, 0x00, 0x00, 0x00})
	f.Add(append(envelope(128, simpleBindOp("a", "b")), handAbandon(129, 128)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		// One whole message: ReadMessage (which reads a small bind into
		// one allocation) and Decode agree.
		if want, err := Decode(data); err == nil {
			m, err := ReadMessage(bufio.NewReader(bytes.NewReader(data)), 1<<16)
			if err == nil && !reflect.DeepEqual(m, want) {
				t.Fatalf("ReadMessage %#v, Decode %#v", m, want)
			}
			if err != nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode reads what ReadMessage does not: %v", err)
			}
		}
		r := bufio.NewReader(bytes.NewReader(data))
		for i := 0; i < 16; i++ {
			m, err := ReadMessage(r, 1<<16)
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("undocumented error: %v", err)
				}
				if errors.Is(err, io.EOF) && err != io.EOF {
					t.Fatalf("wrapped io.EOF: %v", err)
				}
				return
			}
			if m.ID < 0 || m.ID > maxInt31 || m.Op == nil {
				t.Fatalf("bad message %+v", m)
			}
			if s, ok := m.Op.(*SearchRequest); ok {
				p, err := ldap.CompileFilter(s.FilterString)
				if err != nil {
					t.Fatalf("filter %q does not compile: %v", s.FilterString, err)
				}
				back, err := ldap.DecompileFilter(p)
				if err != nil || back != s.FilterString {
					t.Fatalf("filter %q came back as %q (%v)", s.FilterString, back, err)
				}
			}
		}
	})
}

// FuzzDecodePasswordModify decodes arbitrary Password Modify values; what
// decodes must re-encode to a value that decodes the same.
func FuzzDecodePasswordModify(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x0b, 0x80, 0x01, 'u', 0x81, 0x03, 'o', 'l', 'd', 0x82, 0x01, 'n'})
	f.Add([]byte{0x30, 0x02, 0x82, 0x00})
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodePasswordModify(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		v, s := open(nil, idSequence)
		if req.HasUserIdentity {
			v = appendString(v, classContext|0, req.UserIdentity)
		}
		if req.HasOld {
			v = appendBytes(v, classContext|1, req.OldPassword)
		}
		if req.HasNew {
			v = appendBytes(v, classContext|2, req.NewPassword)
		}
		v = closeElem(v, s)
		again, err := DecodePasswordModify(v)
		if err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		if again.UserIdentity != req.UserIdentity || again.HasUserIdentity != req.HasUserIdentity ||
			!bytes.Equal(again.OldPassword, req.OldPassword) || again.HasOld != req.HasOld ||
			!bytes.Equal(again.NewPassword, req.NewPassword) || again.HasNew != req.HasNew {
			t.Fatalf("round trip %+v -> %+v", req, again)
		}
	})
}
