package proxy

import (
	"context"
	"errors"
	"fmt"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/go-ldap/ldap/v3"
)

// Diagnostic texts that clients match on (most are OpenLDAP's own).
const (
	textRestricted       = "Operations are restricted to bind/unbind/abandon/StartTLS/modify password"
	textUnauthBind       = "unauthenticated bind (DN with no password) disallowed"
	textAnonDisallowed   = "anonymous bind disallowed"
	textConfidentiality  = "TLS confidentiality required"
	textSASL             = "SASL is not supported"
	textVersion          = "requested protocol version not supported"
	textUnavailable      = "campus directory unavailable"
	textBusy             = "server is busy"
	textTooManyOps       = "too many outstanding operations"
	textInternal         = "internal error"
	textReadOnly         = "bindery is read-only"
	textCritical         = "critical extension is unavailable"
	textUnsupportedExt   = "unsupported extended operation"
	textUnsupportedOp    = "unsupported operation"
	textPolicy           = "Password fails quality checking policy"
	textWrongOld         = "unwilling to verify old password"
	textMustSupplyOld    = "must supply old password to be changed as well as new one"
	textPINReadOnly      = "PIN store cannot be written"
	textShutdown         = "server is shutting down"
	textNoAccess         = "insufficient access"
	textNoSuchObject     = "no such object"
	textTLSAlready       = "TLS already established"
	textStartTLSNotAvail = "StartTLS not supported"
)

// ldapError is the error a handler returns to have the loop answer with a
// given result. Err, when set, is the cause (for the log only).
type ldapError struct {
	Code     int
	Diag     string
	Controls []ldapwire.Control
	Reason   backend.Reason
	Err      error
}

func (e *ldapError) Error() string {
	s := fmt.Sprintf("ldap result %d", e.Code)
	if e.Diag != "" {
		s += " (" + e.Diag + ")"
	}
	if e.Reason != "" {
		s += " reason=" + string(e.Reason)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ldapError) Unwrap() error { return e.Err }

func newError(code int, diag string) *ldapError { return &ldapError{Code: code, Diag: diag} }

// panicError is what the loop makes of a recovered panic: 80 other.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// backendError turns an error from a backend call into an LDAP result:
// ErrUnavailable (or a deadline) → 52, ErrBusy → 51, ErrNotFound → 32,
// ErrNotPermitted → 50, ErrReadOnly → 80 with its text, anything else → 80.
// ctx is the operation's context (the parent of the backend call's
// deadline): when it was cancelled, the error says so.
func backendError(ctx context.Context, op string, err error) *ldapError {
	wrapped := fmt.Errorf("%s: %w", op, err)
	switch {
	case errors.Is(err, backend.ErrUnavailable):
		return &ldapError{Code: ldap.LDAPResultUnavailable, Diag: textUnavailable, Err: wrapped}
	case errors.Is(err, backend.ErrBusy):
		return &ldapError{Code: ldap.LDAPResultBusy, Diag: textBusy, Err: wrapped}
	case errors.Is(err, backend.ErrNotFound):
		return &ldapError{Code: ldap.LDAPResultNoSuchObject, Diag: textNoSuchObject, Err: wrapped}
	case errors.Is(err, backend.ErrNotPermitted):
		return &ldapError{Code: ldap.LDAPResultInsufficientAccessRights, Diag: textNoAccess, Err: wrapped}
	case errors.Is(err, backend.ErrReadOnly):
		return &ldapError{Code: ldap.LDAPResultOther, Diag: textPINReadOnly, Err: wrapped}
	case ctx.Err() != nil:
		// The operation itself was cancelled (abandon, disconnect, shutdown).
		return &ldapError{Code: ldap.LDAPResultUnavailable, Diag: textUnavailable, Err: fmt.Errorf("%s: operation cancelled: %w", op, err)}
	case errors.Is(err, context.DeadlineExceeded):
		// The backend's own deadline (BackendTimeout) ran out.
		return &ldapError{Code: ldap.LDAPResultUnavailable, Diag: textUnavailable, Err: wrapped}
	default:
		return &ldapError{Code: ldap.LDAPResultOther, Diag: textInternal, Err: wrapped}
	}
}

// adDiagnostic is the Active Directory style diagnostic of a 49 for a
// reason (see README.md for the table).
func adDiagnostic(r backend.Reason) string {
	return "80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data " + adDataCode(r) + ", v893"
}

func adDataCode(r backend.Reason) string {
	switch r {
	case backend.ReasonLocked:
		return "775"
	case backend.ReasonSuspended, backend.ReasonSuperseded:
		return "533"
	case backend.ReasonExpired:
		return "701"
	case backend.ReasonPending, backend.ReasonNoPatron:
		return "530"
	case backend.ReasonNoPIN, backend.ReasonMustChange:
		return "773"
	default: // bad credentials, unknown user, no route: never 525
		return "52e"
	}
}
