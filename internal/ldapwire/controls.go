package ldapwire

import (
	"fmt"
)

// PpolicyResponseControl builds the password policy response control
// (draft-behera-ldap-password-policy §6.2):
//
//	PasswordPolicyResponseValue ::= SEQUENCE {
//	    warning [0] CHOICE {
//	        timeBeforeExpiration [0] INTEGER (0 .. maxInt),
//	        graceAuthNsRemaining [1] INTEGER (0 .. maxInt) } OPTIONAL,
//	    error   [1] ENUMERATED { ... } OPTIONAL }
//
// encoded as OpenLDAP's slapd does (warning 0xa0 holding 0x80 or 0x81, error
// 0x81). Pass PpolicyNone for no error and a negative number for an absent
// warning; warning is a CHOICE, so when both are given timeBeforeExpiration
// wins. The control is not critical.
func PpolicyResponseControl(errCode int, timeBeforeExpiration, graceRemaining int) Control {
	v, s := open(nil, idSequence)
	switch {
	case timeBeforeExpiration >= 0:
		var w int
		v, w = open(v, classContext|constructed|0)
		v = appendInt(v, classContext|0, int64(timeBeforeExpiration))
		v = closeElem(v, w)
	case graceRemaining >= 0:
		var w int
		v, w = open(v, classContext|constructed|0)
		v = appendInt(v, classContext|1, int64(graceRemaining))
		v = closeElem(v, w)
	}
	if errCode >= 0 {
		v = appendInt(v, classContext|1, int64(errCode))
	}
	v = closeElem(v, s)
	return Control{OID: OIDPasswordPolicy, Value: v, HasValue: true}
}

// DecodePasswordModify decodes the value of a Password Modify extended
// request (RFC 3062 §2):
//
//	PasswdModifyRequestValue ::= SEQUENCE {
//	    userIdentity [0] OCTET STRING OPTIONAL,
//	    oldPasswd    [1] OCTET STRING OPTIONAL,
//	    newPasswd    [2] OCTET STRING OPTIONAL }
//
// An empty value (or an absent one) means all three are absent. The
// password slices alias value. Errors wrap ErrMalformed.
func DecodePasswordModify(value []byte) (PasswordModifyRequest, error) {
	var req PasswordModifyRequest
	if len(value) == 0 {
		return req, nil
	}
	t, rest, err := next(value)
	if err != nil {
		return req, fmt.Errorf("wire: password modify: %w", err)
	}
	if !t.is(classUniversal, true, tagSequence) || len(rest) != 0 {
		return req, fmt.Errorf("wire: password modify: %w: value is not one SEQUENCE", ErrMalformed)
	}
	last := -1
	for b := t.body; len(b) > 0; {
		f, r, err := next(b)
		if err != nil {
			return PasswordModifyRequest{}, fmt.Errorf("wire: password modify: %w", err)
		}
		b = r
		if f.class != classContext || f.constructed || f.tag <= last {
			return PasswordModifyRequest{}, fmt.Errorf("wire: password modify: %w: unexpected element %v", ErrMalformed, f)
		}
		last = f.tag
		switch f.tag {
		case 0:
			req.UserIdentity, req.HasUserIdentity = string(f.body), true
		case 1:
			req.OldPassword, req.HasOld = f.body, true
		case 2:
			req.NewPassword, req.HasNew = f.body, true
		default:
			// Unknown trailing fields are ignored (RFC 4511 §4 extensibility).
		}
	}
	return req, nil
}

// PasswordModifyResponseValue encodes the response value of RFC 3062
// (SEQUENCE { genPasswd [0] OCTET STRING OPTIONAL }). An empty genPasswd
// gives the empty SEQUENCE; a server that generated nothing may also send
// no value at all.
func PasswordModifyResponseValue(genPasswd string) []byte {
	v, s := open(nil, idSequence)
	if genPasswd != "" {
		v = appendString(v, classContext|0, genPasswd)
	}
	return closeElem(v, s)
}

// DecodePagedResults decodes the value of a paged results control (RFC 2696):
// SEQUENCE { size INTEGER (0..maxInt), cookie OCTET STRING }. Errors wrap
// ErrMalformed.
func DecodePagedResults(value []byte) (size int64, cookie []byte, err error) {
	t, rest, err := next(value)
	if err != nil {
		return 0, nil, fmt.Errorf("wire: paged results: %w", err)
	}
	if !t.is(classUniversal, true, tagSequence) || len(rest) != 0 {
		return 0, nil, fmt.Errorf("wire: paged results: %w: value is not one SEQUENCE", ErrMalformed)
	}
	size, b, err := expectInt(t.body, classUniversal, tagInteger, 0, maxInt31, "size")
	if err != nil {
		return 0, nil, fmt.Errorf("wire: paged results: %w", err)
	}
	cookie, _, err = expectPrimitive(b, classUniversal, tagOctetString, "cookie")
	if err != nil {
		return 0, nil, fmt.Errorf("wire: paged results: %w", err)
	}
	return size, cookie, nil
}

// PagedResultsControl builds the paged results response control: size is
// the server's estimate of the total (0 when unknown) and an empty cookie
// marks the last page.
func PagedResultsControl(size int64, cookie []byte) Control {
	v, s := open(nil, idSequence)
	v = appendInt(v, idInteger, size)
	v = appendBytes(v, idOctetString, cookie)
	v = closeElem(v, s)
	return Control{OID: OIDPagedResults, Value: v, HasValue: true}
}

// FindControl returns the first control with the given OID.
func FindControl(controls []Control, oid string) (Control, bool) {
	for _, c := range controls {
		if c.OID == oid {
			return c, true
		}
	}
	return Control{}, false
}
