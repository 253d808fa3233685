package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/bindery/bindery/internal/proxyhdr"
	"github.com/bindery/bindery/proxy/names"
	"github.com/go-ldap/ldap/v3"
)

// Reasons the read loop stops that are not errors of the stream itself.
var (
	errShutdown = errors.New("server is shutting down")
	errIdle     = errors.New("idle timeout")
)

// identityKind is what a connection is bound as.
type identityKind int

const (
	anonymous identityKind = iota
	personIdentity
	serviceIdentity
)

// identity is the bound identity of a connection. Routes and service
// accounts are looked up again by each operation in the Routes it
// started with, so a reload takes effect on bound connections too.
type identity struct {
	kind       identityKind
	id         string // normalised login ID, or the service account's name
	route      string // route name (person)
	mustChange bool   // session restricted to a password change
}

// dn returns the DN the identity is bound as ("" when anonymous). It is
// built when asked (WhoAmI, Password Modify), not by every bind.
func (id identity) dn(p *names.Parser) string {
	switch id.kind {
	case personIdentity:
		return p.PersonDN(id.id)
	case serviceIdentity:
		return p.ServiceDN(id.id)
	}
	return ""
}

// conn is one client connection. One goroutine (serve) reads requests; most
// operations run in their own goroutines; writes are serialised by wmu.
type conn struct {
	srv    *Server
	client string
	ctx    context.Context
	cancel context.CancelFunc
	br     *bufio.Reader // used by the reader goroutine only
	isTLS  atomic.Bool

	wmu    sync.Mutex // serialises writes; nc is swapped holding wmu and mu
	closed bool       // under wmu
	nc     net.Conn

	mu           sync.Mutex
	ops          map[int64]*op // operations in flight by message ID
	inflight     int
	lastActivity time.Time
	requested    bool // a request has been read (the shutdown grace is shorter then)
	shutdown     bool
	ident        identity

	busyUntil atomic.Int64 // Unix ns before which the next bind waits (BusyBackoff)
	hangup    hangupWatch  // of the bind running on the reader (hangup.go)

	wg        sync.WaitGroup // operations in flight (Add only by the reader)
	forceCh   chan struct{}
	forceOnce sync.Once
}

func newConn(s *Server, nc net.Conn, isTLS bool) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv:          s,
		client:       nc.RemoteAddr().String(),
		ctx:          ctx,
		cancel:       cancel,
		nc:           nc,
		br:           bufio.NewReader(nc),
		ops:          make(map[int64]*op),
		lastActivity: time.Now(),
		forceCh:      make(chan struct{}),
	}
	c.isTLS.Store(isTLS)
	return c
}

func (c *conn) log() *slog.Logger { return c.srv.logger() }

func (c *conn) identity() identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ident
}

func (c *conn) setIdentity(id identity) {
	c.mu.Lock()
	c.ident = id
	c.mu.Unlock()
}

// serve runs the read loop until the client leaves, the stream breaks, the
// connection idles out or the server shuts down.
func (c *conn) serve() {
	defer c.close()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.handshake(tc); err != nil {
			if errors.Is(err, proxyhdr.ErrRefused) {
				c.srv.proxyRefused(c.nc.RemoteAddr(), err)
				return
			}
			c.log().Debug("tls handshake failed", "client", c.client, "err", err)
			return
		}
	}
	for {
		m, err := c.readMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		if !c.dispatch(m) {
			return
		}
	}
}

func (c *conn) handshake(tc *tls.Conn) error {
	tc.SetDeadline(time.Now().Add(c.srv.readTimeout()))
	err := tc.HandshakeContext(c.ctx)
	tc.SetDeadline(time.Time{})
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readMessage waits for the next request with the idle deadline (kept
// open while operations are in flight), then reads it with ReadTimeout.
// Once the server shuts down, only a request that arrives within
// shutdownGrace of the shutdown is still read (readLast).
func (c *conn) readMessage() (*ldapwire.Message, error) {
	idle := c.srv.idleTimeout()
	for {
		c.mu.Lock()
		if c.shutdown {
			c.mu.Unlock()
			return c.readLast()
		}
		deadline := c.lastActivity.Add(idle)
		if c.inflight > 0 {
			deadline = time.Now().Add(idle)
		}
		c.nc.SetReadDeadline(deadline)
		c.mu.Unlock()

		_, err := c.br.Peek(1)
		if err == nil {
			break
		}
		if !isTimeout(err) {
			return nil, err
		}
		c.mu.Lock()
		busy := c.inflight > 0 || time.Since(c.lastActivity) < idle
		shutdown := c.shutdown
		c.mu.Unlock()
		if shutdown {
			return c.readLast()
		}
		if !busy {
			return nil, errIdle
		}
	}
	c.mu.Lock()
	if c.shutdown {
		c.mu.Unlock()
		return c.readLast()
	}
	c.nc.SetReadDeadline(time.Now().Add(c.srv.readTimeout()))
	c.mu.Unlock()
	m, err := ldapwire.ReadMessage(c.br, c.srv.maxRequestBytes())
	c.mu.Lock()
	c.lastActivity = time.Now()
	c.requested = true
	shutdown := c.shutdown
	c.mu.Unlock()
	if err != nil && shutdown {
		return nil, errShutdown
	}
	return m, err
}

// shutdownGrace is how long after a shutdown began a request may still
// arrive and be answered. It covers a client that connected just before
// the listener closed and whose first request is on its way (a restart
// with systemd's sockets hands every later connection to the new
// process), and a client's second request right after its bind.
const shutdownGrace = 250 * time.Millisecond

// firstRequestGrace is the grace of a connection that has sent nothing yet
// when the shutdown begins (at most ReadTimeout): a client that has just
// connected is sending its bind, and closing it unanswered would refuse a
// login that a restart with systemd's sockets promises to keep.
const firstRequestGrace = 2 * time.Second

// readLast reads one more request during a shutdown, under the deadline
// beginShutdown set; nothing there in time is errShutdown.
func (c *conn) readLast() (*ldapwire.Message, error) {
	if _, err := c.br.Peek(1); err != nil {
		return nil, errShutdown
	}
	m, err := ldapwire.ReadMessage(c.br, c.srv.maxRequestBytes())
	if err != nil {
		return nil, errShutdown
	}
	return m, nil
}

// readFailed ends the connection after the read loop stopped.
func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, errShutdown):
		c.drain()
		c.notice(ldap.LDAPResultUnavailable, textShutdown)
	case errors.Is(err, ldapwire.ErrTooLarge):
		c.log().Warn("request too large; closing connection", "client", c.client, "max_request_bytes", c.srv.maxRequestBytes())
		c.srv.observer().ConnRejected("too_large")
		c.notice(ldap.LDAPResultProtocolError, "request too large")
	case errors.Is(err, ldapwire.ErrMalformed):
		c.log().Warn("malformed request; closing connection", "client", c.client, "err", err)
		c.srv.observer().ConnRejected("malformed")
		c.notice(ldap.LDAPResultProtocolError, "malformed request")
	case errors.Is(err, proxyhdr.ErrRefused):
		c.srv.proxyRefused(c.nc.RemoteAddr(), err)
	case errors.Is(err, errIdle):
		c.log().Debug("idle connection closed", "client", c.client)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		// The client went away.
	case isTimeout(err):
		c.log().Info("request not read in time; closing connection", "client", c.client)
		c.srv.observer().ConnRejected("read_timeout")
	default:
		c.log().Debug("read failed; closing connection", "client", c.client, "err", err)
	}
}

// drain waits until every operation in flight has finished, or until the
// shutdown deadline forces the connection closed.
func (c *conn) drain() {
	c.mu.Lock()
	idle := c.inflight == 0 // only the reader starts operations, and it is here
	c.mu.Unlock()
	if idle {
		// Every operation has answered (finish runs after respond); its
		// wg.Done may still be on its way, but nothing is left to wait for.
		return
	}
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-c.forceCh:
	}
}

// waitIdle waits until every operation in flight has finished (before a
// Bind or StartTLS, RFC 4511 §4.2.1 and §4.14.1). The reader does not read
// meanwhile.
func (c *conn) waitIdle() { c.drain() }

// dispatch starts one request. It returns false when the connection must
// close (Unbind, failed StartTLS handshake).
func (c *conn) dispatch(m *ldapwire.Message) bool {
	switch req := m.Op.(type) {
	case *ldapwire.UnbindRequest:
		return false
	case *ldapwire.AbandonRequest:
		c.abandon(req.MessageID)
		return true
	case *ldapwire.BindRequest:
		c.waitIdle()
		c.run(c.newOp(m))
		return true
	case *ldapwire.ExtendedRequest:
		if req.OID == ldapwire.OIDStartTLS {
			c.waitIdle()
			return c.startTLS(c.newOp(m))
		}
	}
	o := c.newOp(m)
	c.mu.Lock()
	if c.inflight >= c.srv.maxOpsPerConn() {
		c.mu.Unlock()
		c.respond(o, newError(ldap.LDAPResultBusy, textTooManyOps))
		o.cancel()
		return true
	}
	c.inflight++
	c.ops[m.ID] = o
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.finish(o)
		c.run(o)
	}()
	return true
}

// finish forgets an asynchronous operation once it has answered.
func (c *conn) finish(o *op) {
	o.cancel()
	c.mu.Lock()
	if c.ops[o.id] == o {
		delete(c.ops, o.id)
	}
	c.inflight--
	c.lastActivity = time.Now()
	c.mu.Unlock()
	c.wg.Done()
}

// abandon cancels the operation with the given message ID, if it is still
// running; it will send nothing more.
func (c *conn) abandon(id int64) {
	c.mu.Lock()
	o := c.ops[id]
	c.mu.Unlock()
	if o != nil {
		o.abandoned.Store(true)
		o.cancel()
	}
}

// write sends one complete response with one Write call. A failed write
// closes the connection.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.writeTimeout()))
	_, err := c.nc.Write(b)
	if err != nil {
		c.closed = true
		c.cancel()
		c.nc.Close()
	}
	return err
}

// notice sends a Notice of Disconnection; the connection closes after it.
func (c *conn) notice(code int, diag string) {
	c.write(ldapwire.AppendNoticeOfDisconnection(nil, code, diag))
}

// close ends the connection and cancels whatever still runs on it.
func (c *conn) close() {
	c.cancel()
	c.wmu.Lock()
	c.closed = true
	c.nc.Close()
	c.wmu.Unlock()
}

// beginShutdown makes the reader stop reading once the requests that
// arrive within shutdownGrace are read; it then waits for the operations
// in flight, sends the notice and closes.
func (c *conn) beginShutdown() {
	c.mu.Lock()
	grace := shutdownGrace
	if !c.requested {
		grace = min(firstRequestGrace, c.srv.readTimeout())
	}
	c.shutdown = true
	c.nc.SetReadDeadline(time.Now().Add(grace))
	c.mu.Unlock()
}

// force is Shutdown's deadline: cancel everything, send the notice if the
// writer is free, and close at once.
func (c *conn) force() {
	c.forceOnce.Do(func() {
		close(c.forceCh)
		c.cancel()
		if c.wmu.TryLock() {
			if !c.closed {
				c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				c.nc.Write(ldapwire.AppendNoticeOfDisconnection(nil, ldap.LDAPResultUnavailable, textShutdown))
				c.closed = true
				c.nc.Close()
			}
			c.wmu.Unlock()
		} else {
			c.mu.Lock()
			nc := c.nc
			c.mu.Unlock()
			nc.Close()
		}
	})
}
