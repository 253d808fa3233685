// Package ldapbackend is the bindery backend for an upstream directory (the
// campus LDAP or Active Directory), spoken to by a small LDAP client of its
// own on internal/ldapwire: search then bind (or a DN template) on pooled
// connections, failover, LDAPS or StartTLS, a remembered DN per login ID.
// An upstream that is down or hangs is ErrUnavailable, never a wrong
// password. See README.md.
package ldapbackend

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

// Backend is an upstream directory. It is safe for concurrent use.
type Backend struct {
	s       *settings
	fo      *failover
	service *pool       // searches, bound as BindDN (or anonymous)
	binds   *pool       // user binds
	cur     cursorTable // listings kept open between pages (search.go)
	known   *lookups    // DN and entry per login ID (lookup.go)

	stopHealth context.CancelFunc // nil without a health check
	healthDone chan struct{}
	stopSweep  context.CancelFunc
	sweepDone  chan struct{}
}

// neutralAfter is how long a bind connection may sit idle holding the last
// user's identity before it is rebound anonymously (pool.neutralize).
const neutralAfter = time.Second

var (
	_ backend.Authenticator = (*Backend)(nil)
	_ backend.Searcher      = (*Backend)(nil)
)

// New validates cfg and returns a Backend. Without HealthInterval it does
// not contact the directory: connections are made on first use. With it, a
// background health check starts (see Config.HealthInterval).
func New(cfg Config) (*Backend, error) {
	s, err := validate(cfg)
	if err != nil {
		name := cfg.Name
		if name == "" {
			name = "ldap"
		}
		return nil, fmt.Errorf("ldap backend %q: invalid config: %w", name, err)
	}
	if s.BindPasswordFile != "" {
		data, err := os.ReadFile(s.BindPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("ldap backend %q: bind_password_file: %w", s.Name, err)
		}
		if s.BindPassword = strings.TrimRight(string(data), "\r\n"); s.BindPassword == "" {
			return nil, fmt.Errorf("ldap backend %q: bind_password_file: %s is empty", s.Name, s.BindPasswordFile)
		}
	}
	urls := make([]string, len(s.upstreams))
	for i, u := range s.upstreams {
		urls[i] = u.raw
	}
	b := &Backend{s: s, fo: newFailover(urls, s.PrimaryRetry), known: newLookups(s.LookupTTL, s.LookupMaxEntries)}
	b.service = newPool("service", s, b.fo, b.serviceBind)
	b.binds = newPool("bind", s, b.fo, anonymousBind)
	sctx, scancel := context.WithCancel(context.Background())
	b.stopSweep, b.sweepDone = scancel, make(chan struct{})
	go b.sweep(sctx)
	if s.HealthInterval > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		b.stopHealth, b.healthDone = cancel, make(chan struct{})
		go b.health(ctx)
	}
	return b, nil
}

// serviceBind authenticates a new service connection as BindDN; with no
// BindDN it makes an explicit anonymous bind. Either way a server that
// accepts TCP but does not speak LDAP fails here, in time for failover to
// the next URL.
func (b *Backend) serviceBind(ctx context.Context, c *conn) error {
	if b.s.BindDN == "" {
		return anonymousBind(ctx, c)
	}
	if err := c.bind(ctx, b.s.BindDN, b.s.BindPassword); err != nil {
		return fmt.Errorf("service bind: %w", err)
	}
	return nil
}

// anonymousBind makes c anonymous (and proves the server answers).
func anonymousBind(ctx context.Context, c *conn) error {
	if err := c.bind(ctx, "", ""); err != nil {
		return fmt.Errorf("anonymous bind: %w", err)
	}
	return nil
}

// sweep neutralizes idle bind connections until ctx ends.
func (b *Backend) sweep(ctx context.Context) {
	defer close(b.sweepDone)
	t := time.NewTicker(neutralAfter)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		nctx, cancel := context.WithTimeout(ctx, b.s.Timeout)
		b.binds.neutralize(nctx, neutralAfter)
		cancel()
	}
}

// Name is the backend's configured name.
func (b *Backend) Name() string { return b.s.Name }

// Ping checks that the directory answers: a base search of the Root DSE on
// a service connection (dialled and bound if none is idle).
func (b *Backend) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.s.Timeout)
	defer cancel()
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, b.timeLimit(), false,
		"(objectClass=*)", []string{"namingContexts"}, nil)
	err := b.withConn(ctx, b.service, func(c *conn) error {
		_, err := c.search(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("ldap %s: ping: %w", b.s.Name, unavailable("root DSE", err))
	}
	return nil
}

// PingEach contacts every configured URL on its own, failover ones
// included, with a new connection: dial, TLS, the service bind and a
// Root DSE search, each within Timeout. It returns one error (nil: the
// URL answered) per URL, in configured order, and updates State. It is
// for `bindery --check --connect`; the pools are not touched.
func (b *Backend) PingEach(ctx context.Context) []error {
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, b.timeLimit(), false,
		"(objectClass=*)", []string{"namingContexts"}, nil)
	errs := make([]error, len(b.s.upstreams))
	for i := range b.s.upstreams {
		errs[i] = func() error {
			ctx, cancel := context.WithTimeout(ctx, b.s.Timeout)
			defer cancel()
			c, err := dial(ctx, b.s, i)
			if err != nil {
				return err
			}
			defer c.close()
			if err := b.serviceBind(ctx, c); err != nil {
				return err
			}
			_, err = c.search(ctx, req)
			return err
		}()
		if errs[i] != nil {
			b.fo.down(i, errs[i])
		} else {
			b.fo.up(i)
		}
	}
	return errs
}

// State reports what the backend last saw of each URL, in configured order.
func (b *Backend) State() []backend.UpstreamState { return b.fo.snapshot() }

// Close closes the idle connections of both pools; connections in use are
// closed when their call ends. Calls after Close fail with ErrUnavailable.
func (b *Backend) Close() error {
	if b.stopHealth != nil {
		b.stopHealth()
		<-b.healthDone
	}
	b.stopSweep()
	<-b.sweepDone
	b.service.close()
	b.binds.close()
	b.closeCursors()
	b.known.purge()
	return nil
}

// withConn runs fn on a connection from p. When fn fails on a connection
// that came from the idle list and that connection turned out broken (the
// server restarted, the network dropped it), the idle list is emptied and
// fn is retried once on a freshly dialled connection.
func (b *Backend) withConn(ctx context.Context, p *pool, fn func(*conn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := p.get(ctx, attempt > 0)
		if err != nil {
			return err
		}
		err = fn(c)
		reused, broken := c.reused, c.broken
		if err != nil && broken {
			b.fo.down(c.urlIdx, err)
		}
		p.put(c)
		if err != nil && broken && reused && attempt == 0 && ctx.Err() == nil {
			p.drain()
			continue
		}
		return err
	}
}

// timeLimit is the server-side time limit of searches, in whole seconds.
func (b *Backend) timeLimit() int {
	secs := int((b.s.Timeout + 999_999_999) / 1_000_000_000)
	return max(secs, 1)
}
