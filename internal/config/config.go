// Package config decodes bindery's TOML configuration and validates it.
// It is the one place that knows every backend type: Build turns a valid
// Config into the running parts (backends, routes, service accounts).
//
// Every problem is reported at once, each naming its TOML key; unknown keys
// are errors.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	ldapbackend "github.com/bindery/bindery/backend/ldap"
	"github.com/jackc/pgx/v5/pgconn"
)

// Config is the whole file.
type Config struct {
	Server          Server              `toml:"server"`
	Log             Log                 `toml:"log"`
	HTTP            HTTP                `toml:"http"`
	Web             Web                 `toml:"web"`
	PINPolicy       PINPolicy           `toml:"pin_policy"`
	Lockout         Lockout             `toml:"lockout"`
	Cache           Cache               `toml:"cache"`
	Hashing         Hashing             `toml:"hashing"`
	POSIX           POSIX               `toml:"posix"`
	ServiceAccounts []ServiceAccount    `toml:"service_account"`
	Routes          []Route             `toml:"route"`
	Backends        map[string]*Backend `toml:"backend"`

	// Path is the file the configuration came from ("" when embedded).
	Path string `toml:"-"`
}

// Server is [server].
type Server struct {
	Listen    string `toml:"listen"`
	Suffix    string `toml:"suffix"`
	UPNSuffix string `toml:"upn_suffix"`
	// AllowAnonymous: an anonymous bind succeeds (default true); false
	// answers it 48.
	AllowAnonymous  *bool  `toml:"allow_anonymous"`
	RequireTLS      bool   `toml:"require_tls"`
	Diagnostics     string `toml:"diagnostics"`
	IdleTimeout     string `toml:"idle_timeout"`
	ReadTimeout     string `toml:"read_timeout"`
	WriteTimeout    string `toml:"write_timeout"`
	ShutdownTimeout string `toml:"shutdown_timeout"`
	MaxConnections  int    `toml:"max_connections"`
	MaxRequestBytes int    `toml:"max_request_bytes"`
	MaxOpsPerConn   int    `toml:"max_ops_per_conn"`
	// BusyBackoff holds a connection's next bind this long after a 51
	// busy (default DefaultBusyBackoff; "0s" = off).
	BusyBackoff string `toml:"busy_backoff"`
	// SizeLimit caps a listing answer and each page (default 500).
	SizeLimit int `toml:"size_limit"`
	// TimeLimit bounds a listing answer or page (default 30s).
	TimeLimit string `toml:"time_limit"`
	TLS       *TLS   `toml:"tls"`
}

// TLS is [server.tls].
type TLS struct {
	CertFile  string `toml:"cert_file"`
	KeyFile   string `toml:"key_file"`
	ListenTLS string `toml:"listen_tls"`
}

// Log is [log].
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text, json
	// AuditFile receives one JSON line per bind and password change; "-"
	// is standard output, "" turns the audit trail off.
	AuditFile     string `toml:"audit_file"`
	AuditMaxMB    int    `toml:"audit_max_mb"`    // rotate past this size; default 100
	AuditMaxFiles int    `toml:"audit_max_files"` // rotated files kept; default 5
}

// HTTP is [http]: the read-only metrics and health endpoints.
type HTTP struct {
	Listen string `toml:"listen"` // e.g. "127.0.0.1:9389"; "" = off
}

// Web is [web]: the self-service PIN page (package web).
type Web struct {
	Enabled bool `toml:"enabled"`
	// Listen is the page's own address; "" = served on the [http] listener.
	Listen string `toml:"listen"`
	// SetupCodeTTL is how long a set-up code from binderyctl stays valid
	// (default "336h", 14 days).
	SetupCodeTTL string `toml:"setup_code_ttl"`
	// BaseURL, when set, is printed by binderyctl with each set-up code
	// (e.g. "https://library.example.edu:8443").
	BaseURL string `toml:"base_url"`
}

// DefaultSetupCodeTTL is the default [web] setup_code_ttl.
const DefaultSetupCodeTTL = 14 * 24 * time.Hour

// PINPolicy is [pin_policy].
type PINPolicy struct {
	MinLength  int     `toml:"min_length"`
	MaxLength  int     `toml:"max_length"`
	MinClasses int     `toml:"min_classes"`
	Argon2     *Argon2 `toml:"argon2"`
	// NoChangeCategories lists patron categories that may not change their own PIN.
	NoChangeCategories []string `toml:"no_change_categories"`
}

// Argon2 is [pin_policy.argon2].
type Argon2 struct {
	MemoryKiB   uint32 `toml:"memory_kib"`
	Iterations  uint32 `toml:"iterations"`
	Parallelism uint8  `toml:"parallelism"`
}

// Lockout is [lockout].
type Lockout struct {
	MaxFailures *int   `toml:"max_failures"`
	Window      string `toml:"window"`
	Duration    string `toml:"duration"`
	Reveal      bool   `toml:"reveal"`
	// ThrottleAfter failed binds from one (client address, account) pair
	// within Window slow that pair down (1s, 2s, 4s... 60s). 0 = off.
	ThrottleAfter *int `toml:"throttle_after"`
}

// Cache is [cache]: the authentication cache in front of every backend.
type Cache struct {
	TTL           string `toml:"ttl"`             // default 5m; "0s" = no cache
	NegativeTTL   string `toml:"negative_ttl"`    // default 30s; "0s" = no negative cache
	MaxEntries    int    `toml:"max_entries"`     // default 200000, per backend
	ServeStaleFor string `toml:"serve_stale_for"` // default 0s = off
}

// Hashing is [hashing]: the bounded pool every password verification runs in.
type Hashing struct {
	Workers int  `toml:"workers"` // default: number of CPUs
	Queue   *int `toml:"queue"`   // default 4 × workers; 0 = no waiting
	// Nice lowers the scheduling priority of the hashing threads by this
	// much (Linux nice, 1-19); 0 runs hashing at the server's priority.
	Nice *int `toml:"nice"` // default DefaultHashingNice
}

// DefaultHashingNice is [hashing] nice when unset: hashing yields the CPU
// to everything else (cached binds, the network, other processes) and
// gets what is left.
const DefaultHashingNice = 10

// ServiceAccount is one [[service_account]].
type ServiceAccount struct {
	Name         string   `toml:"name"`
	PasswordHash string   `toml:"password_hash"`
	PasswordFile string   `toml:"password_hash_file"`
	CanSearch    bool     `toml:"can_search"`
	CanReset     bool     `toml:"can_reset"`
	Networks     []string `toml:"networks"`
	// CanList allows listings (filters naming no ID, paged walks); needs can_search.
	CanList bool `toml:"can_list"`
	// Attributes, when set, are the only person attributes the account may read.
	Attributes []string `toml:"attributes"`
}

// Route is one [[route]].
type Route struct {
	Name          string `toml:"name"`
	Match         string `toml:"match"`
	Case          string `toml:"case"` // upper, lower, none
	Backend       string `toml:"backend"`
	RequirePatron bool   `toml:"require_patron"`
	PatronBackend string `toml:"patron_backend"` // the pinstore that must hold an active patron; default: the only pinstore
}

// Backend is one [backend.NAME]. Which keys are allowed depends on Type.
type Backend struct {
	Type string `toml:"type"`

	// ldap
	URLs               []string          `toml:"urls"`
	BindDN             string            `toml:"bind_dn"`
	BindPassword       string            `toml:"bind_password"`
	BindPasswordFile   string            `toml:"bind_password_file"`
	BaseDN             string            `toml:"base_dn"`
	UserFilter         string            `toml:"user_filter"`
	DNTemplate         string            `toml:"dn_template"`
	StartTLS           bool              `toml:"start_tls"`
	CAFile             string            `toml:"ca_file"`
	InsecureSkipVerify bool              `toml:"insecure_skip_verify"`
	Timeout            string            `toml:"timeout"`
	PoolSize           int               `toml:"pool_size"`
	PoolMinIdle        *int              `toml:"pool_min_idle"`
	Attributes         map[string]string `toml:"attributes"`
	IDAttribute        string            `toml:"id_attribute"`
	UUIDAttribute      string            `toml:"uuid_attribute"`
	LookupTTL          string            `toml:"lookup_ttl"`
	LookupMaxEntries   int               `toml:"lookup_max_entries"`

	// pinstore
	Driver string `toml:"driver"`
	DSN    string `toml:"dsn"`

	// static
	Users []StaticUser `toml:"user"`
}

// StaticUser is one [[backend.NAME.user]].
type StaticUser struct {
	ID           string `toml:"id"`
	PasswordHash string `toml:"password_hash"`
	Name         string `toml:"name"`
	GivenName    string `toml:"given_name"`
	Surname      string `toml:"surname"`
	Mail         string `toml:"mail"`
	Category     string `toml:"category"`
	Institution  string `toml:"institution"`
}

// backendKeys lists the keys each backend type accepts (besides "type").
var backendKeys = map[string][]string{
	"ldap": {"urls", "bind_dn", "bind_password", "bind_password_file", "base_dn", "user_filter",
		"dn_template", "start_tls", "ca_file", "insecure_skip_verify", "timeout", "pool_size", "pool_min_idle",
		"attributes", "id_attribute", "uuid_attribute", "lookup_ttl", "lookup_max_entries"},
	"pinstore": {"driver", "dsn"},
	"static":   {"user"},
}

// Problems is every error found in a configuration, each naming its key.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return "config: " + p[0]
	}
	return fmt.Sprintf("config: %d problems:\n  %s", len(p), strings.Join(p, "\n  "))
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, err
	}
	cfg.Path = path
	return cfg, nil
}

// Parse decodes and validates TOML text. The error, when there is one, is
// a Problems listing everything wrong, or a TOML syntax error with its line.
func Parse(data []byte) (*Config, error) {
	var cfg Config
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("config: line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	var probs Problems
	for _, k := range md.Undecoded() {
		probs = append(probs, fmt.Sprintf("%s: unknown key", k.String()))
	}
	cfg.applyDefaults()
	probs = append(probs, cfg.validate(&md)...)
	if len(probs) > 0 {
		return nil, probs
	}
	return &cfg, nil
}

// Defaults for keys left out.
const (
	DefaultListen          = "127.0.0.1:3893"
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultReadTimeout     = 30 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	DefaultMaxConnections  = 10000
	DefaultMaxRequestBytes = 1 << 20
	DefaultMaxOpsPerConn   = 64
	DefaultLDAPTimeout     = 5 * time.Second
	DefaultCacheTTL        = 5 * time.Minute
	DefaultNegativeTTL     = 30 * time.Second
	DefaultCacheEntries    = 200000
	DefaultThrottleAfter   = 3
	DefaultBusyBackoff     = time.Second
	DefaultPoolMinIdle     = 2
)

func (c *Config) applyDefaults() {
	if c.Server.Listen == "" {
		c.Server.Listen = DefaultListen
	}
	if c.Server.AllowAnonymous == nil {
		c.Server.AllowAnonymous = new(true)
	}
	if c.Server.MaxConnections == 0 {
		c.Server.MaxConnections = DefaultMaxConnections
	}
	if c.Server.MaxRequestBytes == 0 {
		c.Server.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.Server.MaxOpsPerConn == 0 {
		c.Server.MaxOpsPerConn = DefaultMaxOpsPerConn
	}
	if c.PINPolicy.MinLength == 0 {
		c.PINPolicy.MinLength = 10
	}
	if c.PINPolicy.MaxLength == 0 {
		c.PINPolicy.MaxLength = 20
	}
	if c.PINPolicy.MinClasses == 0 {
		c.PINPolicy.MinClasses = 2
	}
	if c.Lockout.MaxFailures == nil {
		n := 5
		c.Lockout.MaxFailures = &n
	}
	if c.Lockout.Window == "" {
		c.Lockout.Window = "15m"
	}
	if c.Lockout.Duration == "" {
		c.Lockout.Duration = "15m"
	}
	if c.Lockout.ThrottleAfter == nil {
		n := DefaultThrottleAfter
		c.Lockout.ThrottleAfter = &n
	}
	if c.Cache.TTL == "" {
		c.Cache.TTL = DefaultCacheTTL.String()
	}
	if c.Cache.NegativeTTL == "" {
		c.Cache.NegativeTTL = DefaultNegativeTTL.String()
	}
	if c.Cache.MaxEntries == 0 {
		c.Cache.MaxEntries = DefaultCacheEntries
	}
	if c.Cache.ServeStaleFor == "" {
		c.Cache.ServeStaleFor = "0s"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	c.POSIX.applyDefaults()
	if c.Web.SetupCodeTTL == "" {
		c.Web.SetupCodeTTL = DefaultSetupCodeTTL.String()
	}
	for i := range c.Routes {
		if c.Routes[i].Case == "" {
			c.Routes[i].Case = "none"
		}
	}
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

var serviceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (c *Config) validate(md *toml.MetaData) Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	s := &c.Server
	if s.Suffix == "" {
		add("server.suffix: required (e.g. \"dc=library,dc=example,dc=edu\")")
	} else if !validDN(s.Suffix) {
		add("server.suffix: %q is not a valid DN", s.Suffix)
	}
	if !validHostPort(s.Listen) {
		add("server.listen: %q is not host:port", s.Listen)
	}
	switch s.Diagnostics {
	case "", "ad":
	default:
		add("server.diagnostics: %q is not one of \"\" or \"ad\"", s.Diagnostics)
	}
	for key, v := range map[string]string{
		"server.idle_timeout": s.IdleTimeout, "server.read_timeout": s.ReadTimeout,
		"server.write_timeout": s.WriteTimeout, "server.shutdown_timeout": s.ShutdownTimeout,
		"server.busy_backoff": s.BusyBackoff,
	} {
		checkDuration(&p, key, v, true)
	}
	if s.MaxConnections < 0 {
		add("server.max_connections: must be positive")
	}
	if s.MaxRequestBytes < 0 || (s.MaxRequestBytes > 0 && s.MaxRequestBytes < 512) {
		add("server.max_request_bytes: must be at least 512")
	}
	if s.MaxOpsPerConn < 0 {
		add("server.max_ops_per_conn: must be positive")
	}
	if s.SizeLimit < 0 {
		add("server.size_limit: must be positive")
	}
	checkDuration(&p, "server.time_limit", s.TimeLimit, false)
	if t := s.TLS; t != nil {
		if t.CertFile == "" {
			add("server.tls.cert_file: required when [server.tls] is present")
		}
		if t.KeyFile == "" {
			add("server.tls.key_file: required when [server.tls] is present")
		}
		if t.ListenTLS != "" && !validHostPort(t.ListenTLS) {
			add("server.tls.listen_tls: %q is not host:port", t.ListenTLS)
		}
	} else if s.RequireTLS {
		add("server.require_tls: needs [server.tls] (cert_file, key_file) so that clients can use StartTLS")
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format: %q is not one of text, json", c.Log.Format)
	}
	if c.Log.AuditMaxMB < 0 {
		add("log.audit_max_mb: must be positive")
	}
	if c.Log.AuditMaxFiles < 0 {
		add("log.audit_max_files: must be positive")
	}
	if c.HTTP.Listen != "" && !validHostPort(c.HTTP.Listen) {
		add("http.listen: %q is not host:port", c.HTTP.Listen)
	}
	p = append(p, c.Web.validate(c)...)
	p = append(p, c.POSIX.validate(c)...)

	pp := &c.PINPolicy
	if pp.MinLength < 1 {
		add("pin_policy.min_length: must be at least 1")
	}
	if pp.MaxLength < pp.MinLength {
		add("pin_policy.max_length: %d is less than min_length %d", pp.MaxLength, pp.MinLength)
	}
	if pp.MaxLength > 128 {
		add("pin_policy.max_length: at most 128")
	}
	if pp.MinClasses < 1 || pp.MinClasses > 3 {
		add("pin_policy.min_classes: must be 1, 2 or 3")
	}
	if a := pp.Argon2; a != nil {
		if a.MemoryKiB < 8 {
			add("pin_policy.argon2.memory_kib: must be at least 8")
		}
		if a.Iterations < 1 {
			add("pin_policy.argon2.iterations: must be at least 1")
		}
		if a.Parallelism < 1 {
			add("pin_policy.argon2.parallelism: must be at least 1")
		}
	}
	if *c.Lockout.MaxFailures < 0 {
		add("lockout.max_failures: must be 0 (off) or more")
	}
	checkDuration(&p, "lockout.window", c.Lockout.Window, false)
	checkDuration(&p, "lockout.duration", c.Lockout.Duration, true)
	if *c.Lockout.ThrottleAfter < 0 {
		add("lockout.throttle_after: must be 0 (off) or more")
	}

	checkDuration(&p, "cache.ttl", c.Cache.TTL, true)
	checkDuration(&p, "cache.negative_ttl", c.Cache.NegativeTTL, true)
	checkDuration(&p, "cache.serve_stale_for", c.Cache.ServeStaleFor, true)
	if c.Cache.MaxEntries < 0 {
		add("cache.max_entries: must be positive")
	}
	if c.Hashing.Workers < 0 {
		add("hashing.workers: must be positive (default: the number of CPUs)")
	}
	if q := c.Hashing.Queue; q != nil && *q < 0 {
		add("hashing.queue: must be 0 (no waiting) or more")
	}
	if n := c.Hashing.Nice; n != nil && (*n < 0 || *n > 19) {
		add("hashing.nice: must be 0 (the server's priority) to 19, got %d", *n)
	}

	seenSA := map[string]bool{}
	for i, sa := range c.ServiceAccounts {
		key := fmt.Sprintf("service_account[%d]", i)
		if !serviceNameRE.MatchString(sa.Name) {
			add("%s.name: %q must be 1-64 letters, digits, '.', '_' or '-'", key, sa.Name)
		}
		if seenSA[strings.ToLower(sa.Name)] {
			add("%s.name: %q is defined twice", key, sa.Name)
		}
		seenSA[strings.ToLower(sa.Name)] = true
		switch {
		case sa.PasswordHash == "" && sa.PasswordFile == "":
			add("%s.password_hash: required (print one with `binderyctl hash`)", key)
		case sa.PasswordHash != "" && sa.PasswordFile != "":
			add("%s.password_hash_file: give password_hash or password_hash_file, not both", key)
		case sa.PasswordHash != "":
			if err := checkHash(sa.PasswordHash); err != nil {
				add("%s.password_hash: %v", key, err)
			}
		}
		for j, n := range sa.Networks {
			if _, err := parseNetwork(n); err != nil {
				add("%s.networks[%d]: %q is not an address or CIDR prefix", key, j, n)
			}
		}
		if sa.CanList && !sa.CanSearch {
			add("%s.can_list: needs can_search = true", key)
		}
		for j, a := range sa.Attributes {
			if !attrNameRE.MatchString(a) {
				add("%s.attributes[%d]: %q is not an attribute name", key, j, a)
			}
		}
	}

	if len(c.Routes) == 0 {
		add("route: at least one [[route]] is required")
	}
	seenRoute := map[string]bool{}
	for i, r := range c.Routes {
		key := fmt.Sprintf("route[%d]", i)
		if r.Name == "" {
			add("%s.name: required", key)
		} else if seenRoute[r.Name] {
			add("%s.name: %q is defined twice", key, r.Name)
		}
		seenRoute[r.Name] = true
		if r.Match == "" {
			add("%s.match: required (a regular expression over the login ID)", key)
		} else if _, err := regexp.Compile(r.Match); err != nil {
			add("%s.match: bad regular expression: %v", key, err)
		}
		switch r.Case {
		case "upper", "lower", "none":
		default:
			add("%s.case: %q is not one of upper, lower, none", key, r.Case)
		}
		b, ok := c.Backends[r.Backend]
		switch {
		case r.Backend == "":
			add("%s.backend: required", key)
		case !ok:
			add("%s.backend: no [backend.%s] is defined", key, r.Backend)
		}
		if r.RequirePatron {
			if ok && b.Type == "pinstore" {
				add("%s.require_patron: the route's own backend is a pinstore; require_patron is for campus routes", key)
			}
			if pb := r.PatronBackend; pb != "" {
				if pbk, ok := c.Backends[pb]; !ok {
					add("%s.patron_backend: no [backend.%s] is defined", key, pb)
				} else if pbk.Type != "pinstore" {
					add("%s.patron_backend: backend %q is of type %q, not pinstore", key, pb, pbk.Type)
				}
			} else if n := len(c.backendsOfType("pinstore")); n != 1 {
				add("%s.patron_backend: required with require_patron when there are %d pinstore backends", key, n)
			}
		} else if r.PatronBackend != "" {
			add("%s.patron_backend: only meaningful with require_patron = true", key)
		}
	}

	names := make([]string, 0, len(c.Backends))
	for n := range c.Backends {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		p = append(p, c.Backends[name].validate("backend."+name, md)...)
	}
	return p
}

func (c *Config) backendsOfType(t string) []string {
	var out []string
	for n, b := range c.Backends {
		if b.Type == t {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (b *Backend) validate(key string, md *toml.MetaData) Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	allowed, ok := backendKeys[b.Type]
	if !ok {
		if b.Type == "" {
			add("%s.type: required (ldap, pinstore or static)", key)
		} else {
			add("%s.type: %q is not one of ldap, pinstore, static", key, b.Type)
		}
		return p
	}
	// Keys that belong to another backend type are errors too.
	parts := strings.Split(key, ".")
	for t, keys := range backendKeys {
		if t == b.Type {
			continue
		}
		for _, k := range keys {
			if contains(allowed, k) {
				continue
			}
			if md.IsDefined(append(parts, k)...) {
				add("%s.%s: not a key of a %q backend", key, k, b.Type)
			}
		}
	}
	switch b.Type {
	case "ldap":
		if len(b.URLs) == 0 {
			add("%s.urls: at least one ldap:// or ldaps:// URL is required", key)
		}
		for i, u := range b.URLs {
			if !strings.HasPrefix(strings.ToLower(u), "ldap://") && !strings.HasPrefix(strings.ToLower(u), "ldaps://") {
				add("%s.urls[%d]: %q must start with ldap:// or ldaps://", key, i, u)
			}
		}
		if b.BindPassword != "" && b.BindPasswordFile != "" {
			add("%s.bind_password_file: give bind_password or bind_password_file, not both", key)
		}
		if b.BindPasswordFile != "" {
			if _, err := os.Stat(b.BindPasswordFile); err != nil {
				add("%s.bind_password_file: %v", key, err)
			}
		}
		if b.DNTemplate == "" {
			if b.BaseDN == "" {
				add("%s.base_dn: required (or give dn_template)", key)
			} else if !validDN(b.BaseDN) {
				add("%s.base_dn: %q is not a valid DN", key, b.BaseDN)
			}
			if b.UserFilter == "" {
				b.UserFilter = "(uid={id})"
			}
			if !strings.Contains(b.UserFilter, "{id}") {
				add("%s.user_filter: %q must contain the {id} placeholder", key, b.UserFilter)
			} else if err := checkFilter(strings.ReplaceAll(b.UserFilter, "{id}", "x")); err != nil {
				add("%s.user_filter: %v", key, err)
			}
		} else if !strings.Contains(b.DNTemplate, "{id}") {
			add("%s.dn_template: %q must contain the {id} placeholder", key, b.DNTemplate)
		}
		if b.CAFile != "" {
			if _, err := os.Stat(b.CAFile); err != nil {
				add("%s.ca_file: %v", key, err)
			}
		}
		checkDuration(&p, key+".timeout", b.Timeout, true)
		checkDuration(&p, key+".lookup_ttl", b.LookupTTL, true)
		if b.LookupMaxEntries < 0 {
			add("%s.lookup_max_entries: must be positive", key)
		}
		if b.PoolSize < 0 {
			add("%s.pool_size: must be positive", key)
		}
		if m := b.PoolMinIdle; m != nil {
			size := b.PoolSize
			if size == 0 {
				size = ldapbackend.DefaultPoolSize
			}
			if *m < 0 {
				add("%s.pool_min_idle: must be 0 (no warm connections) or more", key)
			} else if *m > size {
				add("%s.pool_min_idle: %d is more than pool_size %d", key, *m, size)
			}
		}
	case "pinstore":
		switch b.Driver {
		case "sqlite", "postgres":
		case "":
			add("%s.driver: required (sqlite or postgres)", key)
		default:
			add("%s.driver: %q is not supported (sqlite or postgres)", key, b.Driver)
		}
		switch {
		case b.DSN == "" && b.Driver == "postgres":
			add("%s.dsn: required (a URL, e.g. postgres://bindery@db.example.edu/bindery)", key)
		case b.DSN == "":
			add("%s.dsn: required (the database file, e.g. /var/lib/bindery/pins.db)", key)
		case b.Driver == "postgres":
			if _, err := pgconn.ParseConfig(b.DSN); err != nil { // err may quote the password: not shown
				add("%s.dsn: not a PostgreSQL URL or key=value string", key)
			}
		}
	case "static":
		seen := map[string]bool{}
		for i, u := range b.Users {
			ukey := fmt.Sprintf("%s.user[%d]", key, i)
			if u.ID == "" {
				add("%s.id: required", ukey)
			} else if seen[u.ID] {
				add("%s.id: %q is defined twice", ukey, u.ID)
			}
			seen[u.ID] = true
			if u.PasswordHash == "" {
				add("%s.password_hash: required (print one with `binderyctl hash`)", ukey)
			} else if err := checkHash(u.PasswordHash); err != nil {
				add("%s.password_hash: %v", ukey, err)
			}
		}
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Duration parses a duration key that validation has already checked.
func Duration(v string, def time.Duration) time.Duration {
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return def
	}
	return d
}

func checkDuration(p *Problems, key, v string, zeroOK bool) {
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		*p = append(*p, fmt.Sprintf("%s: %q is not a duration (e.g. \"30s\", \"5m\")", key, v))
		return
	}
	if d < 0 || (d == 0 && !zeroOK) {
		*p = append(*p, fmt.Sprintf("%s: %q must be positive", key, v))
	}
}

func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
