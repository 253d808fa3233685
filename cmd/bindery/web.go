package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/config"
	"github.com/bindery/bindery/internal/passhash"
	"github.com/bindery/bindery/web"
)

// setupWeb builds the self-service PIN page when [web] enabled: on the
// [http] server (under /pin/, next to metrics and health) when it shares
// that listen address, else on its own server. With [server.tls] the
// page's listener serves HTTPS with the LDAP certificate; a plain-HTTP page
// on a non-loopback address is warned about.
func setupWeb(cfg *config.Config, current *atomic.Pointer[config.Runtime], obs *observability, logger *slog.Logger) error {
	if !cfg.Web.Enabled {
		return nil
	}
	var tlsCfg *tls.Config
	if t := cfg.Server.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return fmt.Errorf("web: server.tls: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
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
		DummyVerify: func(ctx context.Context, client, secret string) {
			rt := current.Load()
			params := rt.Config.HashParams()
			_ = rt.HashPool.Do(ctx, client, func() { passhash.DummyVerifyWith(secret, params) })
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
	if obs.http != nil && addr == obs.http.Addr {
		mux.Handle("/", obs.http.Handler)
		obs.http.Handler = mux
		obs.http.TLSConfig = tlsCfg
		return nil
	}
	mux.Handle("/{$}", http.RedirectHandler("/pin/", http.StatusSeeOther))
	obs.web = &http.Server{
		Addr:              addr,
		Handler:           mux,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
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
