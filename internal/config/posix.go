package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bindery/bindery/proxy"
)

// POSIX is [posix]: the POSIX view of the directory for Linux clients
// (nslcd, SSSD with id_provider = ldap). See proxy/README.md, "POSIX view".
type POSIX struct {
	Enabled bool `toml:"enabled"`
	// UIDRange is [first, last] of the uidNumbers (default DefaultUIDRange).
	UIDRange []int64 `toml:"uid_range"`
	// Groups maps a category to the gidNumber of its group.
	Groups map[string]int64 `toml:"groups"`
	// DefaultGID is the gidNumber of people whose category is not in Groups
	// (default 65534, Debian's nogroup).
	DefaultGID *int64 `toml:"default_gid"`
	// HomeDirectory, "{id}" replaced by the login ID (default "/nonexistent").
	HomeDirectory string `toml:"home_directory"`
	// LoginShell (default "/usr/sbin/nologin").
	LoginShell string `toml:"login_shell"`
	// Store is the pinstore backend that keeps the uidNumbers (default: the
	// only pinstore).
	Store string `toml:"store"`
}

// Defaults of [posix]. The uid range lies above the ranges Linux
// distributions and systemd give out (regular users up to 60000, container
// user namespaces up to 1879048191) and below 2^31: 100 million numbers.
var DefaultUIDRange = []int64{2000000000, 2099999999}

const (
	DefaultGID       = 65534
	maxPOSIXID int64 = 1<<31 - 1
)

func (p *POSIX) applyDefaults() {
	if len(p.UIDRange) == 0 {
		p.UIDRange = DefaultUIDRange
	}
	if p.DefaultGID == nil {
		p.DefaultGID = new(int64(DefaultGID))
	}
	if p.HomeDirectory == "" {
		p.HomeDirectory = proxy.DefaultHomeDirectory
	}
	if p.LoginShell == "" {
		p.LoginShell = proxy.DefaultLoginShell
	}
}

// validate checks [posix]: the ranges, distinct gidNumbers, absolute
// paths, and a pinstore to keep the numbers in.
func (p *POSIX) validate(c *Config) Problems {
	var probs Problems
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if len(p.UIDRange) != 2 {
		add("posix.uid_range: give [first, last], e.g. [%d, %d]", DefaultUIDRange[0], DefaultUIDRange[1])
	} else if lo, hi := p.UIDRange[0], p.UIDRange[1]; lo < 1000 || hi < lo || hi > maxPOSIXID {
		add("posix.uid_range: [%d, %d] must lie within 1000 to %d, first <= last", lo, hi, maxPOSIXID)
	}
	if g := *p.DefaultGID; g < 1 || g > maxPOSIXID {
		add("posix.default_gid: %d is not a gidNumber (1 to %d)", g, maxPOSIXID)
	}
	cats := make([]string, 0, len(p.Groups))
	for cat := range p.Groups {
		cats = append(cats, cat)
	}
	sort.Strings(cats)
	seen := map[int64]string{}
	for _, cat := range cats {
		g := p.Groups[cat]
		if g < 1 || g > maxPOSIXID {
			add("posix.groups.%s: %d is not a gidNumber (1 to %d)", cat, g, maxPOSIXID)
		}
		if other, dup := seen[g]; dup {
			add("posix.groups.%s: gidNumber %d is also %s's", cat, g, other)
		}
		seen[g] = cat
	}
	if !strings.HasPrefix(p.HomeDirectory, "/") {
		add("posix.home_directory: %q must be an absolute path", p.HomeDirectory)
	}
	if !strings.HasPrefix(p.LoginShell, "/") {
		add("posix.login_shell: %q must be an absolute path", p.LoginShell)
	}
	if !p.Enabled {
		return probs
	}
	if p.Store != "" {
		if b, ok := c.Backends[p.Store]; !ok {
			add("posix.store: no [backend.%s] is defined", p.Store)
		} else if b.Type != "pinstore" {
			add("posix.store: backend %q is of type %q, not pinstore", p.Store, b.Type)
		}
	} else if n := len(c.BackendsOfType("pinstore")); n != 1 {
		add("posix.store: required when there are %d pinstore backends (the uidNumbers are kept in one)", n)
	}
	return probs
}

// StoreName is the pinstore that keeps the uidNumbers.
func (p *POSIX) StoreName(c *Config) string {
	if p.Store != "" {
		return p.Store
	}
	if s := c.BackendsOfType("pinstore"); len(s) == 1 {
		return s[0]
	}
	return ""
}

// view builds the proxy's POSIX view over the opened stores (nil when off).
func (p *POSIX) view(c *Config, rt *Runtime) (*proxy.POSIX, error) {
	if !p.Enabled {
		return nil, nil
	}
	store, ok := rt.Stores[p.StoreName(c)]
	if !ok {
		return nil, fmt.Errorf("config: posix.store: no pinstore %q", p.StoreName(c))
	}
	return &proxy.POSIX{
		UIDMin:        p.UIDRange[0],
		UIDMax:        p.UIDRange[1],
		GIDNumbers:    p.Groups,
		DefaultGID:    *p.DefaultGID,
		HomeDirectory: p.HomeDirectory,
		LoginShell:    p.LoginShell,
		Numbers:       store,
	}, nil
}
