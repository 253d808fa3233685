package proxy

import (
	"context"
	"errors"
	"log/slog"
	"time"
	"unsafe"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/bindery/bindery/proxy/names"
	"github.com/go-ldap/ldap/v3"
)

// parser returns the name parser for the server's suffixes (made once;
// the fields must not change after Serve).
func (s *Server) parser() *names.Parser {
	s.parserOnce.Do(func() {
		s.names = &names.Parser{Suffix: s.Suffix, UPNSuffix: s.UPNSuffix}
	})
	return s.names
}

// bind answers a Bind request (RFC 4511 §4.2), first waiting out the
// connection's busy backoff (Server.BusyBackoff), and starts a new one when
// the answer is 51 busy. While it runs, a client that hangs up cancels it
// (watchHangup).
func (c *conn) bind(o *op, req *ldapwire.BindRequest) error {
	w := c.watchHangup(o)
	defer w.stop()
	if until := c.busyUntil.Load(); until != 0 {
		if d := time.Until(time.Unix(0, until)); d > 0 {
			o.log("busy_backoff", d.Round(time.Millisecond))
			if err := o.hold(d); err != nil {
				return err
			}
		}
	}
	err := c.bindNow(o, req)
	if err != nil && c.srv.BusyBackoff > 0 && isBusy(err) {
		c.busyUntil.Store(time.Now().Add(c.srv.BusyBackoff).UnixNano())
	} else {
		c.busyUntil.Store(0)
	}
	return err
}

// isBusy reports whether err answers 51 busy. It is called only for a
// non-nil err: the target of errors.As escapes, and a successful bind
// should not pay for it.
func isBusy(err error) bool {
	var le *ldapError
	return errors.As(err, &le) && le.Code == ldap.LDAPResultBusy
}

// hold waits d, or returns the operation's context error if it ends
// first. When the server begins to shut down, a held bind is answered at
// once with 52 "server is shutting down" (it would outlast the shutdown).
func (o *op) hold(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-o.ctx.Done():
		return o.ctx.Err()
	case <-o.c.srv.shuttingDown():
		return newError(ldap.LDAPResultUnavailable, textShutdown)
	}
}

// bindNow answers a Bind request. The connection is anonymous from the
// moment the request arrives until a bind succeeds.
func (c *conn) bindNow(o *op, req *ldapwire.BindRequest) error {
	info := &o.bindBuf
	if prev := c.identity(); prev.kind == serviceIdentity {
		info.service = prev.id
	}
	o.bindInfo = info
	c.setIdentity(identity{})
	switch {
	case req.Version != 3:
		return newError(ldap.LDAPResultProtocolError, textVersion)
	case !req.Simple:
		o.log("mechanism", req.SASLMechanism)
		return newError(ldap.LDAPResultAuthMethodNotSupported, textSASL)
	case req.Name == "" && len(req.Password) == 0:
		o.log("anonymous", true)
		info.kind = "anonymous"
		if c.srv.DisallowAnonymous {
			return newError(ldap.LDAPResultInappropriateAuthentication, textAnonDisallowed)
		}
		return nil
	case len(req.Password) == 0:
		return newError(ldap.LDAPResultUnwillingToPerform, textUnauthBind)
	case c.srv.RequireTLS && !c.isTLS.Load():
		return newError(ldap.LDAPResultConfidentialityRequired, textConfidentiality)
	case req.Name == "":
		return c.invalidCredentials(o, backend.ReasonUnknownUser)
	}
	n, err := c.srv.parser().Parse(req.Name)
	if err != nil {
		// The error may quote the name, which may be a PIN typed into the
		// wrong field: log neither, only the name's length.
		o.log("route", "none", "name_len", len(req.Name), "name_error", "unparsable")
		o.bindInfo.nameLen = len(req.Name)
		return c.invalidCredentials(o, backend.ReasonUnknownUser)
	}
	switch n.Kind {
	case names.Service:
		return c.bindService(o, n.ID, sharedPassword(req))
	case names.Person:
		return c.bindPerson(o, n.ID, sharedPassword(req))
	default:
		return c.invalidCredentials(o, backend.ReasonUnknownUser)
	}
}

// sharedPassword returns a simple bind's password as a string over the
// request's own bytes, not a copy. ldapwire.ReadMessage reads each message
// into a buffer of its own that it never writes again, and nothing in
// bindery writes a request's bytes: the string stays what was sent for as
// long as anything (a backend call that outlives a hung-up bind) holds it.
func sharedPassword(req *ldapwire.BindRequest) string {
	return unsafe.String(unsafe.SliceData(req.Password), len(req.Password))
}

// invalidCredentials is the 49 of every failed bind: the same text whatever
// the reason, unless Diagnostics is "ad"; with the ppolicy control asked and
// RevealLockout, a locked account also gets accountLocked.
func (c *conn) invalidCredentials(o *op, reason backend.Reason) error {
	e := &ldapError{Code: ldap.LDAPResultInvalidCredentials, Reason: reason}
	if c.srv.Diagnostics == "ad" {
		e.Diag = adDiagnostic(reason)
	}
	if reason == backend.ReasonLocked && c.srv.RevealLockout && o.hasControl(ldapwire.OIDPasswordPolicy) {
		e.Controls = []ldapwire.Control{ldapwire.PpolicyResponseControl(ldapwire.PpolicyAccountLocked, -1, -1)}
	}
	return e
}

func (c *conn) bindService(o *op, name, password string) error {
	o.log("service", name)
	o.bindInfo.kind, o.bindInfo.id = "service", name
	sa, ok := o.routes.Service(name)
	if !ok {
		return c.invalidCredentials(o, backend.ReasonUnknownUser)
	}
	if !sa.allowedFrom(c.client) {
		o.log("network", "refused")
		return c.invalidCredentials(o, backend.ReasonBadCredentials)
	}
	if sa.Verify == nil {
		return c.invalidCredentials(o, backend.ReasonBadCredentials)
	}
	ctx, cancel := o.bindCtx()
	good, err := sa.Verify(ctx, c.client, password)
	cancel()
	if err != nil {
		// ErrBusy (the hashing pool is full) is 51; anything else 80.
		return backendError(o.ctx, "verify service password", err)
	}
	if !good {
		return c.invalidCredentials(o, backend.ReasonBadCredentials)
	}
	c.setIdentity(identity{kind: serviceIdentity, id: sa.Name})
	return nil
}

func (c *conn) bindPerson(o *op, id, password string) error {
	info := o.bindInfo
	info.kind = "person"
	p, stage, err := c.srv.checkPerson(o.ctx, &o.callCtx, o.routes, c.client, id, password, false, func(d time.Duration) error {
		o.log("throttled", d.Round(time.Millisecond))
		return o.hold(d)
	})
	info.throttled = p.throttled
	if p.route == nil {
		// A name no route takes is often a PIN typed into the name field:
		// it is never logged or audited, only its length.
		o.log("route", "none", "name_len", len(id))
		info.nameLen = len(id)
		return c.invalidCredentials(o, backend.ReasonNoRoute)
	}
	o.attrs(slog.String("id", id), slog.String("route", p.route.Name), slog.String("backend", p.route.BackendName))
	info.id, info.route, info.backend = p.id, p.route.Name, p.route.BackendName
	if p.id != id {
		o.attrs(slog.String("normalised_id", p.id))
	}
	if stage != "throttle" {
		o.attrs(slog.Bool("cache", p.res.Cached))
		info.cached = p.res.Cached
	}
	if err != nil {
		if stage == "throttle" {
			return err
		}
		return backendError(o.ctx, stage, err)
	}
	if !p.good {
		return c.invalidCredentials(o, p.reason)
	}
	ident := identity{kind: personIdentity, id: p.id, route: p.route.Name}
	if p.res.MustChange {
		ident.mustChange = true
		o.reason = backend.ReasonMustChange
		if o.hasControl(ldapwire.OIDPasswordPolicy) {
			o.controls = []ldapwire.Control{ldapwire.PpolicyResponseControl(ldapwire.PpolicyChangeAfterReset, -1, -1)}
		}
	}
	c.setIdentity(ident)
	return nil
}

// personCheck is what checkPerson found out.
type personCheck struct {
	route     *Route // nil: no route matches
	id        string // normalised by the route
	res       backend.Result
	good      bool
	reason    backend.Reason // why not good
	throttled time.Duration  // how long the (client, ID) pair had to wait
}

// checkPerson is the password check of a person's bind, shared by binds
// and Authenticate: route the ID, let the (client, ID) throttle have its
// say (wait is called with the time the pair must still wait; its error
// ends the check), ask the route's backend (behind its cache), count the
// outcome in the throttle, and for a route with require_patron ask its
// patron backend. stage names the step an error came from ("throttle",
// "authenticate", "check patron"). call is where the backend call's
// context lives (unused before; a field of the operation, so that a
// cached bind allocates none). needEntry: the caller reads p.res.Entry;
// an LDAP bind does not (Credentials.NoEntry: the cache does not unpack
// it on a hit).
func (s *Server) checkPerson(ctx context.Context, call *lazyCtx, routes *Routes, client, id, password string, needEntry bool, wait func(time.Duration) error) (p personCheck, stage string, err error) {
	route, nid, ok := routes.Route(id)
	if !ok {
		p.reason = backend.ReasonNoRoute
		return p, "", nil
	}
	p.route, p.id = route, nid
	thr := s.throttle()
	var tk pairKey
	if thr != nil {
		tk = throttleKey(client, nid)
		if d := thr.wait(tk); d > 0 {
			p.throttled = d
			if err := wait(d); err != nil {
				return p, "throttle", err
			}
		}
	}
	// route.Backend is the backend behind its bind cache (backend/cache,
	// put there by internal/config): a repeat bind is answered from memory.
	// It may wait for a hashing worker: bindTimeout.
	// The deadline is that of context.WithTimeout; the timer is armed
	// only if the backend waits (lazyCtx): a cache hit never does.
	call.init(ctx, time.Now().Add(s.bindTimeout()))
	res, good, err := route.Backend.Authenticate(call, backend.Credentials{ID: nid, Password: password, ClientAddr: client, NoEntry: !needEntry})
	call.cancel()
	p.res = res
	if err != nil {
		return p, "authenticate", err
	}
	if thr != nil {
		if good {
			thr.succeed(tk)
		} else {
			thr.fail(tk)
		}
	}
	if !good {
		p.reason = res.Reason
		if p.reason == "" {
			p.reason = backend.ReasonBadCredentials
		}
		return p, "", nil
	}
	if route.RequirePatron != nil {
		pctx, cancel := context.WithTimeout(ctx, s.backendTimeout())
		reason, active, err := route.RequirePatron.CheckPatron(pctx, nid)
		cancel()
		if err != nil {
			return p, "check patron", err
		}
		if !active {
			if reason == "" {
				reason = backend.ReasonNoPatron
			}
			p.reason = reason
			return p, "", nil
		}
	}
	p.good = true
	return p, "", nil
}
