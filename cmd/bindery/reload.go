package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/internal/config"
)

// reload re-reads the configuration (SIGHUP). A valid one replaces the
// routes, backends, service accounts, cache and lockout settings for new
// operations; connections stay open and operations already running finish
// with what they started with. An invalid one is refused with every
// problem logged, and the running configuration stays. Settings that only
// a restart can change are named in the log.
func reload(ctx context.Context, path string, first *config.Runtime, current *atomic.Pointer[config.Runtime], logger *slog.Logger) {
	cfg, _, err := load(path)
	if err != nil {
		logger.Error("reload refused: the new configuration is invalid; still running the previous one", "err", err)
		return
	}
	next, err := config.Build(ctx, cfg, logger)
	if err != nil {
		logger.Error("reload refused: the new configuration could not be built; still running the previous one", "err", err)
		return
	}
	prev := current.Load()
	first.Server.SetRoutes(next.Routes)
	if p, np := first.Server.POSIX, next.Server.POSIX; p != nil && np != nil {
		p.SetNumbers(np.Numbers) // the previous store is closed below
	}
	current.Store(next)
	if needs := restartNeeded(first.Config, cfg); len(needs) > 0 {
		logger.Warn("reload: these settings changed but take effect only after a restart", "keys", needs)
	}
	logger.Info("reload: new configuration in use", "config", cfg.Path, "routes", len(cfg.Routes), "backends", len(cfg.Backends))
	// Operations that started with the previous backends may still be using
	// them: close them once those have had time to finish.
	go func() {
		time.Sleep(2 * time.Minute)
		if err := prev.Close(); err != nil {
			logger.Warn("reload: closing the previous backends", "err", err)
		}
	}()
}

// restartNeeded lists the keys whose change a reload cannot apply: the
// listeners, TLS, the server's own limits and the process-wide parts.
func restartNeeded(old, new *config.Config) []string {
	var keys []string
	cmp := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, key)
		}
	}
	o, n := old.Server, new.Server
	cmp("server.listen", o.Listen, n.Listen)
	cmp("server.tls", o.TLS, n.TLS)
	cmp("server.suffix", o.Suffix, n.Suffix)
	cmp("server.upn_suffix", o.UPNSuffix, n.UPNSuffix)
	cmp("server.allow_anonymous", o.AllowAnonymous, n.AllowAnonymous)
	cmp("server.require_tls", o.RequireTLS, n.RequireTLS)
	cmp("server.diagnostics", o.Diagnostics, n.Diagnostics)
	cmp("server timeouts and limits", fmt.Sprint(o.IdleTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxConnections, o.MaxRequestBytes, o.MaxOpsPerConn, o.SizeLimit, o.TimeLimit, o.BusyBackoff),
		fmt.Sprint(n.IdleTimeout, n.ReadTimeout, n.WriteTimeout, n.MaxConnections, n.MaxRequestBytes, n.MaxOpsPerConn, n.SizeLimit, n.TimeLimit, n.BusyBackoff))
	cmp("lockout.throttle_after", old.Lockout.ThrottleAfter, new.Lockout.ThrottleAfter)
	cmp("lockout.reveal", old.Lockout.Reveal, new.Lockout.Reveal)
	cmp("hashing", old.Hashing, new.Hashing)
	cmp("posix", old.POSIX, new.POSIX)
	cmp("log", old.Log, new.Log)
	cmp("http", old.HTTP, new.HTTP)
	cmp("web", old.Web, new.Web)
	// [staff] roles apply to the next request; the rest needs a restart.
	cmp("staff (but roles)", fmt.Sprint(old.Staff.Enabled, old.Staff.IdleTimeout, old.Staff.AbsoluteTimeout),
		fmt.Sprint(new.Staff.Enabled, new.Staff.IdleTimeout, new.Staff.AbsoluteTimeout))
	return keys
}
