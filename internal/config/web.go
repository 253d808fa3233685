package config

import (
	"fmt"
	"strings"
	"time"
)

// Web is [web]: the self-service PIN page (package web).
type Web struct {
	Enabled bool `toml:"enabled"`
	// Listen is the page's own address; "" = served on the [http] listener.
	Listen string `toml:"listen"`
	// SetupCodeTTL is how long a set-up code from binderyctl stays valid
	// (default DefaultSetupCodeTTL).
	SetupCodeTTL string `toml:"setup_code_ttl"`
	// BaseURL, when set, is printed by binderyctl with each set-up code
	// (e.g. "https://library.example.edu:8443").
	BaseURL string `toml:"base_url"`
	// TrustedProxies are the HTTP reverse proxies whose X-Forwarded-For
	// and Forwarded headers name the client (empty = none).
	TrustedProxies Networks `toml:"trusted_proxies"`
}

// DefaultSetupCodeTTL is the default [web] setup_code_ttl: 14 days.
const DefaultSetupCodeTTL = 14 * 24 * time.Hour

// validate checks [web]: its listen address (or the [http] one to share),
// the set-up code lifetime, the base URL, and that there is a PIN store to
// serve.
func (w *Web) validate(c *Config) Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if w.Listen != "" && !validHostPort(w.Listen) {
		add("web.listen: %q is not host:port", w.Listen)
	}
	checkDuration(&p, "web.setup_code_ttl", w.SetupCodeTTL, false)
	w.TrustedProxies.check(&p, "web.trusted_proxies")
	if w.BaseURL != "" && !strings.HasPrefix(w.BaseURL, "https://") && !strings.HasPrefix(w.BaseURL, "http://") {
		add("web.base_url: %q must start with https:// or http://", w.BaseURL)
	}
	if !w.Enabled {
		return p
	}
	if w.Listen == "" && c.HTTP.Listen == "" {
		add("web.listen: required when [http] listen is empty (the page is served on the [http] listener otherwise)")
	}
	if len(c.BackendsOfType("pinstore")) == 0 {
		add("web.enabled: the PIN page needs a pinstore backend")
	}
	return p
}

// WebListen is the address the PIN page is served on: [web] listen, else
// the [http] listen.
func (c *Config) WebListen() string {
	if c.Web.Listen != "" {
		return c.Web.Listen
	}
	return c.HTTP.Listen
}
