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
	"github.com/bindery/bindery/proxy/wire"
	"github.com/go-ldap/ldap/v3"
)

// op is one request being answered.
type op struct {
	c         *conn
	msg       *wire.Message
	id        int64
	ctx       context.Context
	cancel    context.CancelFunc
	dir       *Directory // the Directory this operation started with
	abandoned atomic.Bool
	start     time.Time
	respTag   int

	// Filled by the handler for a successful answer.
	code      int    // result code when the handler returns nil (0, or 5/6 for Compare, 4 for a size limit)
	diag      string // diagnostic for that code
	buf       []byte // search entries, already encoded
	controls  []wire.Control
	respName  string // extended response name
	respValue []byte // extended response value
	hasValue  bool

	// For the log line and the Observer.
	name     string // operation name
	reason   backend.Reason
	logArgs  []any
	logBuf   [12]any   // logArgs' first backing array: a bind's details fit
	bindInfo *bindInfo // binds only
}

func (c *conn) newOp(m *wire.Message) *op {
	ctx, cancel := context.WithCancel(c.ctx)
	o := &op{
		c:       c,
		msg:     m,
		id:      m.ID,
		ctx:     ctx,
		cancel:  cancel,
		dir:     c.srv.dir.Load(),
		start:   time.Now(),
		respTag: responseTag(m),
	}
	o.name = opName(m)
	o.logArgs = o.logBuf[:0]
	return o
}

// backendCtx returns a context for one backend call, bounded by
// BackendTimeout.
func (o *op) backendCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(o.ctx, o.c.srv.backendTimeout())
}

// hasControl reports whether the request carried the control.
func (o *op) hasControl(oid string) bool {
	_, ok := wire.FindControl(o.msg.Controls, oid)
	return ok
}

func (o *op) log(args ...any) { o.logArgs = append(o.logArgs, args...) }

// responseTag is the application tag of the response to m (an
// ExtendedResponse for a request whose operation has none).
func responseTag(m *wire.Message) int {
	switch req := m.Op.(type) {
	case *wire.BindRequest:
		return wire.TagBindResponse
	case *wire.SearchRequest:
		return wire.TagSearchResultDone
	case *wire.CompareRequest:
		return wire.TagCompareResponse
	case *wire.UnsupportedRequest:
		if req.ResponseTag >= 0 {
			return req.ResponseTag
		}
	}
	return wire.TagExtendedResponse
}

func opName(m *wire.Message) string {
	switch req := m.Op.(type) {
	case *wire.BindRequest:
		return "bind"
	case *wire.SearchRequest:
		return "search"
	case *wire.CompareRequest:
		return "compare"
	case *wire.ExtendedRequest:
		switch req.OID {
		case wire.OIDWhoAmI:
			return "whoami"
		case wire.OIDPasswordModify:
			return "passwd"
		case wire.OIDStartTLS:
			return "starttls"
		}
		return "extended"
	case *wire.UnsupportedRequest:
		switch req.Tag {
		case wire.TagModifyRequest:
			return "modify"
		case wire.TagAddRequest:
			return "add"
		case wire.TagDelRequest:
			return "delete"
		case wire.TagModifyDNRequest:
			return "modrdn"
		}
		return "unknown"
	}
	return "unknown"
}

// knownControls are the request controls bindery understands; an unknown
// control marked critical fails the operation with 12.
var knownControls = map[string]bool{
	wire.OIDPasswordPolicy: true,
	wire.OIDPagedResults:   true,
	wire.OIDManageDsaIT:    true,
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
	if c.identity().mustChange && !allowedWhenRestricted(o.msg) {
		return newError(ldap.LDAPResultInsufficientAccessRights, textRestricted)
	}
	switch req := o.msg.Op.(type) {
	case *wire.BindRequest:
		return c.bind(o, req)
	case *wire.SearchRequest:
		return c.search(o, req)
	case *wire.CompareRequest:
		return c.compare(o, req)
	case *wire.ExtendedRequest:
		switch req.OID {
		case wire.OIDWhoAmI:
			return c.whoAmI(o)
		case wire.OIDPasswordModify:
			return c.passwordModify(o, req)
		}
		o.log("oid", req.OID)
		return newError(ldap.LDAPResultProtocolError, textUnsupportedExt)
	case *wire.UnsupportedRequest:
		if req.ResponseTag < 0 {
			o.log("tag", req.Tag)
			return newError(ldap.LDAPResultProtocolError, textUnsupportedOp)
		}
		return newError(ldap.LDAPResultUnwillingToPerform, textReadOnly)
	}
	return newError(ldap.LDAPResultProtocolError, textUnsupportedOp)
}

// allowedWhenRestricted lists what a must-change session may still do
// (Unbind and Abandon never reach the handlers).
func allowedWhenRestricted(m *wire.Message) bool {
	switch req := m.Op.(type) {
	case *wire.BindRequest:
		return true
	case *wire.ExtendedRequest:
		return req.OID == wire.OIDStartTLS || req.OID == wire.OIDPasswordModify
	}
	return false
}

// respBufs holds buffers for responses that are a result alone (binds).
var respBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// respond turns the handler's outcome into one response, writes it (unless
// the operation was abandoned) and logs once.
func (c *conn) respond(o *op, err error) {
	r := wire.Result{Code: o.code, DiagnosticMessage: o.diag}
	controls := o.controls
	buf := o.buf
	var le *ldapError
	var pe *panicError
	switch {
	case err == nil:
	case errors.As(err, &le):
		r = wire.Result{Code: le.Code, DiagnosticMessage: le.Diag}
		controls = le.Controls
		if le.Reason != "" {
			o.reason = le.Reason
		}
		buf = nil // no partial results
	case errors.As(err, &pe):
		r = wire.Result{Code: ldap.LDAPResultOther, DiagnosticMessage: textInternal}
		controls, buf = nil, nil
		c.log().Error("panic in operation", "op", o.name, "client", c.client, "msgid", o.id, "panic", pe.value, "stack", string(pe.stack))
	default:
		r = wire.Result{Code: ldap.LDAPResultOther, DiagnosticMessage: textInternal}
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
	case wire.TagBindResponse:
		out = wire.AppendBindResponse(out, o.id, r, controls)
	case wire.TagExtendedResponse:
		name, value, has := o.respName, o.respValue, o.hasValue
		if err != nil {
			name, value, has = "", nil, false
		}
		out = wire.AppendExtendedResponse(out, o.id, r, name, value, has, controls)
	default:
		out = wire.AppendResult(out, o.id, o.respTag, r, controls)
	}
	if !o.abandoned.Load() {
		c.write(out)
	}
	c.logResult(o, r.Code, err)
	c.observe(o, r.Code)
}

// logResult writes the one log line of an operation: every bind, and any
// other operation that did not succeed.
func (c *conn) logResult(o *op, code int, err error) {
	var pe *panicError
	isPanic := err != nil && errors.As(err, &pe)
	level := slog.LevelDebug
	switch {
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
	args := make([]any, 0, 10+len(o.logArgs)+6)
	args = append(args, "op", o.name, "client", c.client, "msgid", o.id, "code", code, "duration", time.Since(o.start))
	if o.reason != "" {
		args = append(args, "reason", string(o.reason))
	}
	args = append(args, o.logArgs...)
	if o.abandoned.Load() {
		args = append(args, "abandoned", true)
	}
	if err != nil && !isPanic {
		args = append(args, "err", err.Error())
	}
	log.Log(context.Background(), level, o.name, args...)
}
