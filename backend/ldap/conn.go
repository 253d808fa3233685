package ldapbackend

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// longAgo is a deadline in the past: setting it aborts pending I/O at once.
var longAgo = time.Unix(1, 0)

// conn is one upstream connection, used by one caller at a time.
//
// go-ldap's API takes no context, so conn bounds each operation itself: it
// sets the caller's deadline on the TCP socket for the duration of the
// operation, and a cancelled context sets a deadline in the past. Either
// way the blocked read fails, go-ldap closes the connection and the
// operation returns; the connection is then marked broken and never reused.
type conn struct {
	lc      *ldap.Conn
	raw     net.Conn // the TCP socket under any TLS
	urlIdx  int
	created time.Time
	reused  bool // taken from the idle list rather than dialled for this call
	broken  bool // must be closed, never reused
}

// dial opens a connection to upstream idx: TCP (bounded by ctx and the
// dialer timeout), the TLS handshake for ldaps://, then StartTLS when
// configured. go-ldap's NewConn+Start is what ldap.DialURL does; dialling
// ourselves keeps the raw socket for deadlines.
func dial(ctx context.Context, s *settings, idx int) (*conn, error) {
	up := s.upstreams[idx]
	d := net.Dialer{Timeout: s.Timeout}
	raw, err := d.DialContext(ctx, "tcp", up.hostport)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	nc := raw
	if up.ldaps {
		tc := tls.Client(raw, up.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	lc := ldap.NewConn(nc, up.ldaps)
	lc.Start()
	lc.SetTimeout(s.Timeout)
	c := &conn{lc: lc, raw: raw, urlIdx: idx, created: time.Now()}
	if s.StartTLS {
		if err := c.run(ctx, func(l *ldap.Conn) error { return l.StartTLS(up.tls) }); err != nil {
			go c.close()
			return nil, fmt.Errorf("starttls: %w", err)
		}
	}
	return c, nil
}

// run calls fn with the connection's I/O bounded by ctx; see do.
func (c *conn) run(ctx context.Context, fn func(*ldap.Conn) error) error {
	_, err := do(ctx, c, func(l *ldap.Conn) (struct{}, error) { return struct{}{}, fn(l) })
	return err
}

// do calls fn on c's go-ldap connection and returns its result, or returns
// as soon as ctx ends (go-ldap's own shutdown can take several of its
// request timeouts). fn runs in its own goroutine: it must not write to
// variables it shares with the caller, only return its result. A transport
// error, an ended ctx, or a closed connection marks c broken.
func do[T any](ctx context.Context, c *conn, fn func(*ldap.Conn) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.raw.SetDeadline(dl)
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn(c.lc)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil && isTransport(r.err) {
			c.broken = true
		}
		if c.lc.IsClosing() {
			c.broken = true
		}
		if !c.broken {
			_ = c.raw.SetDeadline(time.Time{})
		}
		return r.v, r.err
	case <-ctx.Done():
		// Abort the pending I/O; the goroutine ends once go-ldap notices.
		c.broken = true
		_ = c.raw.SetDeadline(longAgo)
		return zero, ctx.Err()
	}
}

// close aborts pending I/O and closes the connection. It can block for a
// while inside go-ldap; callers that are answering someone run it in its
// own goroutine.
func (c *conn) close() {
	_ = c.raw.SetDeadline(longAgo)
	_ = c.lc.Close()
	_ = c.raw.Close()
}
