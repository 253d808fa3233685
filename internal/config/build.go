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
	"github.com/bindery/bindery/internal/version"
	"github.com/bindery/bindery/proxy"
)

// Runtime is a built configuration: the backends opened and the server
// ready to serve (not yet listening).
type Runtime struct {
	Config *Config
	Server *proxy.Server
	Routes *proxy.Routes
	// Backends are the backends by name, each behind its cache when
	// [cache] ttl is not "0s" (backend.As finds the cache).
	Backends map[string]backend.Authenticator
	Stores   map[string]*pinstore.Store // the pinstore backends, by name (without the cache)
	// HashPool bounds every password verification ([hashing]). A
	// reload's Runtime shares its predecessor's (Rebuild).
	HashPool        *hashpool.Pool
	ownsPool        bool // Close closes HashPool
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
	if r.ownsPool {
		r.HashPool.Close()
	}
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

// Hooks are the process's observers, handed by Build to what it opens;
// they outlive reloads (metrics), so nothing they count starts over.
type Hooks struct {
	// UpstreamRequest is told the duration of every request an ldap
	// backend sends upstream (op "bind" or "search").
	UpstreamRequest func(backend, op string, d time.Duration)
}

// Build opens every backend and assembles the server, with a new hashing
// pool. On error, whatever was opened is closed again. At most one Hooks
// is used.
func Build(ctx context.Context, cfg *Config, logger *slog.Logger, hooks ...Hooks) (*Runtime, error) {
	return build(ctx, cfg, logger, nil, hooks)
}

// Rebuild is Build for a reload: the new Runtime shares prev's hashing
// pool, which takes the new [hashing] settings once the build succeeded
// (callers already waiting keep their place), and the duty to close it.
func Rebuild(ctx context.Context, cfg *Config, logger *slog.Logger, prev *Runtime, hooks ...Hooks) (*Runtime, error) {
	rt, err := build(ctx, cfg, logger, prev.HashPool, hooks)
	if err != nil {
		return nil, err
	}
	rt.HashPool.Configure(cfg.HashPoolOptions())
	rt.ownsPool, prev.ownsPool = prev.ownsPool, false
	return rt, nil
}

func build(ctx context.Context, cfg *Config, logger *slog.Logger, pool *hashpool.Pool, hooks []Hooks) (_ *Runtime, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	var h Hooks
	if len(hooks) > 0 {
		h = hooks[0]
	}
	owns := pool == nil
	if owns {
		pool = cfg.NewHashPool()
	}
	rt := &Runtime{
		HashPool:        pool,
		ownsPool:        owns,
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
	env := openEnv{cfg: cfg, logger: logger, pool: rt.HashPool, hooks: h}
	cacheOpts, cacheOn := cfg.CacheOptions()
	for _, name := range sortedKeys(cfg.Backends) {
		b := cfg.Backends[name]
		env.name = name
		a, err := backendTypes[b.Type].open(ctx, env, b.Config)
		if err != nil {
			return nil, fmt.Errorf("config: backend.%s: %w", name, err)
		}
		if s, ok := a.(*pinstore.Store); ok {
			rt.Stores[name] = s
		}
		// Every route reaches its backend through the bind cache, which
		// registers with the backend's invalidations (backend/cache).
		if cacheOn {
			a = cache.New(name, a, cacheOpts)
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
		ReadTimeout:       Duration(s.ReadTimeout, 0),
		IdleTimeout:       Duration(s.IdleTimeout, 0),
		WriteTimeout:      Duration(s.WriteTimeout, 0),
		MaxConnections:    s.MaxConnections,
		MaxRequestBytes:   s.MaxRequestBytes,
		MaxOpsPerConn:     s.MaxOpsPerConn,
		BusyBackoff:       Duration(s.BusyBackoff, proxy.DefaultBusyBackoff),
		SizeLimit:         s.SizeLimit,
		TimeLimit:         Duration(s.TimeLimit, 0),
		ThrottleAfter:     *cfg.Lockout.ThrottleAfter,
		ThrottleWindow:    Duration(cfg.Lockout.Window, 0),
		HashWait:          pool.MaxWait,
		SecretAttributes:  cfg.Log.SecretAttributes,
		Logger:            logger,
		VendorVersion:     version.Get().String(),
		ProxyProtocolFrom: s.ProxyProtocolFrom.Prefixes(),
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

// buildRoutes builds routes and service accounts over backends already
// opened, each behind its cache (used again on reload).
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
			name := cfg.PatronBackendOf(&r)
			pc, ok := backend.As[backend.PatronChecker](backends[name])
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
			Verify: cache.NewVerifier(func(ctx context.Context, client, pw string) (ok bool, err error) {
				// Hashing too busy is an error wrapping backend.ErrBusy: 51.
				if perr := pool.Do(ctx, client, func() { ok, _, err = passhash.Verify(hash, pw) }); perr != nil {
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

// openEnv is what opening a backend may use besides its own table.
type openEnv struct {
	cfg    *Config
	name   string
	logger *slog.Logger
	pool   *hashpool.Pool
	hooks  Hooks
}

func openLDAP(_ context.Context, env openEnv, bc BackendConfig) (backend.Authenticator, error) {
	c := *bc.(*ldapbackend.Config)
	c.Name, c.Logger = env.name, env.logger // the package names the backend in each line itself
	if f, name := env.hooks.UpstreamRequest, env.name; f != nil {
		c.ObserveRequest = func(op string, d time.Duration) { f(name, op, d) }
	}
	return ldapbackend.New(c)
}

func openPINStore(ctx context.Context, env openEnv, _ BackendConfig) (backend.Authenticator, error) {
	return openStore(ctx, env.cfg, env.name, env.logger.With("backend", env.name), func(o *pinstore.Options) {
		o.HashPool = env.pool
		o.WatchChanges = true // binderyctl's changes to the same file invalidate the cache
	})
}

func openStatic(_ context.Context, env openEnv, bc BackendConfig) (backend.Authenticator, error) {
	c := bc.(*static.Config)
	return static.New(env.name, c.Users, verifyHash, static.Options{DummyHash: dummyHash(), HashPool: env.pool})
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
		return *a
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
	if !ok || b.PINStore() == nil {
		return nil, fmt.Errorf("config: no pinstore backend %q", name)
	}
	o := pinstore.Options{
		Driver:             b.PINStore().Driver,
		DSN:                b.PINStore().DSN,
		Policy:             cfg.PINPolicy.Policy(),
		Lockout:            cfg.Lockout.Lockout(),
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

// CacheOptions returns the cache settings of [cache], and false when the
// cache is off (ttl = "0s").
func (c *Config) CacheOptions() (cache.Options, bool) {
	ttl := Duration(c.Cache.TTL, cache.DefaultTTL)
	if ttl <= 0 {
		return cache.Options{}, false
	}
	neg := Duration(c.Cache.NegativeTTL, cache.DefaultNegativeTTL)
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

// extraAttributes lists the virtual attributes that ldap backends map
// beyond the built-in ones (for cn=Subschema), sorted.
func (c *Config) extraAttributes() []string {
	seen := map[string]bool{}
	var out []string
	for _, b := range c.Backends {
		l := b.LDAP()
		if l == nil {
			continue
		}
		for virt, up := range l.Attributes {
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
