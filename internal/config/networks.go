package config

import (
	"fmt"
	"net/netip"
)

// Networks is a list of addresses or CIDR prefixes ("10.0.0.0/8",
// "192.0.2.7", "2001:db8::/32"), as in [server] proxy_protocol_from and
// [web] trusted_proxies.
type Networks []string

// Prefixes returns the list parsed; validation has checked every entry
// (an invalid one is left out).
func (n Networks) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range n {
		if p, err := parseNetwork(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// check adds a problem for each entry that is not an address or prefix.
func (n Networks) check(p *Problems, key string) {
	for i, s := range n {
		if _, err := parseNetwork(s); err != nil {
			*p = append(*p, fmt.Sprintf("%s[%d]: %q is not an address or CIDR prefix", key, i, s))
		}
	}
}
