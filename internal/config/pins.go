package config

import (
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/bindery/bindery/backend/cache"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/passhash"
	"github.com/bindery/bindery/proxy"
)

// PINPolicy is [pin_policy]: the PIN rules of every PIN store (defaults
// pinstore.DefaultPolicy) and, in [pin_policy.argon2], the cost of new
// hashes (default passhash.DefaultParams).
type PINPolicy struct {
	MinLength  int              `toml:"min_length"`
	MaxLength  int              `toml:"max_length"`
	MinClasses int              `toml:"min_classes"`
	Argon2     *passhash.Params `toml:"argon2"`
	// NoChangeCategories lists patron categories that may not change their own PIN.
	NoChangeCategories []string `toml:"no_change_categories"`
}

// Lockout is [lockout] (defaults pinstore.DefaultLockout and
// proxy.DefaultThrottleAfter).
type Lockout struct {
	MaxFailures *int   `toml:"max_failures"`
	Window      string `toml:"window"`
	Duration    string `toml:"duration"`
	Reveal      bool   `toml:"reveal"`
	// ThrottleAfter failed binds from one (client address, account) pair
	// within Window slow that pair down (1s, 2s, 4s... 60s). 0 = off.
	ThrottleAfter *int `toml:"throttle_after"`
}

// Cache is [cache]: the bind cache in front of every backend (defaults
// cache.DefaultTTL, cache.DefaultNegativeTTL, cache.DefaultMaxEntries).
type Cache struct {
	TTL           string `toml:"ttl"`             // "0s" = no cache
	NegativeTTL   string `toml:"negative_ttl"`    // "0s" = no negative cache
	MaxEntries    int    `toml:"max_entries"`     // per backend
	ServeStaleFor string `toml:"serve_stale_for"` // default 0s = off
}

// PeekHashParams reads [pin_policy.argon2] from a file that may not
// validate yet (binderyctl hash, while the hash is still missing from it).
func PeekHashParams(data []byte) (passhash.Params, error) {
	var doc document
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return passhash.Params{}, err
	}
	return doc.HashParams(), nil
}

func (pp *PINPolicy) applyDefaults() {
	if pp.MinLength == 0 {
		pp.MinLength = pinstore.DefaultPolicy.MinLength
	}
	if pp.MaxLength == 0 {
		pp.MaxLength = pinstore.DefaultPolicy.MaxLength
	}
	if pp.MinClasses == 0 {
		pp.MinClasses = pinstore.DefaultPolicy.MinClasses
	}
}

// Policy is the PIN rules of [pin_policy].
func (pp *PINPolicy) Policy() pinstore.Policy {
	return pinstore.Policy{MinLength: pp.MinLength, MaxLength: pp.MaxLength, MinClasses: pp.MinClasses}
}

func (pp *PINPolicy) validate() Problems {
	p := keyed("pin_policy", pp.Policy().Validate())
	if pp.Argon2 != nil {
		p = append(p, keyed("pin_policy.argon2", pp.Argon2.Validate())...)
	}
	return p
}

func (l *Lockout) applyDefaults() {
	d := pinstore.DefaultLockout
	if l.MaxFailures == nil {
		l.MaxFailures = &d.MaxFailures
	}
	if l.Window == "" {
		l.Window = d.Window.String()
	}
	if l.Duration == "" {
		l.Duration = d.Duration.String()
	}
	if l.ThrottleAfter == nil {
		n := proxy.DefaultThrottleAfter
		l.ThrottleAfter = &n
	}
}

// Lockout is the failure lockout of [lockout].
func (l *Lockout) Lockout() pinstore.Lockout {
	return pinstore.Lockout{MaxFailures: *l.MaxFailures, Window: Duration(l.Window, 0), Duration: Duration(l.Duration, 0)}
}

func (l *Lockout) validate() Problems {
	var p Problems
	if *l.MaxFailures < 0 {
		p.add("lockout.max_failures: must be 0 (off) or more")
	}
	checkDuration(&p, "lockout.window", l.Window, false)
	checkDuration(&p, "lockout.duration", l.Duration, true)
	if *l.ThrottleAfter < 0 {
		p.add("lockout.throttle_after: must be 0 (off) or more")
	}
	return p
}

func (c *Cache) applyDefaults() {
	if c.TTL == "" {
		c.TTL = cache.DefaultTTL.String()
	}
	if c.NegativeTTL == "" {
		c.NegativeTTL = cache.DefaultNegativeTTL.String()
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = cache.DefaultMaxEntries
	}
	if c.ServeStaleFor == "" {
		c.ServeStaleFor = "0s"
	}
}

func (c *Cache) validate() Problems {
	var p Problems
	checkDuration(&p, "cache.ttl", c.TTL, true)
	checkDuration(&p, "cache.negative_ttl", c.NegativeTTL, true)
	checkDuration(&p, "cache.serve_stale_for", c.ServeStaleFor, true)
	if c.MaxEntries < 0 {
		p.add("cache.max_entries: must be positive")
	}
	return p
}

// keyed turns the errors a package's Validate joined, each starting with
// a key relative to table, into problems naming the whole key.
func keyed(table string, err error) Problems {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var p Problems
	for _, e := range errs {
		if msg := e.Error(); strings.Contains(msg, ": ") {
			p = append(p, table+"."+msg)
		} else {
			p = append(p, table+": "+msg)
		}
	}
	return p
}
