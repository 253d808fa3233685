package ldapbackend

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/go-ldap/ldap/v3"
)

// longAgo is a deadline in the past: setting it aborts pending I/O at once.
var longAgo = time.Unix(1, 0)

// maxResponseBytes bounds one message from the upstream (one search entry,
// or one result).
const maxResponseBytes = 16 << 20

// errDisconnected is a Notice of Disconnection from the upstream.
var errDisconnected = errors.New("the server closed the connection (notice of disconnection)")

// conn is one upstream connection, used by one caller at a time.
//
// It is a small synchronous LDAP client (wire's client half): each request
// is encoded into one buffer and written with one syscall, and its answer
// read through a bufio.Reader on the caller's goroutine; no goroutine per
// connection or per operation. The caller's deadline is set on the socket
// for each operation, and a cancelled context sets a deadline in the past.
// Either way the blocked read fails and the connection is marked broken
// and never reused.
//
// Results mirror go-ldap's: an LDAP result code other than success is a
// *ldap.Error (so ldap.IsErrorWithCode works on it); a transport or
// protocol failure is any other error.
type conn struct {
	nc      net.Conn // what requests are written to: raw, or TLS over raw
	raw     net.Conn // the TCP socket under any TLS
	r       *bufio.Reader
	buf     []byte // request encoding, reused
	msgID   int64
	urlIdx  int
	created time.Time
	reused  bool // taken from the idle list rather than dialled for this call
	broken  bool // must be closed, never reused
	// asUser is set after a successful user bind: the connection holds
	// that user's identity until the next bind (see pool.neutralize).
	asUser   bool
	lastUsed time.Time
	observe  func(op string, d time.Duration) // Config.ObserveRequest; nil: none
}

// timed reports the duration of one upstream request that started at t0.
func (c *conn) timed(op string, t0 time.Time) {
	if c.observe != nil {
		c.observe(op, time.Since(t0))
	}
}

// dial opens a connection to upstream idx: TCP (bounded by ctx and the
// dialer timeout), the TLS handshake for ldaps://, then StartTLS when
// configured.
func dial(ctx context.Context, s *settings, idx int) (*conn, error) {
	up := s.upstreams[idx]
	d := net.Dialer{Timeout: s.Timeout}
	raw, err := d.DialContext(ctx, "tcp", up.hostport)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &conn{nc: raw, raw: raw, urlIdx: idx, created: time.Now(), observe: s.ObserveRequest}
	if up.ldaps {
		tc := tls.Client(raw, up.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		c.nc = tc
	}
	c.r = bufio.NewReader(c.nc)
	if s.StartTLS {
		if err := c.startTLS(ctx, up.tls); err != nil {
			go c.close()
			return nil, fmt.Errorf("starttls: %w", err)
		}
	}
	return c, nil
}

// begin bounds the I/O of one operation by ctx; end must be called after
// it. It returns an error at once when ctx has already ended.
func (c *conn) begin(ctx context.Context) (end func(), err error) {
	if c.broken {
		return nil, errors.New("connection is broken")
	}
	if err := ctx.Err(); err != nil {
		c.broken = true
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.raw.SetDeadline(longAgo) })
	return func() {
		if !stop() {
			// ctx ended during the operation: the deadline may have cut
			// it short, and stays in the past.
			c.broken = true
		}
		c.lastUsed = time.Now()
	}, nil
}

// send writes one request with a new message ID, encoded by enc.
func (c *conn) send(enc func(dst []byte, id int64) []byte) (int64, error) {
	c.msgID++
	if c.msgID > 1<<31-1 {
		c.msgID = 1
	}
	c.buf = enc(c.buf[:0], c.msgID)
	if _, err := c.nc.Write(c.buf); err != nil {
		c.broken = true
		return 0, fmt.Errorf("write: %w", err)
	}
	if cap(c.buf) > 64<<10 {
		c.buf = nil // do not keep a big listing request around
	}
	return c.msgID, nil
}

// recv reads the next response to request id. Intermediate responses are
// skipped; a Notice of Disconnection or any other unsolicited message
// breaks the connection.
func (c *conn) recv(id int64) (*ldapwire.Response, error) {
	for {
		body, err := ldapwire.ReadFrame(c.r, maxResponseBytes)
		if err != nil {
			c.broken = true
			return nil, fmt.Errorf("read: %w", err)
		}
		resp, err := ldapwire.DecodeResponse(body)
		if err != nil {
			c.broken = true
			return nil, err
		}
		switch {
		case resp.ID == 0:
			c.broken = true
			if resp.Tag == ldapwire.TagExtendedResponse {
				return nil, fmt.Errorf("%w: %d %s", errDisconnected, resp.Result.Code, resp.Result.DiagnosticMessage)
			}
			return nil, fmt.Errorf("%w: unsolicited message with tag %d", ldapwire.ErrMalformed, resp.Tag)
		case resp.ID != id:
			c.broken = true
			return nil, fmt.Errorf("%w: response to message %d while waiting for %d", ldapwire.ErrMalformed, resp.ID, id)
		case resp.Tag == ldapwire.TagIntermediateResponse:
			continue
		}
		return resp, nil
	}
}

// resultError is nil for success and a *ldap.Error otherwise, shaped like
// go-ldap's.
func resultError(r ldapwire.Result) error {
	if r.Code == ldap.LDAPResultSuccess {
		return nil
	}
	return &ldap.Error{ResultCode: uint16(r.Code), MatchedDN: r.MatchedDN, Err: errors.New(r.DiagnosticMessage)}
}

// expect checks that a response has the tag the request calls for.
func (c *conn) expect(resp *ldapwire.Response, tag int) error {
	if resp.Tag != tag {
		c.broken = true
		return fmt.Errorf("%w: response tag %d, want %d", ldapwire.ErrMalformed, resp.Tag, tag)
	}
	return nil
}

// bind makes a simple bind; an empty dn and password is an anonymous bind.
func (c *conn) bind(ctx context.Context, dn, password string) error {
	end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	defer c.timed("bind", time.Now())
	c.asUser = false
	id, err := c.send(func(dst []byte, id int64) []byte { return ldapwire.AppendBindRequest(dst, id, dn, password, nil) })
	if err != nil {
		return err
	}
	resp, err := c.recv(id)
	if err != nil {
		return err
	}
	if err := c.expect(resp, ldapwire.TagBindResponse); err != nil {
		return err
	}
	return resultError(resp.Result)
}

// search runs req and gathers its entries, like go-ldap's Conn.Search: on
// a result code other than success the entries read so far are returned
// with the *ldap.Error. Referrals are collected, not followed. Of
// req.Controls only the paged results control is supported.
func (c *conn) search(ctx context.Context, req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	filter, err := ldap.CompileFilter(req.Filter)
	if err != nil {
		return nil, fmt.Errorf("search filter %q: %w", req.Filter, err)
	}
	controls, err := wireControls(req.Controls)
	if err != nil {
		return nil, err
	}
	s := ldapwire.ClientSearch{
		BaseDN: req.BaseDN, Scope: int64(req.Scope), DerefAliases: int64(req.DerefAliases),
		SizeLimit: int64(req.SizeLimit), TimeLimit: int64(req.TimeLimit), TypesOnly: req.TypesOnly,
		Filter: filter.Bytes(), Attributes: req.Attributes,
	}
	end, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	defer c.timed("search", time.Now())
	id, err := c.send(func(dst []byte, id int64) []byte { return ldapwire.AppendSearchRequest(dst, id, s, controls) })
	if err != nil {
		return nil, err
	}
	res := &ldap.SearchResult{}
	for {
		resp, err := c.recv(id)
		if err != nil {
			return nil, err
		}
		switch resp.Tag {
		case ldapwire.TagSearchResultEntry:
			res.Entries = append(res.Entries, toLDAPEntry(resp))
		case ldapwire.TagSearchResultReference:
			res.Referrals = append(res.Referrals, resp.URIs...)
		case ldapwire.TagSearchResultDone:
			for _, wc := range resp.Controls {
				res.Controls = append(res.Controls, fromWireControl(wc))
			}
			return res, resultError(resp.Result)
		default:
			return nil, c.expect(resp, ldapwire.TagSearchResultDone)
		}
	}
}

// startTLS sends the StartTLS extended operation and, when the server
// agrees, makes the TLS handshake over the same socket.
func (c *conn) startTLS(ctx context.Context, cfg *tls.Config) error {
	end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	id, err := c.send(func(dst []byte, id int64) []byte {
		return ldapwire.AppendExtendedRequest(dst, id, ldapwire.OIDStartTLS, nil, false, nil)
	})
	if err != nil {
		return err
	}
	resp, err := c.recv(id)
	if err != nil {
		return err
	}
	if err := c.expect(resp, ldapwire.TagExtendedResponse); err != nil {
		return err
	}
	if err := resultError(resp.Result); err != nil {
		c.broken = true
		return err
	}
	if c.r.Buffered() > 0 {
		c.broken = true
		return fmt.Errorf("%w: data after the StartTLS response", ldapwire.ErrMalformed)
	}
	tc := tls.Client(c.raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.broken = true
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.nc = tc
	c.r.Reset(tc)
	return nil
}

// toLDAPEntry converts a search result entry to go-ldap's form, which the
// attribute mapping reads.
func toLDAPEntry(resp *ldapwire.Response) *ldap.Entry {
	e := &ldap.Entry{DN: resp.DN, Attributes: make([]*ldap.EntryAttribute, len(resp.Attributes))}
	for i, a := range resp.Attributes {
		ea := &ldap.EntryAttribute{Name: a.Type, Values: make([]string, len(a.Values)), ByteValues: a.Values}
		for j, v := range a.Values {
			ea.Values[j] = string(v)
		}
		e.Attributes[i] = ea
	}
	return e
}

// wireControls encodes request controls; only paging is ever sent.
func wireControls(cs []ldap.Control) ([]ldapwire.Control, error) {
	var out []ldapwire.Control
	for _, c := range cs {
		p, ok := c.(*ldap.ControlPaging)
		if !ok {
			return nil, fmt.Errorf("request control %s is not supported", c.GetControlType())
		}
		wc := ldapwire.PagedResultsControl(int64(p.PagingSize), p.Cookie)
		out = append(out, wc)
	}
	return out, nil
}

// fromWireControl converts a response control for go-ldap's helpers
// (ldap.FindControl): the paged results control decoded, others as strings.
func fromWireControl(wc ldapwire.Control) ldap.Control {
	if wc.OID == ldapwire.OIDPagedResults {
		if size, cookie, err := ldapwire.DecodePagedResults(wc.Value); err == nil {
			return &ldap.ControlPaging{PagingSize: uint32(size), Cookie: cookie}
		}
	}
	return ldap.NewControlString(wc.OID, wc.Critical, string(wc.Value))
}

// close aborts pending I/O, says goodbye when the connection is healthy,
// and closes it.
func (c *conn) close() {
	if !c.broken {
		_ = c.raw.SetDeadline(time.Now().Add(100 * time.Millisecond))
		c.msgID++
		_, _ = c.nc.Write(ldapwire.AppendUnbindRequest(nil, c.msgID))
	}
	c.broken = true
	_ = c.raw.SetDeadline(longAgo)
	_ = c.nc.Close()
	_ = c.raw.Close()
}

// idleAlive reports whether an idle connection still looks usable: no
// unread bytes (an idle connection has nothing to read but a Notice of
// Disconnection) and no end of stream, peeked at the socket without
// blocking or consuming anything.
func (c *conn) idleAlive() bool {
	if c.broken || c.r.Buffered() > 0 {
		return false
	}
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && alive
}
