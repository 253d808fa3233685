package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/proxy/names"
	"github.com/go-ldap/ldap/v3"
)

// Login is what Authenticate found out about one attempt.
type Login struct {
	ID      string // the login ID as its route normalised it ("" when no route matches)
	Route   string // the route's name
	Backend string // the route's backend name
	// Result is the backend's answer: the Entry on success (nil when a
	// cache keeps none), the Reason on failure.
	Result backend.Result
	// Wait is set when the (client, ID) pair had failed too often: the
	// password was not checked, and another attempt is refused until Wait
	// has passed.
	Wait time.Duration
}

// PersonID returns the login ID in a bind name typed by a person (a bare
// ID, uid=ID,ou=people,<suffix>, or ID@<upn suffix>); ok is false for a
// service account's name or a name that is not one of those.
func (s *Server) PersonID(name string) (string, bool) {
	n, err := s.parser().Parse(name)
	if err != nil || n.Kind != names.Person {
		return "", false
	}
	return n.ID, true
}

// Authenticate checks a person's password exactly as a simple bind with
// that login ID does, for a front end other than LDAP (the staff
// console): the current Routes pick the route, the (client address, ID)
// throttle applies, the route's backend answers behind its cache (so a
// PIN store's lockout counts the failure), and a route with
// require_patron also needs an active library account. client is the
// front end's client address ("host:port" or a bare address).
//
// Unlike a bind, a throttled attempt is not held: it comes back at once
// with Login.Wait set, unchecked. The three-way result follows
// backend.Authenticator: a wrong password or an account that may not log
// in is ok=false, err=nil (Result.Reason says why); err (wrapping
// backend.ErrUnavailable or ErrBusy) only when the backend cannot answer.
// Each attempt is reported to the Observer as an operation called op
// (e.g. "staff_login"), never with the password.
func (s *Server) Authenticate(ctx context.Context, op, id, password, client string) (Login, bool, error) {
	start := time.Now()
	ev := OpEvent{Time: start, Op: op, Client: client, Kind: "person", ID: id}
	defer func() {
		ev.Duration = time.Since(start)
		s.observer().OpDone(ev)
	}()
	if id == "" || password == "" {
		// Never an unauthenticated bind: an empty password checks nothing.
		ev.Code, ev.Reason = ldap.LDAPResultInvalidCredentials, backend.ReasonBadCredentials
		return Login{}, false, nil
	}
	p, _, err := s.checkPerson(ctx, new(lazyCtx), s.Routes(), client, id, password, true, func(d time.Duration) error { return errThrottled })
	l := Login{ID: p.id, Result: p.res}
	ev.Throttled = p.throttled
	if p.route != nil {
		l.Route, l.Backend = p.route.Name, p.route.BackendName
		ev.ID, ev.Route, ev.Backend, ev.Cached = p.id, p.route.Name, p.route.BackendName, p.res.Cached
	}
	switch {
	case errors.Is(err, errThrottled):
		l.Wait = p.throttled
		ev.Code, ev.Reason = ldap.LDAPResultInvalidCredentials, backend.ReasonBadCredentials
		return l, false, nil
	case err != nil:
		ev.Code = backendError(ctx, "authenticate", err).Code
		return l, false, fmt.Errorf("proxy: authenticate: %w", err)
	case !p.good:
		l.Result.Reason = p.reason
		ev.Code, ev.Reason = ldap.LDAPResultInvalidCredentials, p.reason
		return l, false, nil
	}
	ev.Reason = backend.ReasonNone
	if p.res.MustChange {
		ev.Reason = backend.ReasonMustChange
	}
	return l, true, nil
}

// errThrottled ends Authenticate's check when the pair must wait.
var errThrottled = errors.New("throttled")
