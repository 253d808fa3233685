package ldapbackend

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultPoolSize      = 8
	DefaultIDAttribute   = "uid"
	DefaultUUIDAttribute = "entryUUID"
	DefaultPrimaryRetry  = 30 * time.Second
	// DefaultMinIdle is how many idle connections the health check keeps
	// in each pool when MinIdle is nil (at most PoolSize).
	DefaultMinIdle = 2
	// DefaultHealthInterval and DefaultLookupTTL are what NewConfig sets:
	// a [backend.NAME] table gets a health check and a lookup memory,
	// while the zero Config has neither.
	DefaultHealthInterval = 10 * time.Second
	DefaultLookupTTL      = 5 * time.Minute
	// DefaultLookupMaxEntries bounds the lookup memory when LookupTTL is set.
	DefaultLookupMaxEntries = 100_000
	placeholder             = "{id}"
)

// DefaultAttributes maps the virtual attributes bindery presents to the
// upstream attributes they are read from. Config.Attributes is merged over it.
var DefaultAttributes = map[string]string{
	"cn":           "cn",
	"sn":           "sn",
	"givenName":    "givenName",
	"mail":         "mail",
	"employeeType": "employeeType",
	"o":            "o",
}

// reservedVirtual are virtual attributes bindery fills itself; they cannot be
// mapped from upstream.
var reservedVirtual = []string{"uid", "entryUUID", "objectClass", "memberOf", "userPassword"}

// Config describes one upstream directory: the keys of a [backend.NAME]
// table of type "ldap" (the toml tags), and what a program sets. The zero
// value of each field is documented; NewConfig is what a table starts from.
type Config struct {
	// Name of the backend, for logs and errors. Default "ldap".
	Name string `toml:"-"`
	// URLs of the directory servers, tried in order (failover):
	// ldap://host[:389] or ldaps://host[:636]. At least one.
	URLs []string `toml:"urls"`
	// BindDN and BindPassword are the service account that searches. Empty
	// BindDN: searches are anonymous (and BindPassword must be empty too).
	BindDN       string `toml:"bind_dn"`
	BindPassword string `toml:"bind_password"`
	// BindPasswordFile, instead of BindPassword, is a file holding the
	// service account's password (trailing line ending ignored), read by New.
	BindPasswordFile string `toml:"bind_password_file"`
	// BaseDN is where users are searched (subtree). Required unless
	// DNTemplate is set.
	BaseDN string `toml:"base_dn"`
	// UserFilter finds a user; {id} is replaced by the login ID escaped with
	// ldap.EscapeFilter. Default "(<IDAttribute>={id})", i.e. "(uid={id})".
	UserFilter string `toml:"user_filter"`
	// DNTemplate, when set, skips the search: the user binds directly as
	// the template with {id} replaced by the login ID escaped with
	// ldap.EscapeDN, e.g. "uid={id},ou=people,dc=example,dc=org".
	DNTemplate string `toml:"dn_template"`
	// StartTLS upgrades ldap:// connections before anything else is sent.
	// Not allowed with ldaps:// URLs.
	StartTLS bool `toml:"start_tls"`
	// CAFile is a PEM file of CA certificates trusted for LDAPS/StartTLS.
	// Empty: the system roots.
	CAFile string `toml:"ca_file"`
	// InsecureSkipVerify turns off certificate verification (tests only).
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
	// Timeout bounds one Authenticate, Lookup or Ping call as a whole,
	// including dials, failover, TLS handshakes, search and bind.
	// Default 5s.
	Timeout time.Duration `toml:"timeout"`
	// PoolSize is the most connections open at once in each of the two
	// pools (service searches, user binds). Default 8.
	PoolSize int `toml:"pool_size"`
	// MinIdle is how many idle connections the health check keeps in each
	// pool (service, bind), at most PoolSize. nil: DefaultMinIdle, capped
	// at PoolSize; 0: none.
	MinIdle *int `toml:"pool_min_idle"`
	// Attributes maps virtual attribute → upstream attribute, merged over
	// DefaultAttributes (cn, sn, givenName, mail, employeeType, o map to
	// themselves). Map a virtual attribute to "" to drop it. Virtual
	// attributes other than the six defaults go to Entry.Extra.
	Attributes map[string]string `toml:"attributes"`
	// IDAttribute is the upstream attribute holding the login ID; it
	// builds the default UserFilter. Default "uid".
	IDAttribute string `toml:"id_attribute"`
	// UUIDAttribute is read into Entry.UUID. Default "entryUUID"; for
	// Active Directory use "objectGUID" (binary, converted).
	UUIDAttribute string `toml:"uuid_attribute"`
	// LookupTTL is how long the DN and entry found for a login ID are
	// remembered (see lookups): a login then costs one upstream bind, not
	// a search and a bind. Passwords are always checked upstream; a DN
	// that went stale is searched again. 0: every login searches.
	LookupTTL time.Duration `toml:"lookup_ttl"`
	// LookupMaxEntries bounds that memory (least recently used out).
	// Default DefaultLookupMaxEntries when LookupTTL is set.
	LookupMaxEntries int `toml:"lookup_max_entries"`
	// PrimaryRetry is how long bindery keeps using a later URL after the
	// first one failed before trying the first again. Default 30s.
	PrimaryRetry time.Duration `toml:"-"`
	// ObserveRequest, when set, is told the duration of every request
	// sent upstream, op "bind" (service, anonymous and user binds) or
	// "search", whether it succeeded or not (the server feeds
	// bindery_upstream_request_duration_seconds with it). It must be quick.
	ObserveRequest func(op string, d time.Duration) `toml:"-"`
	// HealthInterval, when positive, starts a background health check
	// (stopped by Close): right away and then every HealthInterval it
	// Pings the directory (keeping State current) and dials connections
	// until each pool has MinIdle idle ones, so that a cache miss costs
	// one upstream bind rather than a TCP and TLS handshake. 0: no check
	// (New then does not contact the directory).
	HealthInterval time.Duration `toml:"-"`
	// Logger receives warnings (ambiguous IDs, URL failures). Default:
	// discard. Passwords are never logged.
	Logger *slog.Logger `toml:"-"`
}

// NewConfig is the configuration a [backend.NAME] table of type "ldap"
// starts from: the zero Config with a health check and a lookup memory.
func NewConfig() *Config {
	return &Config{HealthInterval: DefaultHealthInterval, LookupTTL: DefaultLookupTTL}
}

// Validate lists every problem with c at once (errors.Join), each error's
// text starting with the key it is about, as in the configuration file
// ("urls[0]: ..."). It reads CAFile and looks for BindPasswordFile.
func (c *Config) Validate() error {
	_, err := validate(*c)
	return err
}

// upstream is one parsed URL.
type upstream struct {
	raw      string
	hostport string
	ldaps    bool
	tls      *tls.Config
}

// settings is Config after defaults and validation.
type settings struct {
	Config
	upstreams []upstream
	attrs     map[string]string // virtual → upstream, without dropped ones
	fetch     []string          // upstream attributes to request
	minIdle   int               // MinIdle with its default
}

// validate applies defaults and checks cfg, listing every problem at once.
func validate(cfg Config) (*settings, error) {
	s := &settings{Config: cfg}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	// A bare number in the file is nanoseconds to the TOML decoder.
	duration := func(key string, d time.Duration) {
		if d < 0 {
			bad(key, "must be positive, got %v", d)
		} else if d > 0 && d < time.Millisecond {
			bad(key, "%v is less than a millisecond: write a duration such as \"5s\"", d)
		}
	}

	if s.Name == "" {
		s.Name = "ldap"
	}
	duration("timeout", s.Timeout)
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.PoolSize == 0 {
		s.PoolSize = DefaultPoolSize
	} else if s.PoolSize < 0 {
		bad("pool_size", "must be positive, got %d", s.PoolSize)
	}
	s.minIdle = min(DefaultMinIdle, s.PoolSize)
	if s.MinIdle != nil {
		s.minIdle = *s.MinIdle
		if s.minIdle < 0 {
			bad("pool_min_idle", "must be 0 (no warm connections) or more, got %d", s.minIdle)
		} else if s.minIdle > s.PoolSize && s.PoolSize > 0 {
			bad("pool_min_idle", "%d is more than pool_size %d", s.minIdle, s.PoolSize)
		}
	}
	if s.HealthInterval < 0 {
		s.HealthInterval = 0
	}
	duration("lookup_ttl", s.LookupTTL)
	if s.LookupMaxEntries == 0 {
		s.LookupMaxEntries = DefaultLookupMaxEntries
	} else if s.LookupMaxEntries < 0 {
		bad("lookup_max_entries", "must be positive, got %d", s.LookupMaxEntries)
	}
	if s.PrimaryRetry <= 0 {
		s.PrimaryRetry = DefaultPrimaryRetry
	}
	if s.IDAttribute == "" {
		s.IDAttribute = DefaultIDAttribute
	}
	if s.UUIDAttribute == "" {
		s.UUIDAttribute = DefaultUUIDAttribute
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}

	var roots *x509.CertPool
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			bad("ca_file", "%v", err)
		} else {
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				bad("ca_file", "%s holds no PEM certificate", s.CAFile)
			}
		}
	}

	if len(s.URLs) == 0 {
		bad("urls", "at least one ldap:// or ldaps:// URL is required")
	}
	for i, raw := range s.URLs {
		key := fmt.Sprintf("urls[%d]", i)
		u, err := url.Parse(raw)
		if err != nil {
			bad(key, "%q: %v", raw, err)
			continue
		}
		up := upstream{raw: raw}
		port := u.Port()
		switch strings.ToLower(u.Scheme) {
		case "ldap":
			if port == "" {
				port = "389"
			}
		case "ldaps":
			up.ldaps = true
			if port == "" {
				port = "636"
			}
			if s.StartTLS {
				bad("start_tls", "cannot be used with the ldaps URL %q", raw)
			}
		default:
			bad(key, "%q: scheme must be ldap or ldaps (ldap:// or ldaps://)", raw)
			continue
		}
		if u.Hostname() == "" {
			bad(key, "%q: no host", raw)
			continue
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			bad(key, "%q: only scheme://host[:port] is allowed (put the base DN in base_dn)", raw)
			continue
		}
		up.hostport = net.JoinHostPort(u.Hostname(), port)
		up.tls = &tls.Config{
			ServerName:         u.Hostname(),
			RootCAs:            roots,
			InsecureSkipVerify: s.InsecureSkipVerify, //nolint:gosec // documented, for tests
			MinVersion:         tls.VersionTLS12,
		}
		s.upstreams = append(s.upstreams, up)
	}

	hasPassword := s.BindPassword != "" || s.BindPasswordFile != ""
	if s.BindPassword != "" && s.BindPasswordFile != "" {
		bad("bind_password_file", "give bind_password or bind_password_file, not both")
	} else if s.BindPasswordFile != "" {
		if _, err := os.Stat(s.BindPasswordFile); err != nil {
			bad("bind_password_file", "%v", err)
		}
	}
	if s.BindDN == "" && hasPassword {
		bad("bind_password", "set without bind_dn")
	}
	if s.BindDN != "" {
		if !hasPassword {
			// An empty-password simple bind is an unauthenticated bind:
			// it would "succeed" as anonymous on many servers.
			bad("bind_password", "required with bind_dn (an empty password is an unauthenticated bind)")
		}
		if _, err := ldap.ParseDN(s.BindDN); err != nil {
			bad("bind_dn", "%q: %v", s.BindDN, err)
		}
	}

	if s.DNTemplate != "" {
		if !strings.Contains(s.DNTemplate, placeholder) {
			bad("dn_template", "must contain the %s placeholder, got %q", placeholder, s.DNTemplate)
		} else if _, err := ldap.ParseDN(strings.ReplaceAll(s.DNTemplate, placeholder, "x")); err != nil {
			bad("dn_template", "%q: %v", s.DNTemplate, err)
		}
	} else if s.BaseDN == "" {
		bad("base_dn", "required (or give dn_template)")
	}
	if s.BaseDN != "" {
		if _, err := ldap.ParseDN(s.BaseDN); err != nil {
			bad("base_dn", "%q is not a valid DN: %v", s.BaseDN, err)
		}
	}
	if s.UserFilter == "" {
		s.UserFilter = "(" + s.IDAttribute + "=" + placeholder + ")"
	}
	if !strings.Contains(s.UserFilter, placeholder) {
		bad("user_filter", "must contain the %s placeholder, got %q", placeholder, s.UserFilter)
	} else if _, err := ldap.CompileFilter(strings.ReplaceAll(s.UserFilter, placeholder, "x")); err != nil {
		bad("user_filter", "%q is not a valid LDAP filter: %v", s.UserFilter, err)
	}

	s.attrs = map[string]string{}
	for k, v := range DefaultAttributes {
		s.attrs[k] = v
	}
	for virt, up := range s.Attributes {
		if virt == "" {
			bad("attributes", "empty virtual attribute name")
			continue
		}
		for _, r := range reservedVirtual {
			if strings.EqualFold(virt, r) {
				bad("attributes", "%q is filled by bindery and cannot be mapped", virt)
			}
		}
		// Replace a default whatever its case.
		for k := range s.attrs {
			if strings.EqualFold(k, virt) {
				delete(s.attrs, k)
			}
		}
		if up != "" {
			s.attrs[virt] = up
		}
	}
	seen := map[string]bool{}
	for _, a := range append(mapValues(s.attrs), s.UUIDAttribute, "createTimestamp", "modifyTimestamp") {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			s.fetch = append(s.fetch, a)
		}
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
