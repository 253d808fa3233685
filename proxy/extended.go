package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/bindery/bindery/proxy/names"
	"github.com/go-ldap/ldap/v3"
)

// whoAmI answers the WhoAmI extended operation (RFC 4532): "dn:<DN>", or
// an empty value when anonymous. Like OpenLDAP, no responseName.
func (c *conn) whoAmI(o *op) error {
	ident := c.identity()
	o.hasValue = true
	if ident.kind != anonymous {
		o.respValue = []byte("dn:" + ident.dn(c.srv.parser()))
	}
	return nil
}

// passwordModify answers the Password Modify extended operation (RFC 3062).
// A person changes its own password with the old one; a service account
// with CanReset sets anyone's without it. See README.md for the results.
func (c *conn) passwordModify(o *op, req *ldapwire.ExtendedRequest) error {
	ident := c.identity()
	if ident.kind == anonymous {
		return newError(ldap.LDAPResultInsufficientAccessRights, textNoAccess)
	}
	pm, err := ldapwire.DecodePasswordModify(req.Value)
	if err != nil {
		return &ldapError{Code: ldap.LDAPResultProtocolError, Diag: "malformed password modify request", Err: err}
	}
	ppolicy := o.hasControl(ldapwire.OIDPasswordPolicy)
	withPpolicy := func(e *ldapError, code int) *ldapError {
		if ppolicy {
			e.Controls = []ldapwire.Control{ldapwire.PpolicyResponseControl(code, -1, -1)}
		}
		return e
	}

	targetID := ident.id
	if pm.HasUserIdentity && pm.UserIdentity != "" {
		n, err := c.srv.parser().Parse(pm.UserIdentity)
		if err != nil || n.Kind != names.Person {
			return newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
		}
		targetID = n.ID
	} else if ident.kind != personIdentity {
		return newError(ldap.LDAPResultUnwillingToPerform, "service account passwords are set in the configuration")
	}
	route, nid, ok := o.routes.Route(targetID)
	if !ok {
		return newError(ldap.LDAPResultNoSuchObject, textNoSuchObject)
	}
	o.log("id", nid, "route", route.Name, "backend", route.BackendName)
	self := ident.kind == personIdentity && nid == ident.id
	change := backend.PasswordChange{
		ID:         nid,
		New:        string(pm.NewPassword),
		Operator:   ident.dn(c.srv.parser()),
		ClientAddr: c.client,
	}
	switch {
	case self:
		if !pm.HasOld || len(pm.OldPassword) == 0 {
			return withPpolicy(newError(ldap.LDAPResultUnwillingToPerform, textMustSupplyOld), ldapwire.PpolicyMustSupplyOldPassword)
		}
		change.Old = string(pm.OldPassword)
	case ident.kind == serviceIdentity:
		sa, ok := o.routes.Service(ident.id)
		if !ok || !sa.CanReset {
			return newError(ldap.LDAPResultInsufficientAccessRights, textNoAccess)
		}
		// A reset by a service sets the password; it is not one-time.
		change.Force = true
	default:
		return newError(ldap.LDAPResultInsufficientAccessRights, textNoAccess)
	}
	changer, ok := backend.As[backend.PasswordChanger](route.Backend)
	if !ok {
		return withPpolicy(newError(ldap.LDAPResultUnwillingToPerform, "passwords of this account cannot be changed here"), ldapwire.PpolicyPasswordModNotAllowed)
	}
	ctx, cancel := o.bindCtx()
	generated, err := changer.ChangePassword(ctx, change)
	cancel()
	var pe *backend.PolicyError
	switch {
	case err == nil:
	case errors.As(err, &pe):
		code := ldapwire.PpolicyInsufficientPasswordQuality
		if pe.TooShort() {
			code = ldapwire.PpolicyPasswordTooShort
		}
		e := withPpolicy(newError(ldap.LDAPResultConstraintViolation, policyDiagnostic(pe)), code)
		e.Err = fmt.Errorf("change password: %w", err)
		return e
	case errors.Is(err, backend.ErrWrongOldPassword):
		return &ldapError{Code: ldap.LDAPResultUnwillingToPerform, Diag: textWrongOld, Err: fmt.Errorf("change password: %w", err)}
	default:
		return backendError(o.ctx, "change password", err)
	}
	if generated != "" {
		o.respValue = ldapwire.PasswordModifyResponseValue(generated)
		o.hasValue = true
	}
	if self {
		c.mu.Lock()
		if c.ident.kind == personIdentity && c.ident.id == nid {
			c.ident.mustChange = false
		}
		c.mu.Unlock()
	}
	return nil
}

// policyDiagnostic is the text of a 19 for a PIN that breaks the rules:
// every problem in the store's own words (the words binderyctl prints),
// joined by "; ", so that an ILS showing the server's text shows what to
// fix. The messages never contain the PIN. A backend that gives no message
// gets OpenLDAP's "Password fails quality checking policy".
//
// At most maxPolicyMessages are listed, then "and N more": a long PIN of
// characters that are not allowed has a problem per character.
func policyDiagnostic(pe *backend.PolicyError) string {
	msgs := make([]string, 0, min(len(pe.Problems), maxPolicyMessages+1))
	more := 0
	for _, p := range pe.Problems {
		switch {
		case p.Message == "":
		case len(msgs) < maxPolicyMessages:
			msgs = append(msgs, p.Message)
		default:
			more++
		}
	}
	if len(msgs) == 0 {
		return textPolicy
	}
	if more > 0 {
		msgs = append(msgs, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(msgs, "; ")
}

// maxPolicyMessages bounds the problems named in a 19's diagnostic.
const maxPolicyMessages = 4
