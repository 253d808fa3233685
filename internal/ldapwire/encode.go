package ldapwire

// The encoders write BER directly into the caller's slice: no intermediate
// packets, and a whole response (entries and done) can go out in one write.
// Lengths are written in the minimal definite form (DER-style), which every
// LDAP client accepts.

// open starts a constructed (or primitive) element whose length is not known
// yet and returns the offset to pass to closeElem.
func open(dst []byte, id byte) ([]byte, int) {
	start := len(dst)
	return append(dst, id, 0), start
}

// closeElem fills in the length of the element opened at start, moving the
// contents when the length needs the long form.
func closeElem(dst []byte, start int) []byte {
	n := len(dst) - start - 2
	if n < 0x80 {
		dst[start+1] = byte(n)
		return dst
	}
	k := lengthOctets(n)
	for i := 0; i < k; i++ {
		dst = append(dst, 0)
	}
	copy(dst[start+2+k:], dst[start+2:start+2+n])
	dst[start+1] = 0x80 | byte(k)
	for i := k; i > 0; i-- {
		dst[start+1+i] = byte(n)
		n >>= 8
	}
	return dst
}

// lengthOctets is the number of octets of the long form of n (n >= 0x80).
func lengthOctets(n int) int {
	k := 0
	for ; n > 0; n >>= 8 {
		k++
	}
	return k
}

// appendLength appends a definite length.
func appendLength(dst []byte, n int) []byte {
	if n < 0x80 {
		return append(dst, byte(n))
	}
	k := lengthOctets(n)
	dst = append(dst, 0x80|byte(k))
	for i := k - 1; i >= 0; i-- {
		dst = append(dst, byte(n>>(8*i)))
	}
	return dst
}

// appendBytes appends a primitive element with the given identifier.
func appendBytes(dst []byte, id byte, v []byte) []byte {
	dst = append(dst, id)
	dst = appendLength(dst, len(v))
	return append(dst, v...)
}

// appendString appends a primitive element holding s.
func appendString(dst []byte, id byte, s string) []byte {
	dst = append(dst, id)
	dst = appendLength(dst, len(s))
	return append(dst, s...)
}

// appendInt appends an INTEGER or ENUMERATED in minimal two's complement.
func appendInt(dst []byte, id byte, v int64) []byte {
	n := 1
	for x := v; x > 127 || x < -128; x >>= 8 {
		n++
	}
	dst = append(dst, id, byte(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// appendBool appends a BOOLEAN as RFC 4511 §5.1 wants it (TRUE is 0xff).
func appendBool(dst []byte, id byte, v bool) []byte {
	if v {
		return append(dst, id, 1, 0xff)
	}
	return append(dst, id, 1, 0)
}

const (
	idSequence    = classUniversal | constructed | tagSequence
	idSet         = classUniversal | constructed | tagSet
	idOctetString = classUniversal | tagOctetString
	idInteger     = classUniversal | tagInteger
	idEnumerated  = classUniversal | tagEnumerated
	idBoolean     = classUniversal | tagBoolean
)

// appApp is the identifier of a constructed application element.
func appApp(tag int) byte { return classApplication | constructed | byte(tag) }

// beginMessage opens the LDAPMessage SEQUENCE and writes the message ID.
func beginMessage(dst []byte, id int64) ([]byte, int) {
	dst, start := open(dst, idSequence)
	return appendInt(dst, idInteger, id), start
}

// endMessage appends the controls, if any, and closes the LDAPMessage.
func endMessage(dst []byte, start int, controls []Control) []byte {
	if len(controls) > 0 {
		var cs int
		dst, cs = open(dst, classContext|constructed|0)
		for _, c := range controls {
			dst = appendControl(dst, c)
		}
		dst = closeElem(dst, cs)
	}
	return closeElem(dst, start)
}

// appendControl appends one Control SEQUENCE; criticality is written only
// when true (it defaults to FALSE).
func appendControl(dst []byte, c Control) []byte {
	dst, s := open(dst, idSequence)
	dst = appendString(dst, idOctetString, c.OID)
	if c.Critical {
		dst = appendBool(dst, idBoolean, true)
	}
	if c.HasValue || c.Value != nil {
		dst = appendBytes(dst, idOctetString, c.Value)
	}
	return closeElem(dst, s)
}

// appendLDAPResult appends the LDAPResult components (without a wrapper).
func appendLDAPResult(dst []byte, r Result) []byte {
	dst = appendInt(dst, idEnumerated, int64(r.Code))
	dst = appendString(dst, idOctetString, r.MatchedDN)
	dst = appendString(dst, idOctetString, r.DiagnosticMessage)
	if len(r.Referral) > 0 {
		var s int
		dst, s = open(dst, classContext|constructed|3)
		for _, u := range r.Referral {
			dst = appendString(dst, idOctetString, u)
		}
		dst = closeElem(dst, s)
	}
	return dst
}

// AppendResult appends an LDAPMessage whose protocolOp is a plain LDAPResult
// under the application tag tag: TagBindResponse, TagSearchResultDone,
// TagModifyResponse, TagAddResponse, TagDelResponse, TagModifyDNResponse,
// TagCompareResponse or TagExtendedResponse (the last two without their
// optional parts).
func AppendResult(dst []byte, id int64, tag int, r Result, controls []Control) []byte {
	dst, m := beginMessage(dst, id)
	dst, op := open(dst, appApp(tag))
	dst = appendLDAPResult(dst, r)
	dst = closeElem(dst, op)
	return endMessage(dst, m, controls)
}

// AppendBindResponse appends a BindResponse (RFC 4511 §4.2.2) without
// serverSaslCreds.
func AppendBindResponse(dst []byte, id int64, r Result, controls []Control) []byte {
	return AppendResult(dst, id, TagBindResponse, r, controls)
}

// AppendSearchDone appends a SearchResultDone.
func AppendSearchDone(dst []byte, id int64, r Result, controls []Control) []byte {
	return AppendResult(dst, id, TagSearchResultDone, r, controls)
}

// AppendCompareResponse appends a CompareResponse; r.Code is normally
// compareTrue (6) or compareFalse (5).
func AppendCompareResponse(dst []byte, id int64, r Result, controls []Control) []byte {
	return AppendResult(dst, id, TagCompareResponse, r, controls)
}

// AppendSearchEntry appends a SearchResultEntry (RFC 4511 §4.5.2): the DN and
// each attribute as a SEQUENCE of its type and the SET of its values. An
// attribute with no values gets an empty SET, which is what a typesOnly
// search returns (see AppendSearchEntryTypesOnly).
func AppendSearchEntry(dst []byte, id int64, dn string, attrs []Attribute, controls []Control) []byte {
	return appendSearchEntry(dst, id, dn, attrs, false, controls)
}

// AppendSearchEntryTypesOnly is AppendSearchEntry for a search with
// typesOnly set: the attribute types with empty value sets.
func AppendSearchEntryTypesOnly(dst []byte, id int64, dn string, attrs []Attribute, controls []Control) []byte {
	return appendSearchEntry(dst, id, dn, attrs, true, controls)
}

func appendSearchEntry(dst []byte, id int64, dn string, attrs []Attribute, typesOnly bool, controls []Control) []byte {
	dst, m := beginMessage(dst, id)
	dst, op := open(dst, appApp(TagSearchResultEntry))
	dst = appendString(dst, idOctetString, dn)
	dst, list := open(dst, idSequence)
	for _, a := range attrs {
		var pa, set int
		dst, pa = open(dst, idSequence)
		dst = appendString(dst, idOctetString, a.Type)
		dst, set = open(dst, idSet)
		if !typesOnly {
			for _, v := range a.Values {
				dst = appendString(dst, idOctetString, v)
			}
		}
		dst = closeElem(dst, set)
		dst = closeElem(dst, pa)
	}
	dst = closeElem(dst, list)
	dst = closeElem(dst, op)
	return endMessage(dst, m, controls)
}

// AppendSearchReference appends a SearchResultReference with the given
// LDAP URIs.
func AppendSearchReference(dst []byte, id int64, uris []string, controls []Control) []byte {
	dst, m := beginMessage(dst, id)
	dst, op := open(dst, appApp(TagSearchResultReference))
	for _, u := range uris {
		dst = appendString(dst, idOctetString, u)
	}
	dst = closeElem(dst, op)
	return endMessage(dst, m, controls)
}

// AppendExtendedResponse appends an ExtendedResponse (RFC 4511 §4.12) with
// responseName [10] when name is not empty and responseValue [11] when
// hasValue is true.
func AppendExtendedResponse(dst []byte, id int64, r Result, name string, value []byte, hasValue bool, controls []Control) []byte {
	dst, m := beginMessage(dst, id)
	dst, op := open(dst, appApp(TagExtendedResponse))
	dst = appendLDAPResult(dst, r)
	if name != "" {
		dst = appendString(dst, classContext|10, name)
	}
	if hasValue {
		dst = appendBytes(dst, classContext|11, value)
	}
	dst = closeElem(dst, op)
	return endMessage(dst, m, controls)
}

// AppendNoticeOfDisconnection appends the unsolicited Notice of
// Disconnection (RFC 4511 §4.4.1): message ID 0, an ExtendedResponse named
// 1.3.6.1.4.1.1466.20036 with the given result code (protocolError 2,
// strongerAuthRequired 8, unavailable 52) and diagnostic message.
func AppendNoticeOfDisconnection(dst []byte, code int, diag string) []byte {
	return AppendExtendedResponse(dst, 0, Result{Code: code, DiagnosticMessage: diag}, OIDNoticeOfDisconn, nil, false, nil)
}
