package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// Staff is [staff]: the staff console at /staff/ on the web listener
// (package web).
type Staff struct {
	Enabled bool `toml:"enabled"`
	// Roles maps a role (admin, counter, viewer) to its members: campus
	// login IDs, "category:NAME" (the person's category, employeeType) or
	// "group:NAME" (a memberOf value, or its first RDN's value).
	Roles map[string][]string `toml:"roles"`
	// IdleTimeout ends a session after this long without a request
	// (default DefaultStaffIdleTimeout).
	IdleTimeout string `toml:"idle_timeout"`
	// AbsoluteTimeout ends a session this long after its log-in, used or
	// not (default DefaultStaffAbsoluteTimeout).
	AbsoluteTimeout string `toml:"absolute_timeout"`
	// AuditBackend is the pinstore whose staff audit trail records staff
	// log-ins and exports (actions on a patron go to the patron's own
	// store); default: the only pinstore.
	AuditBackend string `toml:"audit_backend"`
}

// Defaults of [staff].
const (
	// DefaultStaffIdleTimeout: a desk left alone for 15 minutes asks for the
	// password again.
	DefaultStaffIdleTimeout = 15 * time.Minute
	// DefaultStaffAbsoluteTimeout: a log-in lasts at most a working day
	// (Keycloak's SSO Session Max default).
	DefaultStaffAbsoluteTimeout = 10 * time.Hour
)

// StaffRoles are the console's roles, most powerful first: admin (counter,
// plus import and export and the staff activity page), counter (every
// action on one patron), viewer (look-ups only).
var StaffRoles = []string{"admin", "counter", "viewer"}

// validate checks [staff]: role names and members (a member that is an ID
// must be a campus login: a PIN-store ID never gets in), the timeouts, the
// audit backend, and that staff passwords never cross the network in clear.
func (s *Staff) validate(c *Config) Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	checkDuration(&p, "staff.idle_timeout", s.IdleTimeout, false)
	checkDuration(&p, "staff.absolute_timeout", s.AbsoluteTimeout, false)
	if idle, abs := Duration(s.IdleTimeout, DefaultStaffIdleTimeout), Duration(s.AbsoluteTimeout, DefaultStaffAbsoluteTimeout); abs < idle {
		add("staff.absolute_timeout: %s is shorter than idle_timeout %s", abs, idle)
	}
	roles := make([]string, 0, len(s.Roles))
	for r := range s.Roles {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	members := 0
	for _, role := range roles {
		if !slices.Contains(StaffRoles, role) {
			add("staff.roles.%s: not a role (%s)", role, strings.Join(StaffRoles, ", "))
			continue
		}
		for i, m := range s.Roles[role] {
			key := fmt.Sprintf("staff.roles.%s[%d]", role, i)
			kind, v, _ := strings.Cut(m, ":")
			switch {
			case strings.TrimSpace(m) == "":
				add("%s: empty", key)
			case (kind == "category" || kind == "group") && strings.Contains(m, ":"):
				if strings.TrimSpace(v) == "" {
					add("%s: %q names no %s", key, m, kind)
				}
			default:
				r, _, ok := c.RouteFor(m)
				switch {
				case !ok:
					add("%s: %q matches no route (a member is a campus login ID, category:NAME or group:NAME)", key, m)
				case c.Backends[r.Backend] != nil && c.Backends[r.Backend].Type == "pinstore":
					add("%s: %q is a PIN-store ID (route %s): staff log in with their campus login", key, m, r.Name)
				}
			}
			members++
		}
	}
	if s.AuditBackend != "" {
		if b, ok := c.Backends[s.AuditBackend]; !ok || b.Type != "pinstore" {
			add("staff.audit_backend: %q is not a pinstore backend", s.AuditBackend)
		}
	}
	if !s.Enabled {
		return p
	}
	if members == 0 {
		add("staff.roles: nobody is in a role, so nobody can log in (e.g. counter = [\"category:staff-circ\"])")
	}
	switch n := len(c.BackendsOfType("pinstore")); {
	case n == 0:
		add("staff.enabled: the staff console needs a pinstore backend")
	case n > 1 && s.AuditBackend == "":
		add("staff.audit_backend: required when there are %d pinstore backends (the one that records staff log-ins)", n)
	}
	listen := c.WebListen()
	switch {
	case listen == "":
		add("staff.enabled: the console is served on the web listener: set [web] listen or [http] listen")
	case c.Server.TLS == nil && !loopbackAddr(listen):
		add("staff.enabled: %s is not a loopback address and there is no [server.tls]: staff passwords would cross the network in clear (configure [server.tls], or listen on 127.0.0.1 behind an HTTPS proxy)", listen)
	}
	return p
}

// StaffAuditBackend is the pinstore that records staff log-ins: [staff]
// audit_backend, else the only (first) pinstore.
func (c *Config) StaffAuditBackend() string {
	if c.Staff.AuditBackend != "" {
		return c.Staff.AuditBackend
	}
	if names := c.BackendsOfType("pinstore"); len(names) > 0 {
		return names[0]
	}
	return ""
}

// loopbackAddr reports whether a listen address is on the loopback
// interface only (an empty host listens everywhere).
func loopbackAddr(addr string) bool {
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
