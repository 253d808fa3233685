package ldapwire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// berResult builds with asn1-ber what AppendResult should produce.
func berResult(id int64, tag int, r Result, controls []Control, extra ...*ber.Packet) []byte {
	p := ber.NewSequence("msg")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ber.Tag(tag), nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, r.Code, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, r.MatchedDN, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, r.DiagnosticMessage, ""))
	if len(r.Referral) > 0 {
		ref := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "")
		for _, u := range r.Referral {
			ref.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, u, ""))
		}
		op.AppendChild(ref)
	}
	for _, e := range extra {
		op.AppendChild(e)
	}
	p.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, c := range controls {
			cp := ber.NewSequence("")
			cp.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, c.OID, ""))
			if c.Critical {
				cp.AppendChild(ber.NewLDAPBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, ""))
			}
			if c.HasValue {
				cp.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(c.Value), ""))
			}
			cs.AppendChild(cp)
		}
		p.AppendChild(cs)
	}
	return p.Bytes()
}

// TestAppendResultMatchesAsn1Ber compares our encoder with asn1-ber's, byte
// for byte, across length boundaries and every result tag.
func TestAppendResultMatchesAsn1Ber(t *testing.T) {
	tags := []int{TagBindResponse, TagSearchResultDone, TagModifyResponse, TagAddResponse, TagDelResponse,
		TagModifyDNResponse, TagCompareResponse, TagExtendedResponse}
	sizes := []int{0, 1, 100, 115, 116, 117, 127, 128, 200, 255, 256, 65535, 65536, 70000}
	for _, tag := range tags {
		for _, n := range sizes {
			r := Result{Code: 49, MatchedDN: "dc=x", DiagnosticMessage: strings.Repeat("d", n)}
			if n%2 == 1 {
				r.Referral = []string{"ldap://a/", "ldap://b/"}
			}
			ctl := []Control{{OID: "1.2.3", Critical: true, Value: []byte(strings.Repeat("v", n/3)), HasValue: true}, {OID: "4.5"}}
			for _, controls := range [][]Control{nil, ctl} {
				got := AppendResult([]byte("prefix"), 300, tag, r, controls)
				want := append([]byte("prefix"), berResult(300, tag, r, controls)...)
				if !bytes.Equal(got, want) {
					t.Fatalf("tag %d size %d controls %d:\n got %x\nwant %x", tag, n, len(controls), got[:min(len(got), 64)], want[:min(len(want), 64)])
				}
			}
		}
	}
}

// TestAppendExtendedResponseMatchesAsn1Ber checks responseName/Value.
func TestAppendExtendedResponseMatchesAsn1Ber(t *testing.T) {
	r := Result{Code: 0}
	name := ber.NewString(ber.ClassContext, ber.TypePrimitive, 10, OIDPasswordModify, "")
	val := ber.NewString(ber.ClassContext, ber.TypePrimitive, 11, "abc", "")
	emptyVal := ber.NewString(ber.ClassContext, ber.TypePrimitive, 11, "", "")
	cases := []struct {
		got, want []byte
	}{
		{AppendExtendedResponse(nil, 7, r, OIDPasswordModify, []byte("abc"), true, nil), berResult(7, TagExtendedResponse, r, nil, name, val)},
		{AppendExtendedResponse(nil, 7, r, "", []byte("abc"), true, nil), berResult(7, TagExtendedResponse, r, nil, val)},
		{AppendExtendedResponse(nil, 7, r, "", nil, true, nil), berResult(7, TagExtendedResponse, r, nil, emptyVal)},
		{AppendExtendedResponse(nil, 7, r, OIDPasswordModify, nil, false, nil), berResult(7, TagExtendedResponse, r, nil, name)},
		{AppendExtendedResponse(nil, 7, r, "", nil, false, nil), berResult(7, TagExtendedResponse, r, nil)},
	}
	for i, c := range cases {
		if !bytes.Equal(c.got, c.want) {
			t.Fatalf("case %d:\n got %x\nwant %x", i, c.got, c.want)
		}
	}
}

// TestNoticeOfDisconnection checks the unsolicited notification's shape.
func TestNoticeOfDisconnection(t *testing.T) {
	b := AppendNoticeOfDisconnection(nil, 2, "decoding error")
	p, err := ber.DecodePacketErr(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Children[0].Value.(int64) != 0 {
		t.Fatalf("message ID %v", p.Children[0].Value)
	}
	op := p.Children[1]
	if op.ClassType != ber.ClassApplication || op.Tag != TagExtendedResponse || len(op.Children) != 4 {
		t.Fatalf("op %v", op)
	}
	if op.Children[0].Value.(int64) != 2 || op.Children[2].Value.(string) != "decoding error" ||
		op.Children[3].ClassType != ber.ClassContext || op.Children[3].Tag != 10 || op.Children[3].Data.String() != OIDNoticeOfDisconn {
		t.Fatalf("op children %+v", op.Children)
	}
	if len(p.Children) != 2 {
		t.Fatalf("controls present")
	}
}

// TestSearchEntryMatchesAsn1Ber compares entries and references with
// asn1-ber's encoding.
func TestSearchEntryMatchesAsn1Ber(t *testing.T) {
	attrs := []Attribute{
		{Type: "objectClass", Values: []string{"top", "person", "inetOrgPerson"}},
		{Type: "cn", Values: []string{strings.Repeat("c", 200)}},
		{Type: "jpegPhoto", Values: []string{string([]byte{0, 0xff, 0x80})}},
		{Type: "empty"},
	}
	build := func(typesOnly bool) []byte {
		p := ber.NewSequence("")
		p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 128, ""))
		op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, TagSearchResultEntry, nil, "")
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid=a,dc=x", ""))
		list := ber.NewSequence("")
		for _, a := range attrs {
			pa := ber.NewSequence("")
			pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a.Type, ""))
			set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
			if !typesOnly {
				for _, v := range a.Values {
					set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
				}
			}
			pa.AppendChild(set)
			list.AppendChild(pa)
		}
		op.AppendChild(list)
		p.AppendChild(op)
		return p.Bytes()
	}
	if got, want := AppendSearchEntry(nil, 128, "uid=a,dc=x", attrs, nil), build(false); !bytes.Equal(got, want) {
		t.Fatalf("entry:\n got %x\nwant %x", got, want)
	}
	if got, want := AppendSearchEntryTypesOnly(nil, 128, "uid=a,dc=x", attrs, nil), build(true); !bytes.Equal(got, want) {
		t.Fatalf("typesOnly entry:\n got %x\nwant %x", got, want)
	}
	ref := AppendSearchReference(nil, 3, []string{"ldap://a/dc=x"}, nil)
	if want := "3014020103730f040d6c6461703a2f2f612f64633d78"; hex.EncodeToString(ref) != want {
		t.Fatalf("reference %x, want %s", ref, want)
	}
}

// TestPpolicyControl checks the bytes against slapd's encoding and go-ldap's
// decoder.
func TestPpolicyControl(t *testing.T) {
	tests := []struct {
		name                string
		errCode, exp, grace int
		hex                 string // the value as slapd's ppolicy overlay writes it
		want                ldap.ControlBeheraPasswordPolicy
	}{
		{"none", PpolicyNone, -1, -1, "3000", ldap.ControlBeheraPasswordPolicy{Expire: -1, Grace: -1, Error: -1}},
		{"changeAfterReset", PpolicyChangeAfterReset, -1, -1, "3003810102",
			ldap.ControlBeheraPasswordPolicy{Expire: -1, Grace: -1, Error: 2, ErrorString: "Password must be changed"}},
		{"accountLocked", PpolicyAccountLocked, -1, -1, "3003810101",
			ldap.ControlBeheraPasswordPolicy{Expire: -1, Grace: -1, Error: 1, ErrorString: "Account locked"}},
		{"passwordInHistory", PpolicyPasswordInHistory, -1, -1, "3003810108",
			ldap.ControlBeheraPasswordPolicy{Expire: -1, Grace: -1, Error: 8, ErrorString: "New password is in list of old passwords"}},
		{"expire 86400", PpolicyNone, 86400, -1, "3007a005800301518" + "0",
			ldap.ControlBeheraPasswordPolicy{Expire: 86400, Grace: -1, Error: -1}},
		{"expire 0", PpolicyNone, 0, -1, "3005a003800100",
			ldap.ControlBeheraPasswordPolicy{Expire: 0, Grace: -1, Error: -1}},
		{"grace 2", PpolicyNone, -1, 2, "3005a003810102",
			ldap.ControlBeheraPasswordPolicy{Expire: -1, Grace: 2, Error: -1}},
		{"grace 200 (two octets)", PpolicyNone, -1, 200, "3006a004810200c8",
			ldap.ControlBeheraPasswordPolicy{Expire: -1, Grace: 200, Error: -1}},
		{"grace and expired", PpolicyPasswordExpired, -1, 1, "3008a0038101018101" + "00",
			ldap.ControlBeheraPasswordPolicy{Expire: -1, Grace: 1, Error: 0, ErrorString: "Password expired"}},
		{"both warnings: expiration wins", PpolicyNone, 60, 3, "3005a00380013c",
			ldap.ControlBeheraPasswordPolicy{Expire: 60, Grace: -1, Error: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := PpolicyResponseControl(tc.errCode, tc.exp, tc.grace)
			if c.OID != OIDPasswordPolicy || c.Critical || !c.HasValue {
				t.Fatalf("control %+v", c)
			}
			if got := hex.EncodeToString(c.Value); got != tc.hex {
				t.Fatalf("value %s, want %s", got, tc.hex)
			}
			p := ber.NewSequence("Control")
			p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, c.OID, ""))
			p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(c.Value), ""))
			dec, err := ldap.DecodeControl(ber.DecodePacket(p.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			pp, ok := dec.(*ldap.ControlBeheraPasswordPolicy)
			if !ok || !reflect.DeepEqual(*pp, tc.want) {
				t.Fatalf("go-ldap decoded %+v, want %+v", dec, tc.want)
			}
		})
	}
}

// TestPagedResults round-trips the paged results control through go-ldap.
func TestPagedResults(t *testing.T) {
	for _, cookie := range [][]byte{nil, []byte("c"), bytes.Repeat([]byte{0xfe}, 300)} {
		c := PagedResultsControl(1000, cookie)
		p := ber.NewSequence("Control")
		p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, c.OID, ""))
		p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(c.Value), ""))
		dec, err := ldap.DecodeControl(ber.DecodePacket(p.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		pg := dec.(*ldap.ControlPaging)
		if pg.PagingSize != 1000 || !bytes.Equal(pg.Cookie, cookie) {
			t.Fatalf("go-ldap decoded %+v", pg)
		}
		size, ck, err := DecodePagedResults(c.Value)
		if err != nil || size != 1000 || !bytes.Equal(ck, cookie) {
			t.Fatalf("decode: %d %q %v", size, ck, err)
		}
	}
	bad := [][]byte{nil, {0x30, 0x00}, {0x30, 0x03, 0x02, 0x01, 0x01}, {0x30, 0x05, 0x02, 0x01, 0xff, 0x04, 0x00},
		{0x31, 0x05, 0x02, 0x01, 0x01, 0x04, 0x00}, {0x30, 0x05, 0x02, 0x01, 0x01, 0x04, 0x00, 0x00}}
	for _, b := range bad {
		if _, _, err := DecodePagedResults(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%x: %v", b, err)
		}
	}
}

// TestDecodePasswordModify covers RFC 3062 values.
func TestDecodePasswordModify(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want PasswordModifyRequest
		bad  bool
	}{
		{name: "absent", hex: ""},
		{name: "empty sequence", hex: "3000"},
		{name: "all", hex: "300b80017581036f6c648201" + "6e",
			want: PasswordModifyRequest{UserIdentity: "u", HasUserIdentity: true, OldPassword: []byte("old"), HasOld: true, NewPassword: []byte("n"), HasNew: true}},
		{name: "new only empty", hex: "30028200", want: PasswordModifyRequest{NewPassword: []byte{}, HasNew: true}},
		{name: "unknown trailing field", hex: "3006810161830100", want: PasswordModifyRequest{OldPassword: []byte("a"), HasOld: true}},
		{name: "not a sequence", hex: "0400", bad: true},
		{name: "trailing bytes", hex: "300000", bad: true},
		{name: "out of order", hex: "3006820161800162", bad: true},
		{name: "duplicate", hex: "3006810161810162", bad: true},
		{name: "universal field", hex: "3003040161", bad: true},
		{name: "constructed field", hex: "3002a000", bad: true},
		{name: "truncated", hex: "300381", bad: true},
		{name: "indefinite", hex: "308000000", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(tc.hex)
			if err != nil && !tc.bad {
				t.Fatal(err)
			}
			got, err := DecodePasswordModify(b)
			if tc.bad {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}

// TestPasswordModifyResponseValue checks the RFC 3062 response value.
func TestPasswordModifyResponseValue(t *testing.T) {
	if got := hex.EncodeToString(PasswordModifyResponseValue("")); got != "3000" {
		t.Fatal(got)
	}
	if got := hex.EncodeToString(PasswordModifyResponseValue("ab")); got != "30048002"+"6162" {
		t.Fatal(got)
	}
}
