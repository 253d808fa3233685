package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/bindery/bindery/internal/passhash"
)

// ServiceAccount is one [[service_account]].
type ServiceAccount struct {
	Name         string   `toml:"name"`
	PasswordHash string   `toml:"password_hash"`
	PasswordFile string   `toml:"password_hash_file"`
	CanSearch    bool     `toml:"can_search"`
	CanReset     bool     `toml:"can_reset"`
	Networks     []string `toml:"networks"`
	// CanList allows listings (filters naming no ID, paged walks); needs can_search.
	CanList bool `toml:"can_list"`
	// Attributes, when set, are the only person attributes the account may read.
	Attributes []string `toml:"attributes"`
}

// Route is one [[route]].
type Route struct {
	Name          string `toml:"name"`
	Match         string `toml:"match"`
	Case          string `toml:"case"` // upper, lower, none
	Backend       string `toml:"backend"`
	RequirePatron bool   `toml:"require_patron"`
	PatronBackend string `toml:"patron_backend"` // the pinstore that must hold an active patron; default: the only pinstore
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

var serviceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func validateServiceAccounts(accounts []ServiceAccount) Problems {
	var p Problems
	seen := map[string]bool{}
	for i, sa := range accounts {
		key := fmt.Sprintf("service_account[%d]", i)
		if !serviceNameRE.MatchString(sa.Name) {
			p.add("%s.name: %q must be 1-64 letters, digits, '.', '_' or '-'", key, sa.Name)
		}
		if seen[strings.ToLower(sa.Name)] {
			p.add("%s.name: %q is defined twice", key, sa.Name)
		}
		seen[strings.ToLower(sa.Name)] = true
		switch {
		case sa.PasswordHash == "" && sa.PasswordFile == "":
			p.add("%s.password_hash: required (print one with `binderyctl hash`)", key)
		case sa.PasswordHash != "" && sa.PasswordFile != "":
			p.add("%s.password_hash_file: give password_hash or password_hash_file, not both", key)
		case sa.PasswordHash != "":
			if err := passhash.Check(sa.PasswordHash); err != nil {
				p.add("%s.password_hash: %v", key, err)
			}
		}
		for j, n := range sa.Networks {
			if _, err := parseNetwork(n); err != nil {
				p.add("%s.networks[%d]: %q is not an address or CIDR prefix", key, j, n)
			}
		}
		if sa.CanList && !sa.CanSearch {
			p.add("%s.can_list: needs can_search = true", key)
		}
		for j, a := range sa.Attributes {
			if !attrNameRE.MatchString(a) {
				p.add("%s.attributes[%d]: %q is not an attribute name", key, j, a)
			}
		}
	}
	return p
}

func (c *Config) validateRoutes() Problems {
	var p Problems
	if len(c.Routes) == 0 {
		p.add("route: at least one [[route]] is required")
	}
	seen := map[string]bool{}
	for i, r := range c.Routes {
		key := fmt.Sprintf("route[%d]", i)
		if r.Name == "" {
			p.add("%s.name: required", key)
		} else if seen[r.Name] {
			p.add("%s.name: %q is defined twice", key, r.Name)
		}
		seen[r.Name] = true
		if r.Match == "" {
			p.add("%s.match: required (a regular expression over the login ID)", key)
		} else if _, err := regexp.Compile(r.Match); err != nil {
			p.add("%s.match: bad regular expression: %v", key, err)
		}
		switch r.Case {
		case "upper", "lower", "none":
		default:
			p.add("%s.case: %q is not one of upper, lower, none", key, r.Case)
		}
		b, ok := c.Backends[r.Backend]
		switch {
		case r.Backend == "":
			p.add("%s.backend: required", key)
		case !ok:
			p.add("%s.backend: no [backend.%s] is defined", key, r.Backend)
		}
		if !r.RequirePatron {
			if r.PatronBackend != "" {
				p.add("%s.patron_backend: only meaningful with require_patron = true", key)
			}
			continue
		}
		if ok && b.Type == "pinstore" {
			p.add("%s.require_patron: the route's own backend is a pinstore; require_patron is for campus routes", key)
		}
		if pb := r.PatronBackend; pb != "" {
			if pbk, ok := c.Backends[pb]; !ok {
				p.add("%s.patron_backend: no [backend.%s] is defined", key, pb)
			} else if pbk.Type != "pinstore" {
				p.add("%s.patron_backend: backend %q is of type %q, not pinstore", key, pb, pbk.Type)
			}
		} else if n := len(c.BackendsOfType("pinstore")); n != 1 {
			p.add("%s.patron_backend: required with require_patron when there are %d pinstore backends", key, n)
		}
	}
	return p
}

// PatronBackendOf is the pinstore that holds the library records of a
// require_patron route: its patron_backend, or the only pinstore.
func (c *Config) PatronBackendOf(r *Route) string {
	if r.PatronBackend != "" {
		return r.PatronBackend
	}
	if names := c.BackendsOfType("pinstore"); len(names) > 0 {
		return names[0] // validation allows exactly one here
	}
	return ""
}
