// Package ldapwire decodes LDAPv3 requests (RFC 4511) from the network and
// encodes responses, on top of go-asn1-ber. It knows the protocol's shapes
// and nothing of bindery's policy: the proxy decides what to answer.
package ldapwire

import (
	"errors"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// Application tags of LDAP protocol operations (RFC 4511 §4.2 ff.).
const (
	TagBindRequest           = 0
	TagBindResponse          = 1
	TagUnbindRequest         = 2
	TagSearchRequest         = 3
	TagSearchResultEntry     = 4
	TagSearchResultDone      = 5
	TagModifyRequest         = 6
	TagModifyResponse        = 7
	TagAddRequest            = 8
	TagAddResponse           = 9
	TagDelRequest            = 10
	TagDelResponse           = 11
	TagModifyDNRequest       = 12
	TagModifyDNResponse      = 13
	TagCompareRequest        = 14
	TagCompareResponse       = 15
	TagAbandonRequest        = 16
	TagSearchResultReference = 19
	TagExtendedRequest       = 23
	TagExtendedResponse      = 24
	TagIntermediateResponse  = 25
)

// Well-known OIDs.
const (
	OIDStartTLS        = "1.3.6.1.4.1.1466.20037"
	OIDWhoAmI          = "1.3.6.1.4.1.4203.1.11.3"
	OIDPasswordModify  = "1.3.6.1.4.1.4203.1.11.1"
	OIDNoticeOfDisconn = "1.3.6.1.4.1.1466.20036"
	OIDPasswordPolicy  = "1.3.6.1.4.1.42.2.27.8.5.1"
	OIDPagedResults    = "1.2.840.113556.1.4.319"
	OIDManageDsaIT     = "2.16.840.1.113730.3.4.2"
)

// Errors returned by the reader. Any error from ReadMessage other than
// io.EOF means the stream can no longer be trusted: the proxy answers with a
// Notice of Disconnection where it can and closes.
var (
	// ErrTooLarge: the message's announced length exceeds the limit. The body
	// is not read.
	ErrTooLarge = errors.New("ldap message exceeds the size limit")
	// ErrMalformed: the bytes are not a valid LDAPMessage.
	ErrMalformed = errors.New("malformed ldap message")
)

// Message is one decoded LDAPMessage.
type Message struct {
	ID       int64 // 0..2^31-1
	Op       any   // one of the *Request types below
	Controls []Control
}

// Control is a request or response control.
type Control struct {
	OID      string
	Critical bool
	Value    []byte // nil when absent
	HasValue bool
}

// BindRequest (RFC 4511 §4.2).
type BindRequest struct {
	Version       int64 // 1..127 as sent; the proxy answers protocolError to anything but 3
	Name          string
	Simple        bool   // simple authentication; otherwise see AuthMethod
	Password      []byte // simple password (may be empty)
	SASLMechanism string
	SASLCreds     []byte // nil when absent
	// AuthMethod is the context tag of the authentication choice: AuthSimple,
	// AuthSASL, or another value (RFC 1777's Kerberos [1]/[2], AD's Sicily
	// [9]/[10]...) that the proxy answers with authMethodNotSupported.
	AuthMethod int
}

// Authentication choices of a BindRequest.
const (
	AuthSimple = 0
	AuthSASL   = 3
)

// UnbindRequest (§4.3).
type UnbindRequest struct{}

// Scopes of a search.
const (
	ScopeBase     = 0
	ScopeOne      = 1
	ScopeSub      = 2
	ScopeChildren = 3 // draft-sermersheim-ldap-subordinate-scope, seen in the wild
)

// SearchRequest (§4.5.1).
type SearchRequest struct {
	BaseDN       string
	Scope        int64
	DerefAliases int64
	SizeLimit    int64
	TimeLimit    int64
	TypesOnly    bool
	Filter       *ber.Packet // the filter as decoded; see FilterString
	FilterString string      // RFC 4515 string form via ldap.DecompileFilter
	Attributes   []string
}

// CompareRequest (§4.10).
type CompareRequest struct {
	DN    string
	Attr  string
	Value []byte
}

// AbandonRequest (§4.11).
type AbandonRequest struct {
	MessageID int64
}

// ExtendedRequest (§4.12).
type ExtendedRequest struct {
	OID      string
	Value    []byte
	HasValue bool
}

// UnsupportedRequest is a well-formed message whose operation bindery does
// not implement (Modify, Add, Delete, ModifyDN, or an unknown application
// tag). ResponseTag is the tag to answer with, or -1 when the operation has
// no response (unknown tags get an ExtendedResponse-less protocolError
// answered with the Notice of Disconnection rules of the proxy).
type UnsupportedRequest struct {
	Tag         int
	ResponseTag int
	DN          string // the entry the request names, when it names one
}

// PasswordModifyRequest is the value of an RFC 3062 extended request.
type PasswordModifyRequest struct {
	UserIdentity    string
	HasUserIdentity bool
	OldPassword     []byte
	HasOld          bool
	NewPassword     []byte
	HasNew          bool
}

// PpolicyError values of the password policy response control
// (draft-behera-ldap-password-policy).
const (
	PpolicyPasswordExpired             = 0
	PpolicyAccountLocked               = 1
	PpolicyChangeAfterReset            = 2
	PpolicyPasswordModNotAllowed       = 3
	PpolicyMustSupplyOldPassword       = 4
	PpolicyInsufficientPasswordQuality = 5
	PpolicyPasswordTooShort            = 6
	PpolicyPasswordTooYoung            = 7
	PpolicyPasswordInHistory           = 8
	PpolicyNone                        = -1
)

// Attribute is one attribute of a search result entry.
type Attribute struct {
	Type   string
	Values []string
}

// Result is the LDAPResult part of a response.
type Result struct {
	Code              int
	MatchedDN         string
	DiagnosticMessage string
	Referral          []string
}

// The functions below are implemented in the package's other files:
//
//	// ReadMessage reads exactly one LDAPMessage from r. It reads the tag and
//	// length first and returns ErrTooLarge without reading the body when the
//	// length exceeds maxBytes; it never allocates more than maxBytes for one
//	// message. io.EOF only when the stream ends cleanly between messages.
//	func ReadMessage(r *bufio.Reader, maxBytes int) (*Message, error)
//	// Decode decodes one complete LDAPMessage.
//	func Decode(b []byte) (*Message, error)
//	// DecodePasswordModify decodes the value of a Password Modify request.
//	func DecodePasswordModify(value []byte) (PasswordModifyRequest, error)
//
//	// Encoders append one complete LDAPMessage to dst and return it, so that
//	// a response (entries + done) can be written with one syscall.
//	func AppendResult(dst []byte, id int64, tag int, r Result, controls []Control) []byte
//	func AppendBindResponse(dst []byte, id int64, r Result, controls []Control) []byte
//	func AppendSearchDone(dst []byte, id int64, r Result, controls []Control) []byte
//	func AppendCompareResponse(dst []byte, id int64, r Result, controls []Control) []byte
//	func AppendSearchEntry(dst []byte, id int64, dn string, attrs []Attribute, controls []Control) []byte
//	func AppendSearchEntryTypesOnly(dst []byte, id int64, dn string, attrs []Attribute, controls []Control) []byte
//	func AppendSearchReference(dst []byte, id int64, uris []string, controls []Control) []byte
//	func AppendExtendedResponse(dst []byte, id int64, r Result, name string, value []byte, hasValue bool, controls []Control) []byte
//	func AppendNoticeOfDisconnection(dst []byte, code int, diag string) []byte
//	// Controls and values.
//	func PpolicyResponseControl(errCode int, timeBeforeExpiration, graceRemaining int) Control
//	func PasswordModifyResponseValue(genPasswd string) []byte
//	func DecodePagedResults(value []byte) (size int64, cookie []byte, err error)
//	func PagedResultsControl(size int64, cookie []byte) Control
//	func FindControl(controls []Control, oid string) (Control, bool)
