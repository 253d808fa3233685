package proxy

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/bindery/bindery/proxy/names"
	"github.com/go-ldap/ldap/v3"
)

// op is one request being answered.
type op struct {
	c         *conn
	msg       *ldapwire.Message
	id        int64
	ctx       context.Context // &lctx
	lctx      lazyCtx         // the operation's context: c.ctx's child, made real only when waited on
	callCtx   lazyCtx         // a bind's backend call (checkPerson)
	routes    *Routes         // the Routes this operation started with
	abandoned atomic.Bool
	hungUp    atomic.Bool // the client closed the connection while it ran (hangupWatch)
	start     time.Time
	respTag   int

	// Filled by the handler for a successful answer.
	code      int    // result code when the handler returns nil (0, or 5/6 for Compare, 4 for a size limit)
	diag      string // diagnostic for that code
	buf       []byte // search entries, already encoded
	controls  []ldapwire.Control
	respName  string // extended response name
	respValue []byte // extended response value
	hasValue  bool

	// For the log line and the Observer.
	name     string // operation name
	reason   backend.Reason
	logAttrs []slog.Attr
	logBuf   [8]slog.Attr // logAttrs' first backing array: a bind's details fit
	bindInfo *bindInfo    // binds only: &bindBuf
	bindBuf  bindInfo     // a bind's bookkeeping, in the op's own allocation
}

func (c *conn) newOp(m *ldapwire.Message) *op {
	o := &op{
		c:       c,
		msg:     m,
		id:      m.ID,
		routes:  c.srv.routes.Load(),
		start:   time.Now(),
		respTag: responseTag(m),
	}
	o.lctx.init(c.ctx, time.Time{})
	o.ctx = &o.lctx
	o.name = opName(m)
	o.logAttrs = o.logBuf[:0]
	return o
}

// cancel ends the operation's context (idempotent, from any goroutine).
func (o *op) cancel() { o.lctx.cancel() }

// backendCtx returns a context for one backend call, bounded by
// BackendTimeout.
func (o *op) backendCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(o.ctx, o.c.srv.backendTimeout())
}

// bindCtx returns a context for a backend call that may wait for a
// password hashing worker (Authenticate, a service password,
// ChangePassword): BackendTimeout plus Server.HashWait, so that a call the
// hashing pool admitted to wait is not cut short by BackendTimeout.
func (o *op) bindCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(o.ctx, o.c.srv.bindTimeout())
}

// hasControl reports whether the request carried the control.
func (o *op) hasControl(oid string) bool {
	_, ok := ldapwire.FindControl(o.msg.Controls, oid)
	return ok
}

// log adds key-value pairs (as slog's Logger.Log takes them) to the
// operation's log line.
func (o *op) log(args ...any) {
	for len(args) >= 2 {
		key, _ := args[0].(string)
		o.logAttrs = append(o.logAttrs, slog.Any(key, args[1]))
		args = args[2:]
	}
}

// attrs adds typed attributes to the operation's log line: what every
// bind logs goes this way, without boxing its values.
func (o *op) attrs(as ...slog.Attr) { o.logAttrs = append(o.logAttrs, as...) }

// responseTag is the application tag of the response to m (an
// ExtendedResponse for a request whose operation has none).
func responseTag(m *ldapwire.Message) int {
	switch req := m.Op.(type) {
	case *ldapwire.BindRequest:
		return ldapwire.TagBindResponse
	case *ldapwire.SearchRequest:
		return ldapwire.TagSearchResultDone
	case *ldapwire.CompareRequest:
		return ldapwire.TagCompareResponse
	case *ldapwire.UnsupportedRequest:
		if req.ResponseTag >= 0 {
			return req.ResponseTag
		}
	}
	return ldapwire.TagExtendedResponse
}

func opName(m *ldapwire.Message) string {
	switch req := m.Op.(type) {
	case *ldapwire.BindRequest:
		return "bind"
	case *ldapwire.SearchRequest:
		return "search"
	case *ldapwire.CompareRequest:
		return "compare"
	case *ldapwire.ExtendedRequest:
		switch req.OID {
		case ldapwire.OIDWhoAmI:
			return "whoami"
		case ldapwire.OIDPasswordModify:
			return "passwd"
		case ldapwire.OIDStartTLS:
			return "starttls"
		}
		return "extended"
	case *ldapwire.UnsupportedRequest:
		switch req.Tag {
		case ldapwire.TagModifyRequest:
			return "modify"
		case ldapwire.TagAddRequest:
			return "add"
		case ldapwire.TagDelRequest:
			return "delete"
		case ldapwire.TagModifyDNRequest:
			return "modrdn"
		}
		return "unknown"
	}
	return "unknown"
}

// knownControls are the request controls bindery understands; an unknown
// control marked critical fails the operation with 12.
var knownControls = map[string]bool{
	ldapwire.OIDPasswordPolicy: true,
	ldapwire.OIDPagedResults:   true,
	ldapwire.OIDManageDsaIT:    true,
}

// run answers one operation: handler, panic recovery, one result, one log line.
func (c *conn) run(o *op) {
	defer o.cancel()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = &panicError{value: r, stack: debug.Stack()}
			}
		}()
		err = c.handle(o)
	}()
	c.respond(o, err)
}

// handle applies the checks common to every operation, then the handler.
func (c *conn) handle(o *op) error {
	for _, ctl := range o.msg.Controls {
		if ctl.Critical && !knownControls[ctl.OID] {
			o.log("control", ctl.OID)
			return newError(ldap.LDAPResultUnavailableCriticalExtension, textCritical)
		}
	}
	if ident := c.identity(); ident.mustChange && !c.allowedWhenRestricted(o.msg, ident) {
		return newError(ldap.LDAPResultInsufficientAccessRights, textRestricted)
	}
	switch req := o.msg.Op.(type) {
	case *ldapwire.BindRequest:
		return c.bind(o, req)
	case *ldapwire.SearchRequest:
		return c.search(o, req)
	case *ldapwire.CompareRequest:
		return c.compare(o, req)
	case *ldapwire.ExtendedRequest:
		switch req.OID {
		case ldapwire.OIDWhoAmI:
			return c.whoAmI(o)
		case ldapwire.OIDPasswordModify:
			return c.passwordModify(o, req)
		}
		o.log("oid", req.OID)
		return newError(ldap.LDAPResultProtocolError, textUnsupportedExt)
	case *ldapwire.UnsupportedRequest:
		if req.ResponseTag < 0 {
			o.log("tag", req.Tag)
			return newError(ldap.LDAPResultProtocolError, textUnsupportedOp)
		}
		return newError(ldap.LDAPResultUnwillingToPerform, textReadOnly)
	}
	return newError(ldap.LDAPResultProtocolError, textUnsupportedOp)
}

// allowedWhenRestricted lists what a must-change session may still do
// (Unbind and Abandon never reach the handlers): Bind, StartTLS, Password
// Modify, and a base read of its own entry (nslcd's pam_authc_search BASE
// and VuFind re-read the entry right after the bind).
func (c *conn) allowedWhenRestricted(m *ldapwire.Message, ident identity) bool {
	switch req := m.Op.(type) {
	case *ldapwire.BindRequest:
		return true
	case *ldapwire.ExtendedRequest:
		return req.OID == ldapwire.OIDStartTLS || req.OID == ldapwire.OIDPasswordModify
	case *ldapwire.SearchRequest:
		if req.Scope != ldapwire.ScopeBase || ident.kind != personIdentity {
			return false
		}
		n, err := c.srv.parser().Parse(req.BaseDN)
		if err != nil || n.Kind != names.Person {
			return false
		}
		route, nid, ok := c.srv.routes.Load().Route(n.ID)
		return ok && route.Name == ident.route && nid == ident.id
	}
	return false
}

// respBufs holds buffers for responses that are a result alone (binds).
var respBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// respond turns the handler's outcome into one response, writes it (unless
// the operation was abandoned) and logs once.
func (c *conn) respond(o *op, err error) {
	r := ldapwire.Result{Code: o.code, DiagnosticMessage: o.diag}
	controls := o.controls
	buf := o.buf
	var le *ldapError
	var pe *panicError
	if err != nil {
		le, pe = classify(err)
	}
	switch {
	case err == nil:
	case le != nil:
		r = ldapwire.Result{Code: le.Code, DiagnosticMessage: le.Diag}
		if le.Code == ldap.LDAPResultUnavailable && o.ctx.Err() != nil && c.srv.inShutdown.Load() {
			// Cancelled by the shutdown deadline, not by a backend.
			r.DiagnosticMessage = textShutdown
		}
		controls = le.Controls
		if le.Reason != "" {
			o.reason = le.Reason
		}
		buf = nil // no partial results
	case pe != nil:
		r = ldapwire.Result{Code: ldap.LDAPResultOther, DiagnosticMessage: textInternal}
		controls, buf = nil, nil
		c.log().Error("panic in operation", "op", o.name, "client", c.client, "msgid", o.id, "panic", pe.value, "stack", string(pe.stack))
	default:
		r = ldapwire.Result{Code: ldap.LDAPResultOther, DiagnosticMessage: textInternal}
		controls, buf = nil, nil
	}
	var out []byte
	pooled := len(buf) == 0
	if pooled {
		// A result alone: build it in a reused buffer (c.write is done
		// with it when it returns).
		bp := respBufs.Get().(*[]byte)
		defer func() {
			if cap(out) <= 4<<10 {
				*bp = out[:0]
				respBufs.Put(bp)
			}
		}()
		out = (*bp)[:0]
	} else {
		out = buf
	}
	switch o.respTag {
	case ldapwire.TagBindResponse:
		out = ldapwire.AppendBindResponse(out, o.id, r, controls)
	case ldapwire.TagExtendedResponse:
		name, value, has := o.respName, o.respValue, o.hasValue
		if err != nil {
			name, value, has = "", nil, false
		}
		out = ldapwire.AppendExtendedResponse(out, o.id, r, name, value, has, controls)
	default:
		out = ldapwire.AppendResult(out, o.id, o.respTag, r, controls)
	}
	code := r.Code
	switch {
	case o.hungUp.Load():
		code = NoResult // nobody to answer
	case !o.abandoned.Load():
		c.write(out)
	}
	// One clock reading for the log line and the metrics.
	end := time.Now()
	c.logResult(o, code, err, pe != nil, end)
	c.observe(o, code, end)
}

// classify finds the LDAP error or the panic in err (called only for a
// non-nil err: the targets of errors.As escape, and a successful bind
// should not pay for them).
func classify(err error) (le *ldapError, pe *panicError) {
	if !errors.As(err, &le) {
		le = nil
	}
	if !errors.As(err, &pe) {
		pe = nil
	}
	return le, pe
}

// logResult writes the one log line of an operation: every bind, and any
// other operation that did not succeed. isPanic: err holds a recovered
// panic (respond has classified it already). end: when it was answered.
func (c *conn) logResult(o *op, code int, err error, isPanic bool, end time.Time) {
	level := slog.LevelDebug
	switch {
	case code == NoResult:
		// The client hung up while the operation waited (held by the
		// throttle or busy backoff, queued for hashing): one Debug line,
		// whatever the wait was ended with.
	case code == ldap.LDAPResultOther:
		level = slog.LevelError
	case o.name == "bind" || o.name == "passwd":
		level = slog.LevelInfo
	case code != ldap.LDAPResultSuccess && code != ldap.LDAPResultCompareFalse && code != ldap.LDAPResultCompareTrue:
		level = slog.LevelInfo
	}
	if isPanic && level == slog.LevelError {
		// Already logged with its stack.
		return
	}
	log := c.log()
	if !log.Enabled(context.Background(), level) {
		// Filtered out ([log] level): do not build the line at all.
		return
	}
	// The record is built here and handed to the handler: slog.Logger
	// would box every value into an []any and look up the caller's PC
	// (runtime.Callers) for a source location bindery never prints.
	r := slog.NewRecord(end, level, o.name, 0)
	r.AddAttrs(slog.String("op", o.name), slog.String("client", c.client), slog.Int64("msgid", o.id),
		slog.Int("code", code), slog.Duration("duration", end.Sub(o.start)))
	if o.reason != "" {
		r.AddAttrs(slog.String("reason", string(o.reason)))
	}
	r.AddAttrs(o.logAttrs...)
	if o.abandoned.Load() {
		r.AddAttrs(slog.Bool("abandoned", true))
	}
	if code == NoResult {
		r.AddAttrs(slog.Bool("hung_up", true))
	} else if err != nil && !isPanic {
		r.AddAttrs(slog.String("err", err.Error()))
	}
	_ = log.Handler().Handle(context.Background(), r)
}
