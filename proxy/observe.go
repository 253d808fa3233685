package proxy

import (
	"time"

	"github.com/bindery/bindery/backend"
)

// Observer is told about every finished operation and every connection
// that opens, closes or is turned away; metrics and the audit log
// implement it. Its methods are called on the serving goroutines, so they
// must be quick and must never block (queue, count, or drop).
type Observer interface {
	OpDone(ev OpEvent)
	ConnOpened()
	ConnClosed()
	// ConnRejected: the server turned a connection away or closed it for
	// cause: "max_connections", "too_large", "malformed", "read_timeout",
	// "proxy_header".
	ConnRejected(reason string)
}

// OpEvent is one finished operation. The Bind* fields are set for binds.
type OpEvent struct {
	Time      time.Time // when the operation started
	Op        string    // bind, search, compare, whoami, passwd, starttls, ...
	Code      int       // LDAP result code sent, or NoResult
	Duration  time.Duration
	Client    string // remote address
	Abandoned bool

	// For binds.
	Kind string // "person", "service", "anonymous" or "" (not a bind, or refused before the name was read)
	// ID is the normalised login ID or service account name (never a
	// password); "" when the name matched no route or did not parse
	// (it may be a PIN typed into the wrong field): NameLen is then its
	// length.
	ID        string
	NameLen   int
	Route     string
	Backend   string
	Service   string // the service account the connection was bound as before this bind, if any (search-then-bind)
	Reason    backend.Reason
	Cached    bool
	Throttled time.Duration // how long the attempt was held by the throttle
}

// bindInfo collects what a bind learns, for the OpEvent.
type bindInfo struct {
	kind, id, route, backend, service string
	nameLen                           int
	cached                            bool
	throttled                         time.Duration
}

// NoResult is OpEvent.Code when no result was sent because the client
// hung up while the operation was still running.
const NoResult = -1

type nopObserver struct{}

func (nopObserver) OpDone(OpEvent)      {}
func (nopObserver) ConnOpened()         {}
func (nopObserver) ConnClosed()         {}
func (nopObserver) ConnRejected(string) {}

func (s *Server) observer() Observer {
	if s.Observer != nil {
		return s.Observer
	}
	return nopObserver{}
}

// observe reports a finished operation, answered at end.
func (c *conn) observe(o *op, code int, end time.Time) {
	ev := OpEvent{
		Time:      o.start,
		Op:        o.name,
		Code:      code,
		Duration:  end.Sub(o.start),
		Client:    c.client,
		Abandoned: o.abandoned.Load(),
		Reason:    o.reason,
	}
	if b := o.bindInfo; b != nil {
		ev.Kind, ev.ID, ev.Route, ev.Backend, ev.Service = b.kind, b.id, b.route, b.backend, b.service
		ev.NameLen = b.nameLen
		ev.Cached, ev.Throttled = b.cached, b.throttled
	}
	c.srv.observer().OpDone(ev)
}

// Observers fans events out to several observers in order.
type Observers []Observer

// OpDone implements Observer.
func (os Observers) OpDone(ev OpEvent) {
	for _, o := range os {
		o.OpDone(ev)
	}
}

// ConnOpened implements Observer.
func (os Observers) ConnOpened() {
	for _, o := range os {
		o.ConnOpened()
	}
}

// ConnClosed implements Observer.
func (os Observers) ConnClosed() {
	for _, o := range os {
		o.ConnClosed()
	}
}

// ConnRejected implements Observer.
func (os Observers) ConnRejected(reason string) {
	for _, o := range os {
		o.ConnRejected(reason)
	}
}
