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

// The client half is checked against the server half, whose encodings
// real OpenLDAP clients read (openldap_test.go), and whose decoder reads
// what go-ldap sends.

func readResponse(t *testing.T, msg []byte) *Response {
	t.Helper()
	body, err := ReadFrame(bufio.NewReader(bytes.NewReader(msg)), 1<<20)
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	r, err := DecodeResponse(body)
	if err != nil {
		t.Fatalf("DecodeResponse: %v", err)
	}
	return r
}

func TestClientRequestsDecode(t *testing.T) {
	m, err := Decode(AppendBindRequest(nil, 7, "uid=jchan,ou=people,dc=example,dc=org", "s3cret PIN", nil))
	if err != nil {
		t.Fatal(err)
	}
	if br, ok := m.Op.(*BindRequest); m.ID != 7 || !ok || br.Version != 3 || !br.Simple ||
		br.Name != "uid=jchan,ou=people,dc=example,dc=org" || string(br.Password) != "s3cret PIN" {
		t.Fatalf("bind = %d %+v", m.ID, m.Op)
	}

	m, err = Decode(AppendBindRequest(nil, 8, "", "", nil))
	if br, ok := m.Op.(*BindRequest); err != nil || !ok || br.Name != "" || len(br.Password) != 0 {
		t.Fatalf("anonymous bind = %+v, %v", m.Op, err)
	}

	const filter = `(&(objectClass=person)(uid=a\2ab\28c\29))`
	f, err := ldap.CompileFilter(filter)
	if err != nil {
		t.Fatal(err)
	}
	paging := PagedResultsControl(500, []byte("cookie\x00\xff"))
	msg := AppendSearchRequest(nil, 1<<31-1, ClientSearch{BaseDN: "ou=people,dc=example,dc=org", Scope: ScopeSub,
		SizeLimit: 2, TimeLimit: 5, Filter: f.Bytes(), Attributes: []string{"cn", "mail", "entryUUID"}},
		[]Control{paging})
	m, err = Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	sr, ok := m.Op.(*SearchRequest)
	if !ok || m.ID != 1<<31-1 || sr.BaseDN != "ou=people,dc=example,dc=org" || sr.Scope != ScopeSub ||
		sr.SizeLimit != 2 || sr.TimeLimit != 5 || sr.TypesOnly || sr.FilterString != filter ||
		!reflect.DeepEqual(sr.Attributes, []string{"cn", "mail", "entryUUID"}) {
		t.Fatalf("search = %d %+v", m.ID, m.Op)
	}
	c, ok := FindControl(m.Controls, OIDPagedResults)
	if !ok {
		t.Fatal("paging control lost")
	}
	size, cookie, err := DecodePagedResults(c.Value)
	if err != nil || size != 500 || string(cookie) != "cookie\x00\xff" {
		t.Fatalf("paging = %d %q %v", size, cookie, err)
	}

	m, err = Decode(AppendExtendedRequest(nil, 3, OIDStartTLS, nil, false, nil))
	if er, ok := m.Op.(*ExtendedRequest); err != nil || !ok || er.OID != OIDStartTLS || er.HasValue {
		t.Fatalf("extended = %+v, %v", m.Op, err)
	}
	m, err = Decode(AppendUnbindRequest(nil, 4))
	if _, ok := m.Op.(*UnbindRequest); err != nil || !ok || m.ID != 4 {
		t.Fatalf("unbind = %+v, %v", m, err)
	}
}

func TestDecodeResponses(t *testing.T) {
	ctl := PpolicyResponseControl(PpolicyChangeAfterReset, -1, -1)
	r := readResponse(t, AppendBindResponse(nil, 5, Result{Code: 49, MatchedDN: "ou=people",
		DiagnosticMessage: "80090308: LdapErr: DSID-0C09044E, data 52e, v4563", Referral: []string{"ldap://other/"}},
		[]Control{ctl}))
	if r.ID != 5 || r.Tag != TagBindResponse || r.Result.Code != 49 || r.Result.MatchedDN != "ou=people" ||
		r.Result.DiagnosticMessage != "80090308: LdapErr: DSID-0C09044E, data 52e, v4563" ||
		!reflect.DeepEqual(r.Result.Referral, []string{"ldap://other/"}) {
		t.Fatalf("bind response = %+v", r)
	}
	if len(r.Controls) != 1 || r.Controls[0].OID != OIDPasswordPolicy || !bytes.Equal(r.Controls[0].Value, ctl.Value) {
		t.Fatalf("controls = %+v", r.Controls)
	}

	guid := string([]byte{0x00, 0xff, 0x10, 0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	r = readResponse(t, AppendSearchEntry(nil, 6, "uid=jchan,ou=people,dc=example,dc=org", []Attribute{
		{Type: "cn", Values: []string{"Jackie Chan", "陳港生"}},
		{Type: "objectGUID", Values: []string{guid}},
		{Type: "empty"},
	}, nil))
	want := []RawAttribute{
		{Type: "cn", Values: [][]byte{[]byte("Jackie Chan"), []byte("陳港生")}},
		{Type: "objectGUID", Values: [][]byte{[]byte(guid)}},
		{Type: "empty"},
	}
	if r.Tag != TagSearchResultEntry || r.DN != "uid=jchan,ou=people,dc=example,dc=org" || !reflect.DeepEqual(r.Attributes, want) {
		t.Fatalf("entry = %+v", r)
	}

	r = readResponse(t, AppendSearchReference(nil, 6, []string{"ldap://a/dc=x", "ldap://b/dc=x"}, nil))
	if r.Tag != TagSearchResultReference || !reflect.DeepEqual(r.URIs, []string{"ldap://a/dc=x", "ldap://b/dc=x"}) {
		t.Fatalf("reference = %+v", r)
	}

	r = readResponse(t, AppendSearchDone(nil, 6, Result{Code: 4}, []Control{PagedResultsControl(0, []byte("next"))}))
	if r.Tag != TagSearchResultDone || r.Result.Code != 4 || len(r.Controls) != 1 {
		t.Fatalf("done = %+v", r)
	}

	r = readResponse(t, AppendExtendedResponse(nil, 9, Result{}, OIDWhoAmI, []byte("dn:uid=jchan"), true, nil))
	if r.Tag != TagExtendedResponse || r.Name != OIDWhoAmI || string(r.Value) != "dn:uid=jchan" {
		t.Fatalf("extended = %+v", r)
	}

	r = readResponse(t, AppendNoticeOfDisconnection(nil, 52, "going away"))
	if r.ID != 0 || r.Tag != TagExtendedResponse || r.Result.Code != 52 || r.Name != OIDNoticeOfDisconn {
		t.Fatalf("notice = %+v", r)
	}
}

func TestDecodeResponseRefusesMalformed(t *testing.T) {
	good := AppendBindResponse(nil, 5, Result{Code: 0}, nil)
	body, err := ReadFrame(bufio.NewReader(bytes.NewReader(good)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":              {},
		"truncated":          body[:len(body)-1],
		"request tag":        AppendBindRequest(nil, 1, "a", "b", nil)[2:],
		"negative id":        {0x02, 0x01, 0xff, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00},
		"primitive op":       {0x02, 0x01, 0x01, 0x41, 0x00},
		"no diagnostic":      {0x02, 0x01, 0x01, 0x61, 0x05, 0x0a, 0x01, 0x00, 0x04, 0x00},
		"entry without list": {0x02, 0x01, 0x01, 0x64, 0x02, 0x04, 0x00},
	}
	for name, b := range cases {
		if _, err := DecodeResponse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader([]byte{0x30, 0x84, 0x7f, 0, 0, 0})), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge frame: err = %v, want ErrTooLarge", err)
	}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(good[:4])), 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut frame: err = %v, want io.ErrUnexpectedEOF", err)
	}
}

// FuzzDecodeResponse: whatever an upstream sends, DecodeResponse returns a
// response or an error wrapping ErrMalformed, and never panics.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(AppendBindResponse(nil, 1, Result{Code: 49, DiagnosticMessage: "x", Referral: []string{"ldap://a"}}, nil)[2:])
	f.Add(AppendSearchEntry(nil, 2, "cn=a", []Attribute{{Type: "cn", Values: []string{"a", "b"}}}, nil)[2:])
	f.Add(AppendExtendedResponse(nil, 3, Result{}, OIDWhoAmI, []byte("dn:x"), true, nil)[2:])
	f.Add(AppendSearchReference(nil, 4, []string{"ldap://b"}, nil)[2:])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if r.ID < 0 || r.ID > maxInt31 {
			t.Fatalf("message ID %d", r.ID)
		}
	})
}
