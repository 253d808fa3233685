package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/config"
	"github.com/bindery/bindery/internal/passhash"
	"github.com/bindery/bindery/internal/proxyhdr"
	"github.com/bindery/bindery/proxy"
	"github.com/bindery/bindery/web"
)

// setupWeb builds the self-service PIN page when [web] enabled: on the
// [http] server (under /pin/, next to metrics and health) when it shares
// that listen address, else on its own server. With [server.tls] the
// page's listener serves HTTPS with the LDAP certificate (tlsCfg, which
// follows certificate reloads); a plain-HTTP page on a non-loopback
// address is warned about. The page's listener takes PROXY headers from
// [server] proxy_protocol_from, and its requests' client address comes
// from [web] trusted_proxies' forwarding headers (web.RealClient).
func setupWeb(cfg *config.Config, current *atomic.Pointer[config.Runtime], obs *observability, logger *slog.Logger, tlsCfg *tls.Config) error {
	if !cfg.Web.Enabled {
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
	h, err := web.New(web.Options{
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
		DummyVerify: func(secret string) {
			rt := current.Load()
			params := rt.Config.HashParams()
			_ = rt.HashPool.Do(context.Background(), func() { passhash.DummyVerifyWith(secret, params) })
		},
		Secure: tlsCfg != nil,
		Logger: logger,
	})
	if err != nil {
		return err
	}
	addr := cfg.WebListen()
	if tlsCfg == nil && !loopback(addr) {
		logger.Warn("web: the PIN page is served over plain HTTP on a non-loopback address: PINs cross the network "+
			"unencrypted; configure [server.tls] or serve it behind an HTTPS proxy", "listen", addr)
	}
	mux := http.NewServeMux()
	mux.Handle("/pin/", h)
	mux.Handle("/pin", h)
	trusted := cfg.Web.TrustedProxies.Prefixes()
	if obs.http != nil && addr == obs.http.Addr {
		mux.Handle("/", obs.http.Handler)
		obs.http.Handler = web.RealClient(trusted, mux)
		obs.http.TLSConfig = tlsCfg
		obs.page = obs.http
		return nil
	}
	mux.Handle("/{$}", http.RedirectHandler("/pin/", http.StatusSeeOther))
	obs.web = &http.Server{
		Addr:              addr,
		Handler:           web.RealClient(trusted, mux),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	obs.page = obs.web
	return nil
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
