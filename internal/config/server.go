package config

import (
	"github.com/bindery/bindery/proxy"
)

// Server is [server]. Limits left out take the proxy's defaults
// (proxy.DefaultReadTimeout and the others).
type Server struct {
	Listen    string `toml:"listen"`
	Suffix    string `toml:"suffix"`
	UPNSuffix string `toml:"upn_suffix"`
	// AllowAnonymous: an anonymous bind succeeds (default true); false
	// answers it 48.
	AllowAnonymous  *bool  `toml:"allow_anonymous"`
	RequireTLS      bool   `toml:"require_tls"`
	Diagnostics     string `toml:"diagnostics"`
	IdleTimeout     string `toml:"idle_timeout"`
	ReadTimeout     string `toml:"read_timeout"`
	WriteTimeout    string `toml:"write_timeout"`
	ShutdownTimeout string `toml:"shutdown_timeout"`
	MaxConnections  int    `toml:"max_connections"`
	MaxRequestBytes int    `toml:"max_request_bytes"`
	MaxOpsPerConn   int    `toml:"max_ops_per_conn"`
	// BusyBackoff holds a connection's next bind this long after a 51
	// busy (default proxy.DefaultBusyBackoff; "0s" = off).
	BusyBackoff string `toml:"busy_backoff"`
	// SizeLimit caps a listing answer and each page (default
	// proxy.DefaultSizeLimit).
	SizeLimit int `toml:"size_limit"`
	// TimeLimit bounds a listing answer or page (default
	// proxy.DefaultTimeLimit).
	TimeLimit string `toml:"time_limit"`
	// ProxyProtocolFrom lists the load balancers that send a PROXY
	// protocol header on the LDAP, LDAPS and web listeners (empty = off).
	ProxyProtocolFrom Networks `toml:"proxy_protocol_from"`
	TLS               *TLS     `toml:"tls"`
}

// TLS is [server.tls].
type TLS struct {
	CertFile  string `toml:"cert_file"`
	KeyFile   string `toml:"key_file"`
	ListenTLS string `toml:"listen_tls"`
}

// Log is [log].
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text, json
	// AuditFile receives one JSON line per bind and password change; "-"
	// is standard output, "" turns the audit trail off.
	AuditFile     string `toml:"audit_file"`
	AuditMaxMB    int    `toml:"audit_max_mb"`    // rotate past this size; default audit.DefaultMaxBytes
	AuditMaxFiles int    `toml:"audit_max_files"` // rotated files kept; default audit.DefaultMaxFiles
	// SecretAttributes are masked ("***") wherever a search filter is
	// logged; userPassword always is (log.go).
	SecretAttributes []string `toml:"secret_attributes"`
}

// HTTP is [http]: the read-only metrics and health endpoints.
type HTTP struct {
	Listen string `toml:"listen"` // e.g. "127.0.0.1:9389"; "" = off
}

func (s *Server) applyDefaults() {
	if s.Listen == "" {
		s.Listen = DefaultListen
	}
	if s.AllowAnonymous == nil {
		s.AllowAnonymous = new(true)
	}
	if s.MaxConnections == 0 {
		s.MaxConnections = proxy.DefaultMaxConnections
	}
	if s.MaxRequestBytes == 0 {
		s.MaxRequestBytes = proxy.DefaultMaxRequestBytes
	}
	if s.MaxOpsPerConn == 0 {
		s.MaxOpsPerConn = proxy.DefaultMaxOpsPerConn
	}
}

func (s *Server) validate() Problems {
	var p Problems
	if s.Suffix == "" {
		p.add("server.suffix: required (e.g. \"dc=library,dc=example,dc=edu\")")
	} else if !validDN(s.Suffix) {
		p.add("server.suffix: %q is not a valid DN", s.Suffix)
	}
	if !validHostPort(s.Listen) {
		p.add("server.listen: %q is not host:port", s.Listen)
	}
	switch s.Diagnostics {
	case "", "ad":
	default:
		p.add("server.diagnostics: %q is not one of \"\" or \"ad\"", s.Diagnostics)
	}
	for _, d := range []struct{ key, v string }{
		{"server.idle_timeout", s.IdleTimeout}, {"server.read_timeout", s.ReadTimeout},
		{"server.write_timeout", s.WriteTimeout}, {"server.shutdown_timeout", s.ShutdownTimeout},
		{"server.busy_backoff", s.BusyBackoff},
	} {
		checkDuration(&p, d.key, d.v, true)
	}
	if s.MaxConnections < 0 {
		p.add("server.max_connections: must be positive")
	}
	s.ProxyProtocolFrom.check(&p, "server.proxy_protocol_from")
	if s.MaxRequestBytes < 0 || (s.MaxRequestBytes > 0 && s.MaxRequestBytes < 512) {
		p.add("server.max_request_bytes: must be at least 512")
	}
	if s.MaxOpsPerConn < 0 {
		p.add("server.max_ops_per_conn: must be positive")
	}
	if s.SizeLimit < 0 {
		p.add("server.size_limit: must be positive")
	}
	checkDuration(&p, "server.time_limit", s.TimeLimit, false)
	if t := s.TLS; t != nil {
		if t.CertFile == "" {
			p.add("server.tls.cert_file: required when [server.tls] is present")
		}
		if t.KeyFile == "" {
			p.add("server.tls.key_file: required when [server.tls] is present")
		}
		if t.ListenTLS != "" && !validHostPort(t.ListenTLS) {
			p.add("server.tls.listen_tls: %q is not host:port", t.ListenTLS)
		}
	} else if s.RequireTLS {
		p.add("server.require_tls: needs [server.tls] (cert_file, key_file) so that clients can use StartTLS")
	}
	return p
}

func (l *Log) applyDefaults() {
	if l.Level == "" {
		l.Level = "info"
	}
	if l.Format == "" {
		l.Format = "text"
	}
}

func (l *Log) validate() Problems {
	var p Problems
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level: %q is not one of debug, info, warn, error", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		p.add("log.format: %q is not one of text, json", l.Format)
	}
	if l.AuditMaxMB < 0 {
		p.add("log.audit_max_mb: must be positive")
	}
	if l.AuditMaxFiles < 0 {
		p.add("log.audit_max_files: must be positive")
	}
	return append(p, l.validateSecrets()...)
}
