// Package proxyhdr reads the PROXY protocol header (v1 text or v2 binary,
// as HAProxy's send-proxy and send-proxy-v2 write it) that a load
// balancer puts before a client's bytes, and only from senders it trusts.
// The header is parsed by github.com/pires/go-proxyproto.
//
// A connection from a trusted address must begin with a valid header; the
// address in it becomes the connection's RemoteAddr. A connection from any
// other address that begins with a header is refused: nobody may claim
// another address. See the README in this folder.
package proxyhdr

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"
)

// ErrRefused is wrapped by every error of a refused connection: a trusted
// sender without a valid header, or an untrusted one with a header.
var ErrRefused = errors.New("proxy protocol: connection refused")

// DefaultTimeout bounds the header read when Policy.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Policy says whose PROXY headers count. Its zero value trusts nobody and
// is off: Wrap returns connections as they are.
type Policy struct {
	// From lists the senders (load balancers) that must send a header.
	From []netip.Prefix
	// Timeout bounds the read of a trusted sender's header. Default 30s.
	Timeout time.Duration
	// Refused, when set, is called once for each connection refused, with
	// the sender's address and the reason (an error wrapping ErrRefused).
	Refused func(peer net.Addr, err error)
}

// On reports whether any sender is trusted; when it is not, headers are
// not looked for at all (a header is then just bytes the protocol above
// rejects).
func (p *Policy) On() bool { return p != nil && len(p.From) > 0 }

// Trusted reports whether addr (a *net.TCPAddr or any host:port) is a
// listed sender.
func (p *Policy) Trusted(addr net.Addr) bool {
	ip, ok := addrIP(addr)
	if !ok {
		return false
	}
	for _, pf := range p.From {
		if pf.Contains(ip) {
			return true
		}
	}
	return false
}

func addrIP(a net.Addr) (netip.Addr, bool) {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, ok := netip.AddrFromSlice(ta.IP)
		return ip.Unmap(), ok
	}
	if a == nil {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

func (p *Policy) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// Wrap returns nc ready for the protocol above when the policy is on:
// a *Conn whose header (from a trusted sender) is read on the first Read,
// Write or RemoteAddr, or at once with Conn.ReadHeader. Off, nc itself.
func (p *Policy) Wrap(nc net.Conn) net.Conn {
	if !p.On() {
		return nc
	}
	return &Conn{Conn: nc, policy: p, trusted: p.Trusted(nc.RemoteAddr())}
}

// Listener wraps every accepted connection with Policy.Wrap. Accept does
// not read anything: the header is read by the connection's own goroutine
// (net/http's, for instance) on its first use.
type Listener struct {
	net.Listener
	Policy *Policy
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.Policy.Wrap(nc), nil
}

// Conn is a connection whose PROXY header is handled. From a trusted
// sender, the header is read before anything else (under Policy.Timeout)
// and RemoteAddr is the client's address in it. From anyone else, the
// first bytes are looked at within the caller's own Read: a header there
// fails the Read with ErrRefused; anything else passes untouched. Reads
// must come from one goroutine at a time (as net/http and the LDAP
// server do); Write and RemoteAddr may be called from any.
type Conn struct {
	net.Conn
	policy  *Policy
	trusted bool

	once    sync.Once // the trusted sender's header is read once
	checked bool      // the untrusted sender's first bytes were looked at (reader goroutine only)
	refused atomic.Bool
	err     error
	br      *bufio.Reader // the bytes read past the header; nil once drained
	remote  net.Addr      // the client's address (trusted sender), or nil
}

// ReadHeader reads and checks a trusted sender's header now (it is
// otherwise read on first use) and returns the reason for refusing the
// connection, or nil. From an untrusted sender it does nothing.
func (c *Conn) ReadHeader() error {
	if !c.trusted {
		return nil
	}
	c.once.Do(c.readTrusted)
	return c.err
}

// readTrusted reads the header of a trusted sender under the timeout.
func (c *Conn) readTrusted() {
	c.br = bufio.NewReader(c.Conn)
	c.Conn.SetReadDeadline(time.Now().Add(c.policy.timeout()))
	h, err := proxyproto.Read(c.br)
	c.Conn.SetReadDeadline(time.Time{})
	switch {
	case err != nil:
		c.refuse(fmt.Errorf("%w: no valid PROXY header from a trusted sender: %w", ErrRefused, err))
	case h.Command.IsLocal() || h.SourceAddr == nil:
		// LOCAL (the balancer's own health check) or UNKNOWN (a source
		// that is not TCP): the spec says to use the connection's own
		// addresses.
	default:
		c.remote = h.SourceAddr
	}
}

// checkUntrusted looks at the first bytes of an untrusted sender within
// the caller's Read (and its deadline). It returns the connection's own
// error (a deadline, say) when the bytes did not come yet; the next Read
// looks again.
func (c *Conn) checkUntrusted() error {
	if c.br == nil {
		c.br = bufio.NewReader(c.Conn)
	}
	h, err := proxyproto.Read(c.br)
	var ne net.Error
	switch {
	case err == nil && h != nil:
		c.refuse(fmt.Errorf("%w: PROXY header from %s, which is not a trusted sender", ErrRefused, c.Conn.RemoteAddr()))
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		// Not a header (or the end of the stream): the bytes peeked stay
		// in br for the caller.
	case errors.As(err, &ne):
		return err
	default:
		// It began with a PROXY signature but is not a header.
		c.refuse(fmt.Errorf("%w: malformed PROXY header from %s, which is not a trusted sender", ErrRefused, c.Conn.RemoteAddr()))
	}
	c.checked = true
	return c.err
}

func (c *Conn) refuse(err error) {
	c.err = err
	c.refused.Store(true)
	if c.policy.Refused != nil {
		c.policy.Refused(c.Conn.RemoteAddr(), err)
	}
}

func (c *Conn) ensure() error {
	if c.trusted {
		return c.ReadHeader()
	}
	if !c.checked {
		return c.checkUntrusted()
	}
	return c.err
}

// Read implements net.Conn.
func (c *Conn) Read(b []byte) (int, error) {
	if err := c.ensure(); err != nil {
		return 0, err
	}
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(b)
		}
		c.br = nil
	}
	return c.Conn.Read(b)
}

// Write implements net.Conn; nothing is written to a refused connection
// (net/http would otherwise answer the refused read with a 400).
func (c *Conn) Write(b []byte) (int, error) {
	if c.trusted {
		if err := c.ReadHeader(); err != nil {
			return 0, err
		}
	}
	if c.refused.Load() {
		return 0, ErrRefused
	}
	return c.Conn.Write(b)
}

// RemoteAddr is the client's address from a trusted sender's header (read
// now if it was not yet), else the peer's.
func (c *Conn) RemoteAddr() net.Addr {
	if c.trusted {
		if c.ReadHeader() == nil && c.remote != nil {
			return c.remote
		}
	}
	return c.Conn.RemoteAddr()
}

// Peer is the address of the sender itself (the load balancer).
func (c *Conn) Peer() net.Addr { return c.Conn.RemoteAddr() }
