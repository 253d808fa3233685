package config

import (
	"fmt"
	"time"

	"github.com/bindery/bindery/internal/hashpool"
	"github.com/bindery/bindery/internal/hashproc"
	"github.com/bindery/bindery/internal/passhash"
)

// Hashing is [hashing]: the pool every password verification runs in
// (internal/hashpool), and the helper process argon2id runs in
// (internal/hashproc). workers and max_wait are applied on reload, nice
// at the next start.
type Hashing struct {
	// Workers is how many verifications run at once; 0: the number of CPUs.
	Workers int `toml:"workers"`
	// MaxWait is the longest expected wait for a worker with which a bind
	// is admitted to wait; past it the bind gets 51 at once. Default
	// DefaultHashMaxWait; "0s" = no waiting (51 whenever every worker is
	// busy).
	MaxWait string `toml:"max_wait"`

	// Nice is the nice value of the helper process that derives argon2id
	// keys (1 to 19, default DefaultHashNice), so that hashing yields the
	// CPU to cached binds; 0 derives them in the server process.
	Nice *int `toml:"nice"`

	// Queue is no longer used; a file that sets it still loads, with a
	// warning (Warnings).
	Queue *int `toml:"queue"`
}

// DefaultHashNice is [hashing] nice when unset: the kernel then gives a
// runnable bind about nine times the CPU share of a hashing thread
// (docs/benchmarks.md, "hashing in a helper process").
const DefaultHashNice = hashproc.DefaultNice

// HashNice is [hashing] nice in force: 0 (no helper) or 1 to 19.
func (c *Config) HashNice() int {
	if c.Hashing.Nice == nil {
		return DefaultHashNice
	}
	return *c.Hashing.Nice
}

// DefaultHashMaxWait is [hashing] max_wait when unset: well inside the
// 60 s or more that Net::LDAP, Apache mod_ldap and JNDI wait by default,
// and what a patron at a login page puts up with. On 2 workers at 37 ms a
// verification it admits about 540 binds at once.
const DefaultHashMaxWait = hashpool.DefaultMaxWait

// maxHashMaxWait bounds max_wait: no LDAP client waits longer.
const maxHashMaxWait = 5 * time.Minute

// validate checks [hashing].
func (h *Hashing) validate() Problems {
	var p Problems
	if h.Workers < 0 {
		p.add("hashing.workers: must be positive (default: the number of CPUs)")
	}
	if h.Nice != nil && (*h.Nice < 0 || *h.Nice > 19) {
		p.add("hashing.nice: %d is not a nice value from 1 (slightly below the server) to 19 (lowest), or 0 (hash in the server process)", *h.Nice)
	}
	checkDuration(&p, "hashing.max_wait", h.MaxWait, true)
	if d := Duration(h.MaxWait, 0); d > maxHashMaxWait {
		p.add("hashing.max_wait: %q is longer than %v, which no LDAP client waits", h.MaxWait, maxHashMaxWait)
	}
	return p
}

// warnings are the deprecated keys a file still sets, and what to do.
func (h *Hashing) warnings() []string {
	var w []string
	if h.Queue != nil {
		w = append(w, fmt.Sprintf("hashing.queue = %d is no longer used and is ignored: binds are admitted by their expected wait (hashing.max_wait, default %v; \"0s\" = never wait); remove the key", *h.Queue, DefaultHashMaxWait))
	}
	return w
}

// HashPoolOptions are the hashing pool's settings from [hashing].
func (c *Config) HashPoolOptions() hashpool.Options {
	o := hashpool.Options{Workers: c.Hashing.Workers, MaxWait: Duration(c.Hashing.MaxWait, DefaultHashMaxWait), ExtraProcs: true}
	if o.MaxWait == 0 {
		o.MaxWait = -1 // "0s": no waiting
	}
	return o
}

// NewHashPool makes the pool of [hashing], with its first estimate of a
// call's time measured with the PIN parameters (HashParams): the fastest
// of three argon2id verifications, since the first one in a process also
// pays for touching its fresh work area (up to 0.5 s on the test VM, which
// made a freshly started bindery turn a burst away with 51). Runtime.Close
// closes it.
func (c *Config) NewHashPool() *hashpool.Pool {
	o := c.HashPoolOptions()
	o.Estimate = time.Hour
	for range 3 {
		start := time.Now()
		passhash.DummyVerifyWith("calibration", c.HashParams())
		o.Estimate = min(o.Estimate, time.Since(start))
	}
	return hashpool.NewWith(o)
}
