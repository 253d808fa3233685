// Package config reads bindery's TOML file: the top-level tables, and each
// [backend.NAME] table decoded into the configuration its backend package
// declares (backends.go). Build (build.go) wires the running parts.
// Every problem is listed at once, naming its key; see README.md.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole file.
type Config struct {
	Server          Server           `toml:"server"`
	Log             Log              `toml:"log"`
	HTTP            HTTP             `toml:"http"`
	Web             Web              `toml:"web"`
	Staff           Staff            `toml:"staff"`
	PINPolicy       PINPolicy        `toml:"pin_policy"`
	Lockout         Lockout          `toml:"lockout"`
	Cache           Cache            `toml:"cache"`
	Hashing         Hashing          `toml:"hashing"`
	POSIX           POSIX            `toml:"posix"`
	ServiceAccounts []ServiceAccount `toml:"service_account"`
	Routes          []Route          `toml:"route"`
	// Backends are the [backend.NAME] tables (decoded by decodeBackends).
	Backends map[string]*Backend `toml:"-"`

	// Path is the file the configuration came from ("" when embedded).
	Path string `toml:"-"`
}

// Problems is every error found in a configuration, each naming its key.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return "config: " + p[0]
	}
	return fmt.Sprintf("config: %d problems:\n  %s", len(p), strings.Join(p, "\n  "))
}

// add appends one problem.
func (p *Problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

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

// document is the file as the decoder sees it: the top-level tables, and
// the backend tables kept undecoded until their type is known.
type document struct {
	Config
	Backend map[string]toml.Primitive `toml:"backend"`
}

// Parse decodes and validates TOML text. The error, when there is one, is
// a Problems listing everything wrong, or a TOML syntax error with its line.
func Parse(data []byte) (*Config, error) {
	var doc document
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("config: line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg := &doc.Config
	probs := append(placeholders(string(data)), cfg.decodeBackends(&md, doc.Backend)...)
	for _, k := range md.Undecoded() {
		if k[0] != "backend" { // decodeBackends reports those
			probs.add("%s: unknown key", k)
		}
	}
	cfg.applyDefaults()
	probs = append(probs, cfg.validate()...)
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

// Warnings lists what a valid file should still change (keys that are no
// longer used); bindery logs them at start and on reload, --check prints
// them.
func (c *Config) Warnings() []string { return c.Hashing.warnings() }

// DefaultListen is [server] listen when unset.
const DefaultListen = "127.0.0.1:3893"

// DefaultShutdownTimeout is [server] shutdown_timeout when unset.
const DefaultShutdownTimeout = 10 * time.Second

func (c *Config) applyDefaults() {
	c.Server.applyDefaults()
	c.Log.applyDefaults()
	c.PINPolicy.applyDefaults()
	c.Lockout.applyDefaults()
	c.Cache.applyDefaults()
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

// validate checks every section, each listing its own problems.
func (c *Config) validate() Problems {
	var p Problems
	p = append(p, c.Server.validate()...)
	p = append(p, c.Log.validate()...)
	if c.HTTP.Listen != "" && !validHostPort(c.HTTP.Listen) {
		p.add("http.listen: %q is not host:port", c.HTTP.Listen)
	}
	p = append(p, c.Web.validate(c)...)
	p = append(p, c.Staff.validate(c)...)
	p = append(p, c.PINPolicy.validate()...)
	p = append(p, c.Lockout.validate()...)
	p = append(p, c.Cache.validate()...)
	p = append(p, c.Hashing.validate()...)
	p = append(p, c.POSIX.validate(c)...)
	p = append(p, validateServiceAccounts(c.ServiceAccounts)...)
	p = append(p, c.validateRoutes()...)
	p = append(p, c.validateBackends()...)
	return p
}

// BackendsOfType lists the names of the backends of type t, sorted.
func (c *Config) BackendsOfType(t string) []string {
	var out []string
	for n, b := range c.Backends {
		if b.Type == t {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
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
		p.add("%s: %q is not a duration (e.g. \"30s\", \"5m\")", key, v)
		return
	}
	if d < 0 || (d == 0 && !zeroOK) {
		p.add("%s: %q must be positive", key, v)
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
