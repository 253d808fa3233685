package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"time"

	"github.com/bindery/bindery/internal/config"
)

// retireAfter is how long the previous runtime's backends stay open after
// a reload, for the operations that started with them.
const retireAfter = 2 * time.Minute

// reload re-reads the configuration (SIGHUP). A valid one replaces the
// routes, backends, service accounts, cache, PIN policy, lockout and
// throttle settings and the shutdown timeout for new operations, applies
// [hashing] to the running hashing pool (config.Rebuild), and re-reads
// the TLS certificate; connections stay open and operations
// already running finish with what they started with. A configuration
// whose keys and named files (passwords, CAs) are all unchanged only
// re-reads the certificate and keeps the backends and their caches (the
// `systemctl reload` of a certificate renewal drops nothing). An invalid
// one is refused with every problem logged, and the running configuration
// stays. The keys only a restart applies (reloadKeys) are named in the
// log when they changed.
func (d *daemon) reload(ctx context.Context) {
	logger := d.logger
	cfg, _, err := load(d.path)
	if err != nil {
		logger.Error("reload refused: the new configuration is invalid; still running the previous one", "err", err)
		return
	}
	prev := d.current.Load()
	if print := filesPrint(cfg); sameConfig(prev.Config, cfg) && print == d.files {
		// Nothing changed but, perhaps, the certificate (certbot's
		// `systemctl reload`): keep the backends and their caches.
		if d.certs != nil {
			d.certs.Reload(cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile)
		}
		logger.Info("reload: the configuration and the files it names are unchanged; backends and caches kept", "config", cfg.Path)
		return
	}
	next, err := config.Rebuild(ctx, cfg, logger, prev, d.hooks)
	if err != nil {
		logger.Error("reload refused: the new configuration could not be built; still running the previous one", "err", err)
		return
	}
	for _, w := range cfg.Warnings() {
		logger.Warn("configuration: " + w)
	}
	if d.certs != nil && cfg.Server.TLS != nil {
		d.certs.Reload(cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile) // a refusal is logged; the pair in use stays
	}
	d.files = filesPrint(cfg)
	srv := d.first.Server
	srv.SetRoutes(next.Routes)
	srv.SetThrottle(next.Server.ThrottleAfter, next.Server.ThrottleWindow)
	if p, np := srv.POSIX, next.Server.POSIX; p != nil && np != nil {
		p.SetNumbers(np.Numbers) // the previous store is closed with prev
	}
	d.obs.adopt(next)
	d.current.Store(next)
	if needs := restartNeeded(d.first.Config, cfg); len(needs) > 0 {
		logger.Warn("reload: these settings changed but take effect only after a restart", "keys", needs)
	}
	logger.Info("reload: new configuration in use", "config", cfg.Path, "routes", len(cfg.Routes), "backends", len(cfg.Backends))
	// Operations that started with the previous backends may still be using
	// them: close them once those have had time to finish.
	go func() {
		time.Sleep(retireAfter)
		d.obs.retire(prev)
		if err := prev.Close(); err != nil {
			logger.Warn("reload: closing the previous backends", "err", err)
		}
	}()
}

// sameConfig reports whether two configurations have the same keys and
// values (wherever they were read from).
func sameConfig(a, b *config.Config) bool {
	x, y := *a, *b
	x.Path, y.Path = "", ""
	return reflect.DeepEqual(x, y)
}

// filesPrint is a digest of the secrets and CAs a configuration names
// (bind_password_file, ca_file, password_hash_file): a reload with the
// same keys but a new campus password still rebuilds the backends.
func filesPrint(c *config.Config) string {
	h := sha256.New()
	add := func(path string) {
		if path == "" {
			return
		}
		b, err := os.ReadFile(path)
		fmt.Fprintf(h, "%s\x00%d\x00%v\x00", path, len(b), err)
		h.Write(b)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Backends)) {
		if lc := c.Backends[name].LDAP(); lc != nil {
			add(lc.BindPasswordFile)
			add(lc.CAFile)
		}
	}
	for _, sa := range c.ServiceAccounts {
		add(sa.PasswordFile)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// reloadKey is one configuration key (or table) and whether a reload
// applies it. Every key of config.Config is listed exactly once
// (TestReloadKeysCoverTheConfig).
type reloadKey struct {
	key     string
	applied bool
	get     func(*config.Config) any
}

// reloadKeys: applied ones take effect on SIGHUP; the others are the
// listeners and the settings the running proxy.Server, logger, audit log
// and HTTP servers were made with, named in the log when they change.
var reloadKeys = []reloadKey{
	{"server.listen", false, func(c *config.Config) any { return c.Server.Listen }},
	{"server.suffix", false, func(c *config.Config) any { return c.Server.Suffix }},
	{"server.upn_suffix", false, func(c *config.Config) any { return c.Server.UPNSuffix }},
	{"server.allow_anonymous", false, func(c *config.Config) any { return c.Server.AllowAnonymous }},
	{"server.require_tls", false, func(c *config.Config) any { return c.Server.RequireTLS }},
	{"server.diagnostics", false, func(c *config.Config) any { return c.Server.Diagnostics }},
	{"server.idle_timeout", false, func(c *config.Config) any { return c.Server.IdleTimeout }},
	{"server.read_timeout", false, func(c *config.Config) any { return c.Server.ReadTimeout }},
	{"server.write_timeout", false, func(c *config.Config) any { return c.Server.WriteTimeout }},
	{"server.shutdown_timeout", true, nil},
	{"server.max_connections", false, func(c *config.Config) any { return c.Server.MaxConnections }},
	{"server.max_request_bytes", false, func(c *config.Config) any { return c.Server.MaxRequestBytes }},
	{"server.max_ops_per_conn", false, func(c *config.Config) any { return c.Server.MaxOpsPerConn }},
	{"server.busy_backoff", false, func(c *config.Config) any { return c.Server.BusyBackoff }},
	{"server.size_limit", false, func(c *config.Config) any { return c.Server.SizeLimit }},
	{"server.time_limit", false, func(c *config.Config) any { return c.Server.TimeLimit }},
	{"server.proxy_protocol_from", false, func(c *config.Config) any { return c.Server.ProxyProtocolFrom }},
	{"server.tls", false, func(c *config.Config) any { return c.Server.TLS != nil }}, // on or off
	{"server.tls.cert_file", true, nil},
	{"server.tls.key_file", true, nil},
	{"server.tls.listen_tls", false, func(c *config.Config) any { return tlsOf(c).ListenTLS }},
	{"log.level", false, func(c *config.Config) any { return c.Log.Level }},
	{"log.format", false, func(c *config.Config) any { return c.Log.Format }},
	{"log.audit_file", false, func(c *config.Config) any { return c.Log.AuditFile }},
	{"log.audit_max_mb", false, func(c *config.Config) any { return c.Log.AuditMaxMB }},
	{"log.audit_max_files", false, func(c *config.Config) any { return c.Log.AuditMaxFiles }},
	{"log.secret_attributes", false, func(c *config.Config) any { return c.Log.SecretAttributes }},
	{"http.listen", false, func(c *config.Config) any { return c.HTTP.Listen }},
	{"web.enabled", false, func(c *config.Config) any { return c.Web.Enabled }},
	{"web.listen", false, func(c *config.Config) any { return c.Web.Listen }},
	{"web.setup_code_ttl", true, nil}, // read by binderyctl
	{"web.base_url", true, nil},       // read by binderyctl
	{"web.trusted_proxies", false, func(c *config.Config) any { return c.Web.TrustedProxies }},
	{"pin_policy.min_length", true, nil},
	{"pin_policy.max_length", true, nil},
	{"pin_policy.min_classes", true, nil},
	{"pin_policy.argon2.memory_kib", true, nil},
	{"pin_policy.argon2.iterations", true, nil},
	{"pin_policy.argon2.parallelism", true, nil},
	{"pin_policy.no_change_categories", true, nil},
	{"lockout.max_failures", true, nil},
	{"lockout.window", true, nil},
	{"lockout.duration", true, nil},
	{"lockout.reveal", false, func(c *config.Config) any { return c.Lockout.Reveal }},
	{"lockout.throttle_after", true, nil},
	{"cache.ttl", true, nil},
	{"cache.negative_ttl", true, nil},
	{"cache.max_entries", true, nil},
	{"cache.serve_stale_for", true, nil},
	{"hashing.workers", true, nil},  // the running pool takes it (config.Rebuild)
	{"hashing.max_wait", true, nil}, // the running pool takes it (config.Rebuild)
	{"hashing.queue", true, nil},    // no longer used: ignored with a warning, at start and on reload
	{"hashing.nice", false, func(c *config.Config) any { return c.HashNice() }},
	{"posix.enabled", false, func(c *config.Config) any { return c.POSIX.Enabled }},
	{"posix.uid_range", false, func(c *config.Config) any { return c.POSIX.UIDRange }},
	{"posix.groups", false, func(c *config.Config) any { return c.POSIX.Groups }},
	{"posix.default_gid", false, func(c *config.Config) any { return c.POSIX.DefaultGID }},
	{"posix.home_directory", false, func(c *config.Config) any { return c.POSIX.HomeDirectory }},
	{"posix.login_shell", false, func(c *config.Config) any { return c.POSIX.LoginShell }},
	{"posix.store", false, func(c *config.Config) any { return c.POSIX.Store }},
	{"staff.enabled", false, func(c *config.Config) any { return c.Staff.Enabled }},
	{"staff.roles", true, nil}, // read by the console at each request
	{"staff.idle_timeout", false, func(c *config.Config) any { return c.Staff.IdleTimeout }},
	{"staff.absolute_timeout", false, func(c *config.Config) any { return c.Staff.AbsoluteTimeout }},
	{"staff.audit_backend", true, nil}, // read by the console at each request
	{"service_account", true, nil},
	{"route", true, nil},
	{"backend", true, nil},
}

func tlsOf(c *config.Config) config.TLS {
	if c.Server.TLS != nil {
		return *c.Server.TLS
	}
	return config.TLS{}
}

// restartNeeded lists the keys that changed and that only a restart
// applies.
func restartNeeded(old, new *config.Config) []string {
	var keys []string
	for _, k := range reloadKeys {
		if !k.applied && !reflect.DeepEqual(k.get(old), k.get(new)) {
			keys = append(keys, k.key)
		}
	}
	return keys
}
