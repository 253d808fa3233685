package ldapwire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// The client half: the requests an LDAP client sends and the responses it
// reads. bindery's ldap backend speaks to the campus directory with them,
// synchronously, one request at a time per connection.

// Response is one LDAPMessage sent by a server.
type Response struct {
	ID  int64
	Tag int // TagBindResponse, TagSearchResultEntry, ...
	// Result is set for the LDAPResult-shaped responses (bind, search
	// done, extended, ...).
	Result Result
	// DN and Attributes are set for TagSearchResultEntry.
	DN         string
	Attributes []RawAttribute
	// URIs is set for TagSearchResultReference.
	URIs []string
	// Name and Value are the optional parts of an extended or
	// intermediate response.
	Name     string
	Value    []byte
	Controls []Control
}

// RawAttribute is an attribute of a search result entry with its values
// as sent (binary values such as objectGUID stay intact).
type RawAttribute struct {
	Type   string
	Values [][]byte
}

// ReadFrame reads one whole LDAPMessage from r and returns its contents (the
// body of the outer SEQUENCE), with ReadMessage's size limit and errors.
func ReadFrame(r *bufio.Reader, maxBytes int) ([]byte, error) {
	n, err := readHeader(r, maxBytes)
	if err != nil {
		return nil, err
	}
	body, err := readBody(r, n)
	if err != nil {
		return nil, fmt.Errorf("wire: read message: %w", err)
	}
	return body, nil
}

// readHeader reads the tag and length of an LDAPMessage and returns the
// length, at most maxBytes.
func readHeader(r *bufio.Reader, maxBytes int) (int, error) {
	tag, err := r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("wire: read message: %w", err)
	}
	if tag != classUniversal|constructed|tagSequence {
		return 0, fmt.Errorf("wire: read message: %w: first octet %#02x is not a SEQUENCE", ErrMalformed, tag)
	}
	n, err := readLength(r)
	if err != nil {
		return 0, fmt.Errorf("wire: read message: %w", err)
	}
	if n > int64(maxBytes) {
		return 0, fmt.Errorf("wire: read message: %w: %d bytes announced, limit %d", ErrTooLarge, n, maxBytes)
	}
	return int(n), nil
}

// DecodeResponse decodes the contents of a server's LDAPMessage (as
// returned by ReadFrame). Errors wrap ErrMalformed; it never panics.
// Byte slices in the result alias body.
func DecodeResponse(body []byte) (resp *Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, fmt.Errorf("wire: decode response: %w: internal decoder panic: %v", ErrMalformed, r)
		}
	}()
	resp, err = decodeResponse(body)
	if err != nil {
		return nil, fmt.Errorf("wire: decode response: %w", err)
	}
	return resp, nil
}

func decodeResponse(b []byte) (*Response, error) {
	id, b, err := expectInt(b, classUniversal, tagInteger, 0, maxInt31, "messageID")
	if err != nil {
		return nil, err
	}
	op, b, err := next(b)
	if err != nil {
		return nil, fmt.Errorf("protocolOp: %w", err)
	}
	if op.class != classApplication || !op.constructed {
		return nil, fmt.Errorf("%w: protocolOp is not a constructed application element: %v", ErrMalformed, op)
	}
	r := &Response{ID: id, Tag: op.tag}
	switch op.tag {
	case TagSearchResultEntry:
		err = r.decodeEntry(op.body)
	case TagSearchResultReference:
		for rest := op.body; len(rest) > 0; {
			var uri []byte
			if uri, rest, err = expectPrimitive(rest, classUniversal, tagOctetString, "reference"); err != nil {
				return nil, err
			}
			r.URIs = append(r.URIs, string(uri))
		}
	case TagIntermediateResponse:
		err = r.decodeNameValue(op.body, 0, 1)
	case TagBindResponse, TagSearchResultDone, TagModifyResponse, TagAddResponse, TagDelResponse,
		TagModifyDNResponse, TagCompareResponse, TagExtendedResponse:
		var rest []byte
		if r.Result, rest, err = decodeLDAPResult(op.body); err != nil {
			return nil, err
		}
		if op.tag == TagExtendedResponse {
			err = r.decodeNameValue(rest, 10, 11)
		}
	default:
		return nil, fmt.Errorf("%w: unexpected response tag %d", ErrMalformed, op.tag)
	}
	if err != nil {
		return nil, err
	}
	if t, ok, err := peek(b); err != nil {
		return nil, fmt.Errorf("controls: %w", err)
	} else if ok && t.is(classContext, true, 0) {
		if r.Controls, err = decodeControls(t.body); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// decodeLDAPResult decodes resultCode, matchedDN, diagnosticMessage and the
// optional referral, returning what follows them.
func decodeLDAPResult(b []byte) (Result, []byte, error) {
	code, b, err := expectInt(b, classUniversal, tagEnumerated, 0, maxInt31, "resultCode")
	if err != nil {
		return Result{}, nil, err
	}
	matched, b, err := expectPrimitive(b, classUniversal, tagOctetString, "matchedDN")
	if err != nil {
		return Result{}, nil, err
	}
	diag, b, err := expectPrimitive(b, classUniversal, tagOctetString, "diagnosticMessage")
	if err != nil {
		return Result{}, nil, err
	}
	r := Result{Code: int(code), MatchedDN: string(matched), DiagnosticMessage: string(diag)}
	if t, ok, err := peek(b); err != nil {
		return Result{}, nil, err
	} else if ok && t.is(classContext, true, 3) {
		_, b, _ = next(b)
		for rest := t.body; len(rest) > 0; {
			var uri []byte
			if uri, rest, err = expectPrimitive(rest, classUniversal, tagOctetString, "referral"); err != nil {
				return Result{}, nil, err
			}
			r.Referral = append(r.Referral, string(uri))
		}
	}
	return r, b, nil
}

// decodeNameValue reads the optional [nameTag] name and [valueTag] value
// of an extended or intermediate response.
func (r *Response) decodeNameValue(b []byte, nameTag, valueTag int) error {
	for len(b) > 0 {
		t, rest, err := next(b)
		if err != nil {
			return err
		}
		b = rest
		switch {
		case t.is(classContext, false, nameTag):
			r.Name = string(t.body)
		case t.is(classContext, false, valueTag):
			r.Value = t.body
		}
	}
	return nil
}

// decodeEntry decodes a SearchResultEntry: objectName and a SEQUENCE OF
// PartialAttribute { type, SET OF value }.
func (r *Response) decodeEntry(b []byte) error {
	dn, b, err := expectPrimitive(b, classUniversal, tagOctetString, "objectName")
	if err != nil {
		return err
	}
	r.DN = string(dn)
	list, _, err := expectConstructed(b, classUniversal, tagSequence, "attributes")
	if err != nil {
		return err
	}
	for len(list) > 0 {
		var pa []byte
		if pa, list, err = expectConstructed(list, classUniversal, tagSequence, "attribute"); err != nil {
			return err
		}
		typ, rest, err := expectPrimitive(pa, classUniversal, tagOctetString, "type")
		if err != nil {
			return err
		}
		set, _, err := expectConstructed(rest, classUniversal, tagSet, "vals")
		if err != nil {
			return err
		}
		a := RawAttribute{Type: string(typ)}
		for len(set) > 0 {
			var v []byte
			if v, set, err = expectPrimitive(set, classUniversal, tagOctetString, "value"); err != nil {
				return err
			}
			a.Values = append(a.Values, v)
		}
		r.Attributes = append(r.Attributes, a)
	}
	return nil
}

// AppendBindRequest appends a simple BindRequest (version 3). An empty
// name and password is an anonymous bind.
func AppendBindRequest(dst []byte, id int64, name, password string, controls []Control) []byte {
	dst, m := beginMessage(dst, id)
	dst, op := open(dst, appApp(TagBindRequest))
	dst = appendInt(dst, idInteger, 3)
	dst = appendString(dst, idOctetString, name)
	dst = appendString(dst, classContext|AuthSimple, password)
	dst = closeElem(dst, op)
	return endMessage(dst, m, controls)
}

// ClientSearch is a SearchRequest to send. Filter is the filter already
// encoded in BER (for example ber.Packet.Bytes() of ldap.CompileFilter).
type ClientSearch struct {
	BaseDN       string
	Scope        int64
	DerefAliases int64
	SizeLimit    int64
	TimeLimit    int64
	TypesOnly    bool
	Filter       []byte
	Attributes   []string
}

// AppendSearchRequest appends a SearchRequest.
func AppendSearchRequest(dst []byte, id int64, s ClientSearch, controls []Control) []byte {
	dst, m := beginMessage(dst, id)
	dst, op := open(dst, appApp(TagSearchRequest))
	dst = appendString(dst, idOctetString, s.BaseDN)
	dst = appendInt(dst, idEnumerated, s.Scope)
	dst = appendInt(dst, idEnumerated, s.DerefAliases)
	dst = appendInt(dst, idInteger, s.SizeLimit)
	dst = appendInt(dst, idInteger, s.TimeLimit)
	dst = appendBool(dst, idBoolean, s.TypesOnly)
	dst = append(dst, s.Filter...)
	var as int
	dst, as = open(dst, idSequence)
	for _, a := range s.Attributes {
		dst = appendString(dst, idOctetString, a)
	}
	dst = closeElem(dst, as)
	dst = closeElem(dst, op)
	return endMessage(dst, m, controls)
}

// AppendExtendedRequest appends an ExtendedRequest; value is sent when
// hasValue is true.
func AppendExtendedRequest(dst []byte, id int64, oid string, value []byte, hasValue bool, controls []Control) []byte {
	dst, m := beginMessage(dst, id)
	dst, op := open(dst, appApp(TagExtendedRequest))
	dst = appendString(dst, classContext|0, oid)
	if hasValue {
		dst = appendBytes(dst, classContext|1, value)
	}
	dst = closeElem(dst, op)
	return endMessage(dst, m, controls)
}

// AppendUnbindRequest appends an UnbindRequest.
func AppendUnbindRequest(dst []byte, id int64) []byte {
	dst, m := beginMessage(dst, id)
	dst = append(dst, classApplication|TagUnbindRequest, 0)
	return closeElem(dst, m)
}
