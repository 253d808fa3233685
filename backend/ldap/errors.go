package ldapbackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

// isTransport reports whether err means the connection itself failed
// (network, timeout, malformed answer), as opposed to an LDAP result code
// from a server that is working.
func isTransport(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		// go-ldap's own codes (network, unexpected/malformed response,
		// ...) are 200 and up; 81 and 85 are client-side "server down"
		// and "timeout".
		return le.ResultCode >= ldap.ErrorNetwork ||
			le.ResultCode == ldap.LDAPResultServerDown || le.ResultCode == ldap.LDAPResultTimeout
	}
	return true // not an LDAP result: something below LDAP went wrong
}

// unavailable wraps err so that it matches backend.ErrUnavailable (unless
// it already does), and also backend.ErrBusy when the server said busy (51).
func unavailable(op string, err error) error {
	if errors.Is(err, backend.ErrUnavailable) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultBusy) {
		return fmt.Errorf("%s: %w: %w: %w", op, backend.ErrUnavailable, backend.ErrBusy, err)
	}
	return fmt.Errorf("%s: %w: %w", op, backend.ErrUnavailable, err)
}

// adData finds the Active Directory sub-code in a diagnostic message, e.g.
// "80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 52e, v893".
var adData = regexp.MustCompile(`(?i)\bdata ([0-9a-f]{3,8})\b`)

// adReasons maps AD sub-codes of error 49 to reasons.
var adReasons = map[string]backend.Reason{
	"525": backend.ReasonUnknownUser,
	"52e": backend.ReasonBadCredentials,
	"530": backend.ReasonSuspended, // not permitted to log on at this time
	"531": backend.ReasonSuspended, // not permitted from this workstation
	"532": backend.ReasonExpired,   // password expired
	"533": backend.ReasonSuspended, // account disabled
	"701": backend.ReasonExpired,   // account expired
	"773": backend.ReasonExpired,   // must reset password: cannot be done through bindery
	"775": backend.ReasonLocked,    // account locked
}

// bindOutcome classifies the error of a user bind: a reason with
// refused=true for an answer about the account, or an error wrapping
// backend.ErrUnavailable when the directory could not answer.
func bindOutcome(err error) (reason backend.Reason, refused bool, uerr error) {
	if err == nil {
		return backend.ReasonNone, false, nil
	}
	var le *ldap.Error
	if !errors.As(err, &le) || isTransport(err) {
		return "", false, unavailable("user bind", err)
	}
	switch le.ResultCode {
	case ldap.LDAPResultInvalidCredentials:
		if m := adData.FindStringSubmatch(le.Err.Error()); m != nil {
			if r, ok := adReasons[strings.ToLower(m[1])]; ok {
				return r, true, nil
			}
		}
		return backend.ReasonBadCredentials, true, nil
	case ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultInsufficientAccessRights:
		// Account disabled or not allowed to bind (e.g. OpenLDAP ACLs,
		// 389-ds nsAccountLock, eDirectory login disabled).
		return backend.ReasonSuspended, true, nil
	case ldap.LDAPResultNoSuchObject, ldap.LDAPResultInvalidDNSyntax:
		// The entry vanished between search and bind, or a DN template
		// made an impossible DN from the ID.
		return backend.ReasonUnknownUser, true, nil
	}
	// 51, 52, 80, and everything unexpected (e.g. 8/13: the server wants
	// TLS, a configuration problem): the directory did not answer the
	// question, so never "wrong password".
	return "", false, unavailable("user bind", err)
}
