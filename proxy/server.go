package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/bindery/bindery/internal/proxyhdr"
	"github.com/bindery/bindery/proxy/names"
	"github.com/go-ldap/ldap/v3"
)

// Defaults for the zero values of the Server's limits.
const (
	DefaultReadTimeout     = 30 * time.Second
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = 30 * time.Second
	DefaultBackendTimeout  = 10 * time.Second
	DefaultMaxConnections  = 10000
	DefaultMaxRequestBytes = 1 << 20
	DefaultMaxOpsPerConn   = 64
)

// Settings that are off in the zero Server but on in a configuration file
// that leaves them out ([lockout] throttle_after, [server] busy_backoff).
const (
	DefaultThrottleAfter = 3
	DefaultBusyBackoff   = time.Second
)

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown.
var ErrServerClosed = errors.New("proxy: server closed")

// Server is an LDAP server. The zero value is usable once a Routes has
// been set; fields must not be changed after Serve or ServeTLS is called
// (the Routes are swapped with SetRoutes).
type Server struct {
	// Suffix is the base of the virtual tree, e.g. "dc=library,dc=example,dc=edu".
	Suffix string
	// UPNSuffix is the domain of id@<UPNSuffix> bind names ("" disables them).
	UPNSuffix string
	// DisallowAnonymous refuses an anonymous bind (empty name and
	// password) with 48 inappropriateAuthentication, as slapd's
	// "disallow bind_anon" does. By default it succeeds and the session
	// is what an unbound one is: it may read the Root DSE and cn=Subschema.
	DisallowAnonymous bool
	// RequireTLS answers simple binds over cleartext with 13
	// confidentialityRequired.
	RequireTLS bool
	// Diagnostics is "" (every 49 carries the same empty text) or "ad"
	// (Active Directory style "data 52e" codes in the diagnostic of 49).
	Diagnostics string
	// RevealLockout adds the ppolicy accountLocked error to the 49 of a
	// locked account when the bind asked for the ppolicy control.
	RevealLockout bool
	// TLSConfig enables StartTLS on Serve and is used by ServeTLS (LDAPS).
	// Its GetCertificate may change the certificate while serving.
	TLSConfig *tls.Config
	// ProxyProtocolFrom lists the load balancers whose connections begin
	// with a PROXY protocol header (v1 or v2); the client address in it is
	// the connection's client everywhere (throttle, service accounts'
	// networks, logs, the audit trail). A listed sender's connection
	// without a valid header within ReadTimeout, and an unlisted sender's
	// connection that begins with a header, are closed and counted as
	// rejected ("proxy_header"). Empty: off, no header is looked for.
	ProxyProtocolFrom []netip.Prefix
	// ReadTimeout bounds the time to read one message once its first byte
	// has arrived, and the TLS handshake. Default 30s.
	ReadTimeout time.Duration
	// IdleTimeout closes a connection after this long with no operation in
	// flight and no request arriving. Default 5m.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write of a response. Default 30s.
	WriteTimeout time.Duration
	// BackendTimeout bounds each call to a backend (Authenticate, Lookup,
	// CheckPatron, ChangePassword). Default 10s; a backend that does not
	// answer in time gives 52 unavailable.
	BackendTimeout time.Duration
	// HashWait, when set, returns how long a call may wait for a password
	// hashing worker ([hashing] max_wait). Calls that may hash
	// (Authenticate, a service account's password, ChangePassword) get
	// BackendTimeout plus this, so that a bind the hashing pool admitted
	// to wait is not cut short by BackendTimeout. nil: nothing added.
	HashWait func() time.Duration
	// MaxConnections caps open connections; a connection over the cap gets
	// a Notice of Disconnection (51 busy) and is closed. Default 10000.
	MaxConnections int
	// MaxRequestBytes caps the size of one request message; a larger one
	// gets a Notice of Disconnection (2 protocolError). Default 1 MiB.
	MaxRequestBytes int
	// MaxOpsPerConn caps the operations in flight on one connection; an
	// extra one gets 51 busy. Default 64.
	MaxOpsPerConn int
	// SizeLimit caps the entries of one listing answer, and the size of each
	// page of a paged one; past it a listing ends with 4
	// sizeLimitExceeded. Default 500 (see list.go).
	SizeLimit int
	// TimeLimit bounds one listing answer (one page when paged); past it the
	// answer ends with 3 timeLimitExceeded. Default 30s.
	TimeLimit time.Duration
	// ThrottleAfter failed binds for the same (client address, normalised
	// ID) within ThrottleWindow make further attempts from that pair wait
	// out an exponential backoff (1s, 2s, 4s... at most ThrottleMaxDelay),
	// answered 49 at once without asking the backend; a success clears the
	// pair. Never keyed by the client address alone. 0: off.
	ThrottleAfter int
	// ThrottleWindow: failures older than this no longer count. Default 15m.
	ThrottleWindow time.Duration
	// ThrottleMaxDelay caps the backoff. Default 1m.
	ThrottleMaxDelay time.Duration
	// ThrottlePairs bounds the pairs remembered (least recently failed go
	// first). Default 100000.
	ThrottlePairs int
	// BusyBackoff holds the next bind on a connection whose bind was just
	// answered 51 busy (password hashing saturated, or the backend busy)
	// until this long after that answer. The 51 itself goes out at once;
	// a client that retries at once, or a storm of wrong PINs on
	// persistent connections, then costs one bind per BusyBackoff per
	// connection rather than one per round trip, which leaves the CPU to
	// everyone else. 0: no backoff.
	BusyBackoff time.Duration
	// SecretAttributes are attributes whose values are masked ("***")
	// wherever a search filter is logged; userPassword always is. Empty:
	// DefaultSecretAttributes.
	SecretAttributes []string
	// Logger receives one structured line per bind and per failed
	// operation. nil: slog.Default().
	Logger *slog.Logger
	// VendorVersion is shown as vendorVersion in the Root DSE.
	VendorVersion string
	// NotifyStartedFunc, when set, is called when Serve or ServeTLS starts
	// accepting connections (for tests).
	NotifyStartedFunc func()
	// Observer is told about every operation and connection (metrics, the
	// audit log); nil: nobody.
	Observer Observer
	// POSIX, when set, adds the POSIX view (posixAccount people,
	// posixGroup groups) for Linux clients; see posix.go.
	POSIX *POSIX
	// ExtraAttributes names the attributes that backends add beyond the
	// built-in ones (e.g. mapped from the campus directory), published in
	// cn=Subschema as directory strings.
	ExtraAttributes []string

	schemaState

	routes atomic.Pointer[Routes]

	mu         sync.Mutex
	stopping   chan struct{} // closed when Shutdown begins; made on first use
	listeners  map[*net.Listener]struct{}
	conns      map[*conn]struct{}
	inShutdown atomic.Bool
	nconns     atomic.Int64
	connWG     sync.WaitGroup // accepted connections not yet closed
	acceptWG   sync.WaitGroup // accept loops running
	parserOnce sync.Once
	names      *names.Parser

	secretOnce sync.Once
	secrets    []string // lower-cased SecretAttributes (secretAttrs)

	proxyOnce   sync.Once
	proxyPolicy *proxyhdr.Policy

	throttleOnce sync.Once
	thr          *throttle        // made once; off while its after is 0
	throttleNow  func() time.Time // the throttle's clock (tests); nil: time.Now
}

// SetRoutes installs d for operations that start from now on;
// operations already running keep the Routes they started with. It is
// safe to call at any time, e.g. on SIGHUP.
func (s *Server) SetRoutes(d *Routes) { s.routes.Store(d) }

// Routes returns the Routes currently installed (nil if none).
func (s *Server) Routes() *Routes { return s.routes.Load() }

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func intOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func (s *Server) readTimeout() time.Duration  { return durationOr(s.ReadTimeout, DefaultReadTimeout) }
func (s *Server) idleTimeout() time.Duration  { return durationOr(s.IdleTimeout, DefaultIdleTimeout) }
func (s *Server) writeTimeout() time.Duration { return durationOr(s.WriteTimeout, DefaultWriteTimeout) }
func (s *Server) backendTimeout() time.Duration {
	return durationOr(s.BackendTimeout, DefaultBackendTimeout)
}

// bindTimeout bounds a backend call that may wait for a password hashing
// worker: BackendTimeout plus HashWait().
func (s *Server) bindTimeout() time.Duration {
	d := s.backendTimeout()
	if s.HashWait != nil {
		d += max(s.HashWait(), 0)
	}
	return d
}

// throttle returns the per-(client, account) throttle, or nil when off.
func (s *Server) throttle() *throttle {
	t := s.throttleState()
	if t.off() {
		return nil
	}
	return t
}

func (s *Server) throttleState() *throttle {
	s.throttleOnce.Do(func() {
		s.thr = newThrottle(s.ThrottleAfter, s.ThrottleWindow, s.ThrottleMaxDelay, s.ThrottlePairs, s.throttleNow)
	})
	return s.thr
}

// SetThrottle changes ThrottleAfter and ThrottleWindow while serving (a
// reload); pairs already held keep their failures. after 0 turns the
// throttle off; window 0 keeps the window.
func (s *Server) SetThrottle(after int, window time.Duration) {
	s.throttleState().set(after, window)
}

func (s *Server) maxConnections() int  { return intOr(s.MaxConnections, DefaultMaxConnections) }
func (s *Server) maxRequestBytes() int { return intOr(s.MaxRequestBytes, DefaultMaxRequestBytes) }
func (s *Server) maxOpsPerConn() int   { return intOr(s.MaxOpsPerConn, DefaultMaxOpsPerConn) }

// Serve accepts plain LDAP connections on l (with StartTLS when TLSConfig is
// set) until l fails or Shutdown is called. It always returns a non-nil
// error; after Shutdown, ErrServerClosed. Suffix must be a valid DN.
func (s *Server) Serve(l net.Listener) error {
	return s.serve(l, false)
}

// ServeTLS accepts LDAPS connections on l, each wrapped with
// tls.Server(conn, TLSConfig) (after its PROXY header, if any).
// TLSConfig must be set.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.TLSConfig == nil {
		return errors.New("proxy: serve tls: TLSConfig is nil")
	}
	return s.serve(l, true)
}

func (s *Server) proxyProtocol() *proxyhdr.Policy {
	s.proxyOnce.Do(func() {
		s.proxyPolicy = &proxyhdr.Policy{From: s.ProxyProtocolFrom, Timeout: s.readTimeout()}
	})
	return s.proxyPolicy
}

func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.inShutdown.Load() {
			return false
		}
		if s.listeners == nil {
			s.listeners = make(map[*net.Listener]struct{})
		}
		s.listeners[l] = struct{}{}
		s.acceptWG.Add(1)
	} else {
		delete(s.listeners, l)
		s.acceptWG.Done()
	}
	return true
}

func (s *Server) serve(l net.Listener, isTLS bool) error {
	if _, err := names.NewParser(s.Suffix, s.UPNSuffix); err != nil {
		l.Close()
		return fmt.Errorf("proxy: serve: %w", err)
	}
	if !s.trackListener(&l, true) {
		l.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)
	defer l.Close()
	if s.NotifyStartedFunc != nil {
		s.NotifyStartedFunc()
	}
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			if isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("accept failed; retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		backoff = 0
		if n := s.nconns.Add(1); n > int64(s.maxConnections()) {
			s.nconns.Add(-1)
			s.observer().ConnRejected("max_connections")
			go s.refuse(nc)
			continue
		}
		// Counted here, before the loop can see the shutdown: Shutdown
		// waits for the accept loops, then for every connection they took.
		s.connWG.Add(1)
		go s.handle(nc, isTLS)
	}
}

// handle serves one accepted connection: its PROXY header first (when
// the policy is on; the slot is held for ReadTimeout at most), then TLS
// for LDAPS, then the LDAP read loop.
func (s *Server) handle(nc net.Conn, isTLS bool) {
	defer s.connWG.Done()
	defer s.nconns.Add(-1)
	if pp := s.proxyProtocol(); pp.On() {
		pc := pp.Wrap(nc).(*proxyhdr.Conn)
		if err := pc.ReadHeader(); err != nil {
			s.proxyRefused(pc.Peer(), err)
			nc.Close()
			return
		}
		nc = pc
	}
	if isTLS {
		nc = tls.Server(nc, s.TLSConfig)
	}
	c := newConn(s, nc, isTLS)
	s.trackConn(c, true)
	s.observer().ConnOpened()
	defer s.observer().ConnClosed()
	defer s.trackConn(c, false)
	c.serve()
}

// proxyRefused logs and counts a connection refused for its PROXY header
// (or the lack of one).
func (s *Server) proxyRefused(peer net.Addr, err error) {
	s.logger().Warn("connection refused: PROXY header", "peer", peer.String(), "err", err)
	s.observer().ConnRejected("proxy_header")
}

// isTemporary reports whether an accept error is worth retrying (too many
// open files and the like), as net/http decides.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// refuse tells a connection over MaxConnections that the server is busy.
func (s *Server) refuse(nc net.Conn) {
	defer nc.Close()
	nc.SetWriteDeadline(time.Now().Add(s.writeTimeout()))
	nc.Write(ldapwire.AppendNoticeOfDisconnection(nil, ldap.LDAPResultBusy, "too many connections"))
	s.logger().Warn("connection refused: too many connections", "client", nc.RemoteAddr().String(), "max_connections", s.maxConnections())
}

// trackConn adds c to (or removes it from) the connections Shutdown
// reaches. A connection accepted before the listener closed but added
// after Shutdown began starts in shutdown mode: it is answered within its
// grace and then closed, never dropped unanswered.
func (s *Server) trackConn(c *conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	if s.inShutdown.Load() {
		c.beginShutdown()
	}
}

// tracked is a snapshot of the connections Shutdown reaches.
func (s *Server) tracked() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

// shuttingDown is closed when Shutdown begins.
func (s *Server) shuttingDown() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping == nil {
		s.stopping = make(chan struct{})
	}
	return s.stopping
}

// Shutdown stops the server gracefully: it closes the listeners at once,
// answers binds held by the throttle or busy backoff with 52 "server is
// shutting down", lets each connection finish the operations it has in
// flight (a bind waiting for a hashing worker keeps its place), sends it
// a Notice of Disconnection (52 unavailable, "server is shutting down")
// and closes it. When ctx ends first, the operations still running are
// cancelled, the remaining connections get the notice and are closed at
// once, and Shutdown returns ctx.Err() without waiting for backends that
// ignore cancellation.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shuttingDown() // make the channel
	s.mu.Lock()
	if !s.inShutdown.Load() {
		close(s.stopping)
	}
	s.inShutdown.Store(true)
	for l := range s.listeners {
		(*l).Close()
	}
	s.mu.Unlock()
	// Once the accept loops are out, every accepted connection is counted
	// in connWG; those not yet tracked begin their shutdown in trackConn.
	s.acceptWG.Wait()
	for _, c := range s.tracked() {
		c.beginShutdown()
	}
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	for _, c := range s.tracked() {
		c.force()
	}
	return ctx.Err()
}
