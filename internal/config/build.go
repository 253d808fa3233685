package config

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/cache"
	ldapbackend "github.com/bindery/bindery/backend/ldap"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/backend/static"
	"github.com/bindery/bindery/internal/hashpool"
	"github.com/bindery/bindery/internal/passhash"
	"github.com/bindery/bindery/proxy"
)

// Runtime is a built configuration: the backends opened and the server
// ready to serve (not yet listening).
type Runtime struct {
	Config *Config
	Server *proxy.Server
	Routes *proxy.Routes
	// Backends are the backends by name, each behind its cache when
	// [cache] ttl is not "0s" (cache.Of finds the cache).
	Backends map[string]backend.Authenticator
	Stores   map[string]*pinstore.Store // the pinstore backends, by name (without the cache)
	// HashPool bounds every password verification ([hashing]).
	HashPool        *hashpool.Pool
	Listen          string
	ListenTLS       string // "" when LDAPS is off
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Close closes every backend.
func (r *Runtime) Close() error {
	var errs []error
	for _, b := range r.Backends {
		if err := b.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	r.HashPool.Close()
	return errors.Join(errs...)
}

// NewLogger makes the process logger from [log].
func NewLogger(l Log, w io.Writer) *slog.Logger {
	var level slog.Level
	switch l.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Build opens every backend and assembles the server. On error, whatever
// was opened is closed again.
func Build(ctx context.Context, cfg *Config, logger *slog.Logger) (_ *Runtime, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	rt := &Runtime{
		HashPool:        cfg.NewHashPool(),
		Config:          cfg,
		Backends:        map[string]backend.Authenticator{},
		Stores:          map[string]*pinstore.Store{},
		Listen:          cfg.Server.Listen,
		ShutdownTimeout: Duration(cfg.Server.ShutdownTimeout, DefaultShutdownTimeout),
		Logger:          logger,
	}
	defer func() {
		// Whatever was opened before the error is closed again. (rt is not
		// the named result: a `return nil, err` must not nil it first.)
		if err != nil {
			rt.Close()
		}
	}()
	cacheOpts, cacheOn := cfg.CacheOptions()
	for name, b := range cfg.Backends {
		a, err := buildBackend(ctx, cfg, name, b, logger, rt.HashPool)
		if err != nil {
			return nil, err
		}
		if s, ok := a.(*pinstore.Store); ok {
			rt.Stores[name] = s
		}
		if cacheOn {
			a = cache.Wrap(name, a, cacheOpts) // registers with the store's invalidations
		}
		rt.Backends[name] = a
	}
	routes, err := buildRoutes(cfg, rt.Backends, rt.HashPool)
	if err != nil {
		return nil, err
	}
	rt.Routes = routes

	s := cfg.Server
	srv := &proxy.Server{
		Suffix:            s.Suffix,
		UPNSuffix:         s.UPNSuffix,
		DisallowAnonymous: !*s.AllowAnonymous,
		RequireTLS:        s.RequireTLS,
		Diagnostics:       s.Diagnostics,
		RevealLockout:     cfg.Lockout.Reveal,
		ReadTimeout:       Duration(s.ReadTimeout, DefaultReadTimeout),
		IdleTimeout:       Duration(s.IdleTimeout, DefaultIdleTimeout),
		WriteTimeout:      Duration(s.WriteTimeout, DefaultWriteTimeout),
		MaxConnections:    s.MaxConnections,
		MaxRequestBytes:   s.MaxRequestBytes,
		MaxOpsPerConn:     s.MaxOpsPerConn,
		BusyBackoff:       Duration(s.BusyBackoff, DefaultBusyBackoff),
		SizeLimit:         s.SizeLimit,
		TimeLimit:         Duration(s.TimeLimit, 0),
		ThrottleAfter:     *cfg.Lockout.ThrottleAfter,
		ThrottleWindow:    Duration(cfg.Lockout.Window, 15*time.Minute),
		Logger:            logger,
		VendorVersion:     Version,
	}
	if s.TLS != nil {
		cert, err := tls.LoadX509KeyPair(s.TLS.CertFile, s.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("config: server.tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		rt.ListenTLS = s.TLS.ListenTLS
	}
	if srv.POSIX, err = cfg.POSIX.view(cfg, rt); err != nil {
		return nil, err
	}
	srv.ExtraAttributes = cfg.extraAttributes()
	srv.SetRoutes(routes)
	rt.Server = srv
	return rt, nil
}

// Version is bindery's version, shown as vendorVersion in the Root DSE.
var Version = "0.1.0-dev"

// BuildDirectory builds routes and service accounts over already opened
// backends (used again on reload).
func buildRoutes(cfg *Config, backends map[string]backend.Authenticator, pool *hashpool.Pool) (*proxy.Routes, error) {
	routes := &proxy.Routes{}
	// Service accounts bind for every patron login: their accepted password
	// is remembered for the cache's ttl.
	var serviceTTL time.Duration
	if co, ok := cfg.CacheOptions(); ok {
		serviceTTL = co.TTL
	}
	for i, r := range cfg.Routes {
		re, err := regexp.Compile(r.Match)
		if err != nil {
			return nil, fmt.Errorf("config: route[%d].match: %w", i, err)
		}
		route := proxy.Route{
			Name:        r.Name,
			Match:       re,
			Case:        caseOf(r.Case),
			BackendName: r.Backend,
			Backend:     backends[r.Backend],
		}
		if r.RequirePatron {
			name := r.PatronBackend
			if name == "" {
				name = cfg.backendsOfType("pinstore")[0]
			}
			pc, ok := backends[name].(backend.PatronChecker)
			if !ok {
				return nil, fmt.Errorf("config: route[%d].patron_backend: %q keeps no patrons", i, name)
			}
			route.RequirePatron = pc
		}
		routes.List = append(routes.List, route)
	}
	for i, sa := range cfg.ServiceAccounts {
		hash := sa.PasswordHash
		if sa.PasswordFile != "" {
			b, err := os.ReadFile(sa.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("config: service_account[%d].password_hash_file: %w", i, err)
			}
			hash = strings.TrimSpace(string(b))
			if err := passhash.Check(hash); err != nil {
				return nil, fmt.Errorf("config: service_account[%d].password_hash_file: %w", i, err)
			}
		}
		acct := proxy.ServiceAccount{
			Name:       sa.Name,
			CanSearch:  sa.CanSearch,
			CanReset:   sa.CanReset,
			CanList:    sa.CanList,
			Attributes: sa.Attributes,
			Verify: cache.NewVerifier(func(pw string) (ok bool, err error) {
				// A full pool is an error wrapping backend.ErrBusy: 51.
				if perr := pool.Do(context.Background(), func() { ok, _, err = passhash.Verify(hash, pw) }); perr != nil {
					return false, perr
				}
				return ok, err
			}, serviceTTL).Verify,
		}
		for _, n := range sa.Networks {
			p, _ := parseNetwork(n)
			acct.Networks = append(acct.Networks, p)
		}
		routes.ServiceAccounts = append(routes.ServiceAccounts, acct)
	}
	return routes, nil
}

func caseOf(s string) proxy.Case {
	switch s {
	case "upper":
		return proxy.CaseUpper
	case "lower":
		return proxy.CaseLower
	}
	return proxy.CaseNone
}

func buildBackend(ctx context.Context, cfg *Config, name string, b *Backend, logger *slog.Logger, pool *hashpool.Pool) (backend.Authenticator, error) {
	log := logger.With("backend", name)
	switch b.Type {
	case "pinstore":
		return openStore(ctx, cfg, name, log, func(o *pinstore.Options) {
			o.HashPool = pool
			o.WatchChanges = true // binderyctl's changes to the same file invalidate the cache
		})
	case "ldap":
		pw := b.BindPassword
		if b.BindPasswordFile != "" {
			data, err := os.ReadFile(b.BindPasswordFile)
			if err != nil {
				return nil, fmt.Errorf("config: backend.%s.bind_password_file: %w", name, err)
			}
			pw = strings.TrimRight(string(data), "\r\n")
		}
		lb, err := ldapbackend.New(ldapbackend.Config{
			Name:               name,
			URLs:               b.URLs,
			BindDN:             b.BindDN,
			BindPassword:       pw,
			BaseDN:             b.BaseDN,
			UserFilter:         b.UserFilter,
			DNTemplate:         b.DNTemplate,
			StartTLS:           b.StartTLS,
			CAFile:             b.CAFile,
			InsecureSkipVerify: b.InsecureSkipVerify,
			Timeout:            Duration(b.Timeout, DefaultLDAPTimeout),
			PoolSize:           b.PoolSize,
			MinIdle:            b.minIdle(),
			HealthInterval:     ldapbackend.DefaultHealthInterval,
			Attributes:         b.Attributes,
			IDAttribute:        b.IDAttribute,
			UUIDAttribute:      b.UUIDAttribute,
			LookupTTL:          Duration(b.LookupTTL, ldapbackend.DefaultLookupTTL),
			LookupMaxEntries:   b.LookupMaxEntries,
			Logger:             log,
		})
		if err != nil {
			return nil, fmt.Errorf("config: backend.%s: %w", name, err)
		}
		return lb, nil
	case "static":
		users := make([]static.User, len(b.Users))
		for i, u := range b.Users {
			users[i] = static.User{ID: u.ID, PasswordHash: u.PasswordHash, Name: u.Name,
				GivenName: u.GivenName, Surname: u.Surname, Mail: u.Mail,
				Category: u.Category, Institution: u.Institution}
		}
		sb, err := static.New(name, users, verifyHash, static.Options{DummyHash: dummyHash(), HashPool: pool})
		if err != nil {
			return nil, fmt.Errorf("config: backend.%s: %w", name, err)
		}
		return sb, nil
	}
	return nil, fmt.Errorf("config: backend.%s.type: %q is not a backend type", name, b.Type)
}

func verifyHash(encoded, secret string) (bool, error) {
	ok, _, err := passhash.Verify(encoded, secret)
	return ok, err
}

// dummyHash is an argon2id hash of a random secret with the default
// parameters, so that an unknown ID costs as much as a known one.
func dummyHash() string {
	h, err := passhash.Hash(fmt.Sprint(time.Now().UnixNano()), passhash.DefaultParams)
	if err != nil {
		return ""
	}
	return h
}

// HashParams returns the argon2id parameters of [pin_policy.argon2].
func (c *Config) HashParams() passhash.Params {
	if a := c.PINPolicy.Argon2; a != nil {
		return passhash.Params{MemoryKiB: a.MemoryKiB, Iterations: a.Iterations, Parallelism: a.Parallelism}
	}
	return passhash.DefaultParams
}

// OpenStore opens the pinstore backend called name with the policy and
// lockout settings of cfg (used by the server and by binderyctl).
func OpenStore(ctx context.Context, cfg *Config, name string, logger *slog.Logger) (*pinstore.Store, error) {
	return openStore(ctx, cfg, name, logger, nil)
}

// openStore is OpenStore with a last say on the options (the server adds
// the hash pool and the change watcher).
func openStore(ctx context.Context, cfg *Config, name string, logger *slog.Logger, mod func(*pinstore.Options)) (*pinstore.Store, error) {
	b, ok := cfg.Backends[name]
	if !ok || b.Type != "pinstore" {
		return nil, fmt.Errorf("config: no pinstore backend %q", name)
	}
	max := 5
	if cfg.Lockout.MaxFailures != nil {
		max = *cfg.Lockout.MaxFailures
	}
	o := pinstore.Options{
		Driver: b.Driver,
		DSN:    b.DSN,
		Policy: pinstore.Policy{
			MinLength:  cfg.PINPolicy.MinLength,
			MaxLength:  cfg.PINPolicy.MaxLength,
			MinClasses: cfg.PINPolicy.MinClasses,
		},
		Lockout: pinstore.Lockout{
			MaxFailures: max,
			Window:      Duration(cfg.Lockout.Window, 15*time.Minute),
			Duration:    Duration(cfg.Lockout.Duration, 15*time.Minute),
		},
		Hash:               cfg.HashParams(),
		NoChangeCategories: cfg.PINPolicy.NoChangeCategories,
		Logger:             logger,
	}
	if mod != nil {
		mod(&o)
	}
	st, err := pinstore.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("config: backend.%s: %w", name, err)
	}
	return st, nil
}

// RouteFor returns the route an ID takes (after its case normalisation)
// and the normalised ID, the way the server routes binds.
func (c *Config) RouteFor(id string) (*Route, string, bool) {
	for i := range c.Routes {
		r := &c.Routes[i]
		re, err := regexp.Compile(r.Match)
		if err != nil {
			continue
		}
		nid := caseOf(r.Case).Apply(id)
		if re.MatchString(nid) {
			return r, nid, true
		}
	}
	return nil, "", false
}

// NewHashPool makes the pool of [hashing]: workers (default the number of
// CPUs), queue (default 4 × workers) and nice (default DefaultHashingNice).
// Runtime.Close closes it.
func (c *Config) NewHashPool() *hashpool.Pool {
	q := -1
	if c.Hashing.Queue != nil {
		q = *c.Hashing.Queue
	}
	nice := DefaultHashingNice
	if c.Hashing.Nice != nil {
		nice = *c.Hashing.Nice
	}
	return hashpool.NewWith(hashpool.Options{Workers: c.Hashing.Workers, Queue: q, Nice: nice})
}

// CacheOptions returns the cache settings of [cache], and false when the
// cache is off (ttl = "0s").
func (c *Config) CacheOptions() (cache.Options, bool) {
	ttl := Duration(c.Cache.TTL, DefaultCacheTTL)
	if ttl <= 0 {
		return cache.Options{}, false
	}
	neg := Duration(c.Cache.NegativeTTL, DefaultNegativeTTL)
	if neg <= 0 {
		neg = -1 // off
	}
	return cache.Options{
		TTL:           ttl,
		NegativeTTL:   neg,
		MaxEntries:    c.Cache.MaxEntries,
		ServeStaleFor: Duration(c.Cache.ServeStaleFor, 0),
	}, true
}

// minIdle is pool_min_idle, or its default capped at the pool size.
func (b *Backend) minIdle() int {
	if b.PoolMinIdle != nil {
		return *b.PoolMinIdle
	}
	size := b.PoolSize
	if size <= 0 {
		size = ldapbackend.DefaultPoolSize
	}
	return min(DefaultPoolMinIdle, size)
}

// extraAttributes lists the virtual attributes that ldap backends map
// beyond the built-in ones (for cn=Subschema), sorted.
func (c *Config) extraAttributes() []string {
	seen := map[string]bool{}
	var out []string
	for _, b := range c.Backends {
		for virt, up := range b.Attributes {
			k := strings.ToLower(virt)
			if up == "" || seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, virt)
		}
	}
	sort.Strings(out)
	return out
}
