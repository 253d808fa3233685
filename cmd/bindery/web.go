package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/config"
	"github.com/bindery/bindery/internal/desk"
	"github.com/bindery/bindery/internal/passhash"
	"github.com/bindery/bindery/internal/proxyhdr"
	"github.com/bindery/bindery/proxy"
	"github.com/bindery/bindery/web"
)

// setupWeb builds the web listener's pages: the self-service PIN page
// under /pin/ when [web] enabled, the staff console under /staff/ when
// [staff] enabled. They are served on the [http] server (next to metrics
// and health) when they share its listen address, else on their own
// server. With [server.tls] the listener serves HTTPS with the LDAP
// certificate (tlsCfg, which follows certificate reloads); a plain-HTTP
// listener on a non-loopback address is warned about (and refused for the
// console by validation). The listener takes PROXY headers from [server]
// proxy_protocol_from, and every request's client address comes from
// [web] trusted_proxies' forwarding headers (web.RealClient, around the
// whole mux). srv is the serving LDAP server: the console's log-ins go
// through its routes and throttle.
func setupWeb(cfg *config.Config, current *atomic.Pointer[config.Runtime], srv *proxy.Server, obs *observability, logger *slog.Logger, tlsCfg *tls.Config) error {
	if !cfg.Web.Enabled && !cfg.Staff.Enabled {
		return nil
	}
	obs.proxy = &proxyhdr.Policy{
		From:    cfg.Server.ProxyProtocolFrom.Prefixes(),
		Timeout: config.Duration(cfg.Server.ReadTimeout, proxy.DefaultReadTimeout),
		Refused: func(peer net.Addr, err error) {
			logger.Warn("web: connection refused: PROXY header", "peer", peer.String(), "err", err)
			obs.metrics.ConnRejected("proxy_header")
		},
	}
	mux := http.NewServeMux()
	home := "/pin/"
	if cfg.Web.Enabled {
		h, err := pinPage(current, tlsCfg != nil, logger)
		if err != nil {
			return err
		}
		mux.Handle("/pin/", h)
		mux.Handle("/pin", h)
	}
	if cfg.Staff.Enabled {
		h, err := staffConsole(cfg, current, srv, obs, tlsCfg != nil, logger)
		if err != nil {
			return err
		}
		mux.Handle("/staff/", h)
		mux.Handle("/staff", h)
		if !cfg.Web.Enabled {
			home = "/staff/"
		}
	}
	addr := cfg.WebListen()
	if tlsCfg == nil && !loopback(addr) {
		logger.Warn("web: the PIN page is served over plain HTTP on a non-loopback address: PINs cross the network "+
			"unencrypted; configure [server.tls] or serve it behind an HTTPS proxy", "listen", addr)
	}
	trusted := cfg.Web.TrustedProxies.Prefixes()
	if obs.http != nil && addr == obs.http.Addr {
		mux.Handle("/", obs.http.Handler)
		obs.http.Handler = web.RealClient(trusted, mux)
		obs.http.TLSConfig = tlsCfg
		obs.page = obs.http
		return nil
	}
	mux.Handle("/{$}", http.RedirectHandler(home, http.StatusSeeOther))
	readTimeout, writeTimeout := 10*time.Second, 30*time.Second
	if cfg.Staff.Enabled {
		readTimeout, writeTimeout = time.Minute, time.Minute // an import uploads up to 32 MiB
	}
	obs.web = &http.Server{
		Addr:              addr,
		Handler:           web.RealClient(trusted, mux),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	obs.page = obs.web
	return nil
}

// pinPage is the self-service PIN page over the current runtime.
func pinPage(current *atomic.Pointer[config.Runtime], secure bool, logger *slog.Logger) (http.Handler, error) {
	return web.New(web.Options{
		Resolve: func(card string) (web.Store, string, bool) {
			rt := current.Load()
			if rt == nil {
				return nil, "", false
			}
			r, id, ok := rt.Config.RouteFor(card)
			if !ok {
				return nil, "", false
			}
			st, ok := rt.Stores[r.Backend]
			if !ok {
				return nil, "", false // a campus login: its directory owns the password
			}
			return st, id, true
		},
		Policy: func() pinstore.Policy {
			c := current.Load().Config.PINPolicy
			return pinstore.Policy{MinLength: c.MinLength, MaxLength: c.MaxLength, MinClasses: c.MinClasses}
		},
		DummyVerify: func(ctx context.Context, client, secret string) {
			rt := current.Load()
			params := rt.Config.HashParams()
			_ = rt.HashPool.Do(ctx, client, func() { passhash.DummyVerifyWith(secret, params) })
		},
		Secure: secure,
		Logger: logger,
	})
}

// staffConsole is the staff console over the current runtime: its routes
// and running PIN stores (whose changes drop cached binds at once), the
// serving server's password check, the metrics.
func staffConsole(cfg *config.Config, current *atomic.Pointer[config.Runtime], srv *proxy.Server, obs *observability, secure bool, logger *slog.Logger) (http.Handler, error) {
	return web.NewStaff(web.StaffOptions{
		Config: func() web.StaffConfig {
			rt := current.Load()
			c := rt.Config
			url := ""
			if b := strings.TrimRight(c.Web.BaseURL, "/"); b != "" && c.Web.Enabled {
				url = b + "/pin/setup"
			}
			return web.StaffConfig{
				Desk: &desk.Desk{Config: c, Store: func(name string) (*pinstore.Store, error) {
					if st, ok := rt.Stores[name]; ok {
						return st, nil
					}
					return nil, fmt.Errorf("staff: no PIN store %q is open: %w", name, backend.ErrUnavailable)
				}},
				Roles:        c.Staff.Roles,
				AuditBackend: c.StaffAuditBackend(),
				SetupCodeTTL: config.Duration(c.Web.SetupCodeTTL, config.DefaultSetupCodeTTL),
				PINPageURL:   url,
				PINPage:      c.Web.Enabled,
			}
		},
		Login: func(ctx context.Context, id, password, client string) (proxy.Login, bool, error) {
			return srv.Authenticate(ctx, "staff_login", id, password, client)
		},
		PersonID: srv.PersonID,
		Lookup: func(ctx context.Context, name, id string) (*backend.Entry, error) {
			b, ok := current.Load().Backends[name]
			if !ok {
				return nil, fmt.Errorf("staff: no backend %q: %w", name, backend.ErrNotFound)
			}
			return b.Lookup(ctx, id)
		},
		Upstream: func(name string) []web.Upstream {
			var out []web.Upstream
			for _, u := range upstreamState(current.Load(), name) {
				out = append(out, web.Upstream{URL: u.URL, Up: u.Up, LastError: u.LastError})
			}
			return out
		},
		Secure:          secure,
		IdleTimeout:     config.Duration(cfg.Staff.IdleTimeout, 0), // 0: the [staff] defaults
		AbsoluteTimeout: config.Duration(cfg.Staff.AbsoluteTimeout, 0),
		Count:           obs.metrics.StaffAction,
		Logger:          logger,
	})
}

// loopback reports whether a listen address is on the loopback interface
// only (an empty host listens everywhere).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
