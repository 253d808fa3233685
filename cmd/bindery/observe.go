package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/cache"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/config"
	"github.com/bindery/bindery/internal/hashproc"
	"github.com/bindery/bindery/internal/metrics"
	"github.com/bindery/bindery/internal/proxyhdr"
	"github.com/bindery/bindery/proxy"
)

// observability is the metrics, the audit log and the HTTP endpoints of
// one process; they outlive reloads, reading the current runtime.
type observability struct {
	metrics *metrics.Metrics
	audit   *audit.Log
	http    *http.Server
	web     *http.Server // the PIN page on its own [web] listen; nil when it shares http (web.go)
	// page is the server that serves the PIN page (web or http), whose
	// listener takes PROXY headers from [server] proxy_protocol_from.
	page    *http.Server
	proxy   *proxyhdr.Policy
	current *atomic.Pointer[config.Runtime]
	serving atomic.Bool // the LDAP listeners are up

	// Counters read from the runtimes' parts (PIN stores, caches, hashing
	// pools) are summed over every runtime a reload ever made, so they
	// never go backwards: live runtimes are read at scrape time, a
	// runtime's last values move into retired when it is closed.
	mu       sync.Mutex
	live     []*config.Runtime
	retired  map[string]float64
	counters map[string]func(*config.Runtime) float64
}

// counter registers a counter summed over every runtime (see
// observability.live); key must be unique.
func (o *observability) counter(name, help string, labels map[string]string, fn func(*config.Runtime) float64) {
	key := name + fmt.Sprint(labels)
	o.mu.Lock()
	o.counters[key] = fn
	o.mu.Unlock()
	o.metrics.CounterFunc(name, help, labels, func() float64 {
		o.mu.Lock()
		defer o.mu.Unlock()
		v := o.retired[key]
		for _, rt := range o.live {
			v += fn(rt)
		}
		return v
	})
}

// adopt counts a new runtime's counters from now on.
func (o *observability) adopt(rt *config.Runtime) {
	o.mu.Lock()
	o.live = append(o.live, rt)
	o.mu.Unlock()
}

// retire keeps a runtime's last counter values before it is closed.
func (o *observability) retire(rt *config.Runtime) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for key, fn := range o.counters {
		o.retired[key] += fn(rt)
	}
	o.live = slices.DeleteFunc(o.live, func(x *config.Runtime) bool { return x == rt })
}

// hashHelper registers the metrics of the hashing helper process.
func (o *observability) hashHelper(h *hashproc.Helper) {
	o.metrics.GaugeFunc("hash_helper_running", "1 while the hashing helper process runs ([hashing] nice); 0: argon2id runs in the server process until it restarts.", nil, func() float64 {
		if h.Stats().Running {
			return 1
		}
		return 0
	})
	o.metrics.CounterFunc("hash_helper_starts_total", "Hashing helper processes started (1 after a clean start; more: it exited and was restarted).", nil,
		func() float64 { return float64(h.Stats().Starts) })
	o.metrics.CounterFunc("hash_helper_fallbacks_total", "argon2id derivations done in the server process because the hashing helper was not running or did not answer.", nil,
		func() float64 { return float64(h.Stats().Fallbacks) })
}

func newObservability(cfg *config.Config, current *atomic.Pointer[config.Runtime]) (*observability, error) {
	o := &observability{metrics: metrics.New(), current: current,
		retired: map[string]float64{}, counters: map[string]func(*config.Runtime) float64{}}
	if cfg.Log.AuditFile != "" {
		a, err := audit.New(audit.Options{
			Path:     cfg.Log.AuditFile,
			MaxBytes: int64(cfg.Log.AuditMaxMB) << 20,
			MaxFiles: cfg.Log.AuditMaxFiles,
		})
		if err != nil {
			return nil, err
		}
		o.audit = a
		o.metrics.CounterFunc("audit_dropped_total", "Audit lines dropped because the queue was full.", nil,
			func() float64 { return float64(a.Dropped()) })
	}
	m := o.metrics
	m.GaugeFunc("hash_queue_depth", "Password verifications waiting for a hashing worker.", nil, func() float64 {
		if rt := current.Load(); rt != nil {
			return float64(rt.HashPool.Stats().Waiting)
		}
		return 0
	})
	// The hashing pool is the process's: a reload's runtime shares it
	// (config.Rebuild), so it is read from the current runtime, not summed
	// over the runtimes alive.
	m.CounterFunc("hash_refused_total", "Password verifications refused with 51 busy: the expected wait for a hashing worker was past [hashing] max_wait, or the bind's deadline passed while it waited.", nil, func() float64 {
		if rt := current.Load(); rt != nil {
			return float64(rt.HashPool.Stats().Refused)
		}
		return 0
	})
	m.GaugeFunc("hash_seconds", "Typical time of one password hashing call (argon2id verification): the first quartile of the last 16, from which the expected wait is computed.", nil, func() float64 {
		if rt := current.Load(); rt != nil {
			return rt.HashPool.Stats().Estimate.Seconds()
		}
		return 0
	})
	m.GaugeFunc("hash_workers", "Password verifications that may run at once ([hashing] workers).", nil, func() float64 {
		if rt := current.Load(); rt != nil {
			return float64(rt.HashPool.Stats().Workers)
		}
		return 0
	})
	o.counter("lockouts_total", "Accounts locked after too many wrong PINs (all PIN stores, since start).", nil, func(rt *config.Runtime) float64 {
		var n uint64
		for _, st := range rt.Stores {
			n += st.Lockouts()
		}
		return float64(n)
	})
	// Per-backend gauges: the backend names of the first configuration.
	// A reload that adds a backend reports it after a restart.
	names := make([]string, 0, len(cfg.Backends))
	for n := range cfg.Backends {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		name := name
		stats := func(rt *config.Runtime) cache.Stats {
			if rt != nil {
				if c, ok := backend.As[*cache.Cache](rt.Backends[name]); ok {
					return c.Stats()
				}
			}
			return cache.Stats{}
		}
		lbl := map[string]string{"backend": name}
		o.counter("cache_hits_total", "Binds answered from the cache (positive, negative or stale).", lbl, func(rt *config.Runtime) float64 {
			s := stats(rt)
			return float64(s.Hits + s.NegativeHits + s.StaleHits)
		})
		o.counter("cache_misses_total", "Binds that went to the backend.", lbl, func(rt *config.Runtime) float64 { return float64(stats(rt).Misses) })
		m.GaugeFunc("cache_entries", "Successful binds held in the cache.", lbl, func() float64 { return float64(stats(current.Load()).Entries) })
		if lc := cfg.Backends[name].LDAP(); lc != nil {
			for _, u := range lc.URLs {
				u := u
				m.GaugeFunc("upstream_up", "1 when the last operation on this upstream URL worked.", map[string]string{"backend": name, "url": u}, func() float64 {
					for _, st := range upstreamState(current.Load(), name) {
						if st.URL == u && st.Up {
							return 1
						}
					}
					return 0
				})
			}
		}
	}
	if cfg.HTTP.Listen != "" {
		o.http = &http.Server{
			Addr:              cfg.HTTP.Listen,
			Handler:           m.Handler(o.ready),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       time.Minute,
		}
	}
	return o, nil
}

func upstreamState(rt *config.Runtime, name string) []backend.UpstreamState {
	if rt == nil {
		return nil
	}
	if r, ok := backend.As[backend.UpstreamReporter](rt.Backends[name]); ok {
		return r.State()
	}
	return nil
}

// observer is what the proxy reports to.
func (o *observability) observer() proxy.Observer {
	obs := proxy.Observers{o.metrics}
	if o.audit != nil {
		obs = append(obs, o.audit)
	}
	return obs
}

// ready answers /readyz: the listeners, each PIN store, each upstream.
func (o *observability) ready(ctx context.Context) []metrics.Check {
	checks := []metrics.Check{{Name: "ldap listeners", OK: o.serving.Load()}}
	rt := o.current.Load()
	if rt == nil {
		return append(checks, metrics.Check{Name: "configuration", OK: false, Detail: "not loaded"})
	}
	names := make([]string, 0, len(rt.Backends))
	for n := range rt.Backends {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if st, ok := rt.Stores[name]; ok {
			c := metrics.Check{Name: "pinstore " + name, OK: true}
			if err := st.Ping(ctx); err != nil {
				c.OK, c.Detail = false, err.Error()
			}
			checks = append(checks, c)
			continue
		}
		for _, u := range upstreamState(rt, name) {
			c := metrics.Check{Name: fmt.Sprintf("upstream %s %s", name, u.URL), OK: u.Up, Detail: u.LastError}
			checks = append(checks, c)
		}
	}
	return checks
}

// startHTTP serves the HTTP endpoints (and the PIN page) until shutdown,
// on listeners from listen ("http" or "web"). A server with a TLSConfig
// serves HTTPS; the page's listener takes PROXY headers when on.
func (o *observability) startHTTP(logger *slog.Logger, listen func(name, addr string) (net.Listener, error)) error {
	for _, s := range []struct {
		srv        *http.Server
		name, what string
	}{{o.http, "http", "metrics and health"}, {o.web, "web", "the PIN page"}} {
		if s.srv == nil {
			continue
		}
		l, err := listen(s.name, s.srv.Addr)
		if err != nil {
			return fmt.Errorf("%s listen: %w", s.name, err)
		}
		if s.srv == o.page && o.proxy.On() {
			l = &proxyhdr.Listener{Listener: l, Policy: o.proxy}
		}
		logger.Info("serving "+s.what, "http", l.Addr().String(), "https", s.srv.TLSConfig != nil)
		srv := s.srv
		go func() {
			var err error
			if srv.TLSConfig != nil {
				err = srv.ServeTLS(l, "", "")
			} else {
				err = srv.Serve(l)
			}
			if err != nil && err != http.ErrServerClosed {
				logger.Error("http server stopped", "err", err)
			}
		}()
	}
	return nil
}

func (o *observability) close(ctx context.Context) {
	if o.http != nil {
		o.http.Shutdown(ctx)
	}
	if o.web != nil {
		o.web.Shutdown(ctx)
	}
	if o.audit != nil {
		o.audit.Close()
	}
}
