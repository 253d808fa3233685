package ldapwire

import (
	"fmt"
	"unsafe"
)

// Decode decodes one complete LDAPMessage: the outer SEQUENCE with its
// identifier and length, and nothing after it. Errors wrap ErrMalformed.
// Decode never panics; a panic inside it would be a bug and is returned as
// ErrMalformed.
func Decode(b []byte) (*Message, error) {
	t, rest, err := next(b)
	if err != nil {
		return nil, fmt.Errorf("wire: decode: %w", err)
	}
	if !t.is(classUniversal, true, tagSequence) {
		return nil, fmt.Errorf("wire: decode: %w: not a SEQUENCE: %v", ErrMalformed, t)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("wire: decode: %w: %d bytes after the message", ErrMalformed, len(rest))
	}
	m, err := decodeBody(t.body, false, nil)
	if err != nil {
		return nil, fmt.Errorf("wire: decode: %w", err)
	}
	return m, nil
}

// bindMessage is a Message and its BindRequest in one allocation: a bind
// is the request bindery answers most.
type bindMessage struct {
	msg Message
	req BindRequest
}

// decodeBody decodes the contents of the LDAPMessage SEQUENCE. owned: b
// is the message's own buffer (ReadMessage's, fresh for each message and
// never written again), so a bind's name may share it instead of being
// copied; Decode's caller may reuse its bytes, so there it is copied. A
// bind is decoded into bm when it is not nil (readSmallBind's).
func decodeBody(b []byte, owned bool, bm *bindMessage) (m *Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: internal decoder panic: %v", ErrMalformed, r)
		}
	}()
	id, b, err := expectInt(b, classUniversal, tagInteger, 0, maxInt31, "messageID")
	if err != nil {
		return nil, err
	}
	op, b, err := next(b)
	if err != nil {
		return nil, fmt.Errorf("protocolOp: %w", err)
	}
	if op.class != classApplication {
		return nil, fmt.Errorf("%w: protocolOp is not an application element: %v", ErrMalformed, op)
	}
	if op.tag == TagBindRequest {
		if bm == nil {
			bm = new(bindMessage)
		}
		if err := decodeBind(op, &bm.req, owned); err != nil {
			return nil, err
		}
		m = &bm.msg
		m.ID, m.Op = id, &bm.req
	} else {
		m = &Message{ID: id}
		if m.Op, err = decodeOp(op); err != nil {
			return nil, err
		}
	}
	// controls [0] Controls OPTIONAL; later elements with unknown tags are
	// ignored as RFC 4511 §4 requires.
	if t, ok, err := peek(b); err != nil {
		return nil, fmt.Errorf("controls: %w", err)
	} else if ok && t.is(classContext, true, 0) {
		if m.Controls, err = decodeControls(t.body); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// decodeOp dispatches on the application tag of the protocolOp (a
// BindRequest is decoded by decodeBody).
func decodeOp(op tlv) (any, error) {
	switch op.tag {
	case TagUnbindRequest:
		if op.constructed {
			return nil, fmt.Errorf("%w: unbindRequest must be primitive", ErrMalformed)
		}
		return &UnbindRequest{}, nil
	case TagSearchRequest:
		return decodeSearch(op)
	case TagCompareRequest:
		return decodeCompare(op)
	case TagAbandonRequest:
		if op.constructed {
			return nil, fmt.Errorf("%w: abandonRequest must be primitive", ErrMalformed)
		}
		id, err := parseInt(op.body)
		if err != nil {
			return nil, fmt.Errorf("abandonRequest: %w", err)
		}
		if id < 0 || id > maxInt31 {
			return nil, fmt.Errorf("%w: abandonRequest: message ID %d out of range", ErrMalformed, id)
		}
		return &AbandonRequest{MessageID: id}, nil
	case TagExtendedRequest:
		return decodeExtended(op)
	case TagModifyRequest, TagAddRequest, TagModifyDNRequest:
		// Each starts with the DN it names: object, entry, entry.
		if !op.constructed {
			return nil, fmt.Errorf("%w: request %d must be constructed", ErrMalformed, op.tag)
		}
		dn, _, err := expectPrimitive(op.body, classUniversal, tagOctetString, "entry")
		if err != nil {
			return nil, err
		}
		return &UnsupportedRequest{Tag: op.tag, ResponseTag: op.tag + 1, DN: string(dn)}, nil
	case TagDelRequest:
		if op.constructed {
			return nil, fmt.Errorf("%w: delRequest must be primitive", ErrMalformed)
		}
		return &UnsupportedRequest{Tag: op.tag, ResponseTag: TagDelResponse, DN: string(op.body)}, nil
	default:
		return &UnsupportedRequest{Tag: op.tag, ResponseTag: -1}, nil
	}
}

// decodeBind decodes a BindRequest (RFC 4511 §4.2) into req. owned: op's
// bytes are never written again, and req.Name is a string over them.
func decodeBind(op tlv, req *BindRequest, owned bool) error {
	if !op.constructed {
		return fmt.Errorf("%w: bindRequest must be constructed", ErrMalformed)
	}
	b := op.body
	version, b, err := expectInt(b, classUniversal, tagInteger, 1, 127, "bindRequest version")
	if err != nil {
		return err
	}
	name, b, err := expectPrimitive(b, classUniversal, tagOctetString, "bindRequest name")
	if err != nil {
		return err
	}
	auth, _, err := next(b)
	if err != nil {
		return fmt.Errorf("bindRequest authentication: %w", err)
	}
	if auth.class != classContext {
		return fmt.Errorf("%w: bindRequest authentication: %v", ErrMalformed, auth)
	}
	*req = BindRequest{Version: version, Name: sharedString(name, owned), AuthMethod: auth.tag}
	switch {
	case auth.tag == AuthSimple:
		if auth.constructed {
			return fmt.Errorf("%w: simple password must be primitive", ErrMalformed)
		}
		req.Simple = true
		req.Password = auth.body
	case auth.tag == AuthSASL:
		if !auth.constructed {
			return fmt.Errorf("%w: SaslCredentials must be constructed", ErrMalformed)
		}
		mech, rest, err := expectPrimitive(auth.body, classUniversal, tagOctetString, "sasl mechanism")
		if err != nil {
			return err
		}
		req.SASLMechanism = string(mech)
		if t, ok, err := peek(rest); err != nil {
			return fmt.Errorf("sasl credentials: %w", err)
		} else if ok && t.is(classUniversal, false, tagOctetString) {
			req.SASLCreds = t.body
		}
	default:
		// Another method ([1], [2] Kerberos v4 of RFC 1777, Sicily of
		// Active Directory): well formed; the proxy answers
		// authMethodNotSupported.
	}
	return nil
}

// decodeSearch decodes a SearchRequest (RFC 4511 §4.5.1). Scope and
// derefAliases are passed through as sent, even when out of range: the
// proxy answers protocolError to that one request, as slapd does, rather
// than dropping the connection.
func decodeSearch(op tlv) (*SearchRequest, error) {
	if !op.constructed {
		return nil, fmt.Errorf("%w: searchRequest must be constructed", ErrMalformed)
	}
	b := op.body
	req := &SearchRequest{}
	base, b, err := expectPrimitive(b, classUniversal, tagOctetString, "search baseObject")
	if err != nil {
		return nil, err
	}
	req.BaseDN = string(base)
	if req.Scope, b, err = expectInt(b, classUniversal, tagEnumerated, -maxInt31-1, maxInt31, "search scope"); err != nil {
		return nil, err
	}
	if req.DerefAliases, b, err = expectInt(b, classUniversal, tagEnumerated, -maxInt31-1, maxInt31, "search derefAliases"); err != nil {
		return nil, err
	}
	if req.SizeLimit, b, err = expectInt(b, classUniversal, tagInteger, 0, maxInt31, "search sizeLimit"); err != nil {
		return nil, err
	}
	if req.TimeLimit, b, err = expectInt(b, classUniversal, tagInteger, 0, maxInt31, "search timeLimit"); err != nil {
		return nil, err
	}
	typesOnly, b, err := expectPrimitive(b, classUniversal, tagBoolean, "search typesOnly")
	if err != nil {
		return nil, err
	}
	if req.TypesOnly, err = parseBool(typesOnly); err != nil {
		return nil, fmt.Errorf("search typesOnly: %w", err)
	}
	f, b, err := next(b)
	if err != nil {
		return nil, fmt.Errorf("search filter: %w", err)
	}
	if req.Filter, req.FilterString, err = decodeFilter(f); err != nil {
		return nil, err
	}
	attrs, _, err := expectConstructed(b, classUniversal, tagSequence, "search attributes")
	if err != nil {
		return nil, err
	}
	for len(attrs) > 0 {
		var a []byte
		if a, attrs, err = expectPrimitive(attrs, classUniversal, tagOctetString, "search attribute"); err != nil {
			return nil, err
		}
		req.Attributes = append(req.Attributes, string(a))
	}
	return req, nil
}

// decodeCompare decodes a CompareRequest (RFC 4511 §4.10).
func decodeCompare(op tlv) (*CompareRequest, error) {
	if !op.constructed {
		return nil, fmt.Errorf("%w: compareRequest must be constructed", ErrMalformed)
	}
	dn, b, err := expectPrimitive(op.body, classUniversal, tagOctetString, "compare entry")
	if err != nil {
		return nil, err
	}
	ava, _, err := expectConstructed(b, classUniversal, tagSequence, "compare ava")
	if err != nil {
		return nil, err
	}
	attr, ava, err := expectPrimitive(ava, classUniversal, tagOctetString, "compare attributeDesc")
	if err != nil {
		return nil, err
	}
	val, _, err := expectPrimitive(ava, classUniversal, tagOctetString, "compare assertionValue")
	if err != nil {
		return nil, err
	}
	return &CompareRequest{DN: string(dn), Attr: string(attr), Value: val}, nil
}

// decodeExtended decodes an ExtendedRequest (RFC 4511 §4.12).
func decodeExtended(op tlv) (*ExtendedRequest, error) {
	if !op.constructed {
		return nil, fmt.Errorf("%w: extendedRequest must be constructed", ErrMalformed)
	}
	name, b, err := expectPrimitive(op.body, classContext, 0, "extended requestName")
	if err != nil {
		return nil, err
	}
	req := &ExtendedRequest{OID: string(name)}
	if t, ok, err := peek(b); err != nil {
		return nil, fmt.Errorf("extended requestValue: %w", err)
	} else if ok && t.is(classContext, false, 1) {
		req.Value, req.HasValue = t.body, true
	}
	return req, nil
}

// decodeControls decodes the body of Controls (RFC 4511 §4.1.11).
func decodeControls(b []byte) ([]Control, error) {
	var out []Control
	for len(b) > 0 {
		body, rest, err := expectConstructed(b, classUniversal, tagSequence, "control")
		if err != nil {
			return nil, err
		}
		b = rest
		oid, body, err := expectPrimitive(body, classUniversal, tagOctetString, "controlType")
		if err != nil {
			return nil, err
		}
		c := Control{OID: string(oid)}
		if t, ok, err := peek(body); err != nil {
			return nil, fmt.Errorf("control: %w", err)
		} else if ok && t.is(classUniversal, false, tagBoolean) {
			if c.Critical, err = parseBool(t.body); err != nil {
				return nil, fmt.Errorf("control criticality: %w", err)
			}
			_, body, _ = next(body)
		}
		if t, ok, err := peek(body); err != nil {
			return nil, fmt.Errorf("control: %w", err)
		} else if ok && t.is(classUniversal, false, tagOctetString) {
			c.Value, c.HasValue = t.body, true
		}
		out = append(out, c)
	}
	return out, nil
}

// sharedString returns b as a string: one over b's own bytes when owned
// (nothing writes them again), a copy otherwise.
func sharedString(b []byte, owned bool) string {
	if !owned {
		return string(b)
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
