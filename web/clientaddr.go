package web

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// RealClient returns h with each request's RemoteAddr set to the client's
// address as ClientAddr finds it, so that every handler of the package
// (the throttle per address, the logs, the audit trail) sees the client
// and not a reverse proxy. Wrap the whole mux with it once.
func RealClient(trusted []netip.Prefix, h http.Handler) http.Handler {
	if len(trusted) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := ClientAddr(r, trusted); a != r.RemoteAddr {
			r2 := *r
			r2.RemoteAddr = a
			r = &r2
		}
		h.ServeHTTP(w, r)
	})
}

// ClientAddr is the address ("host:port", port 0 when the proxy did not
// say) of the client of r. When the connection comes from one of trusted
// (HTTP reverse proxies), the hops named in Forwarded (RFC 7239), or else
// X-Forwarded-For, are read from the right, and the first one that is not
// a trusted proxy is the client: a client can put anything in these
// headers, but only to the left of what the trusted proxies appended. A
// hop that is not an address ("unknown", an obfuscated name, garbage)
// stops the walk at the last trusted proxy. From any other peer the
// headers are ignored.
func ClientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := hostAddr(r.RemoteAddr)
	if !ok || !inPrefixes(peer, trusted) {
		return r.RemoteAddr
	}
	hops := forwardedHops(r.Header)
	client := r.RemoteAddr
	for i := len(hops) - 1; i >= 0; i-- {
		ap, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = ap.String()
		if !inPrefixes(ap.Addr(), trusted) {
			break
		}
	}
	return client
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hostAddr is the IP of a "host:port" (or bare) address.
func hostAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil
}

// forwardedHops lists the hops of Forwarded's for= parameters, or, when
// there is no Forwarded header, of X-Forwarded-For, leftmost first.
func forwardedHops(h http.Header) []string {
	var hops []string
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		for _, line := range fw {
			for _, elem := range strings.Split(line, ",") {
				hop := "unknown" // an element without for= is a hop we cannot place
				for _, pair := range strings.Split(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if ok && strings.EqualFold(k, "for") {
						hop = strings.Trim(v, `"`)
					}
				}
				hops = append(hops, hop)
			}
		}
		return hops
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(line, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

// parseHop reads "192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
// "[2001:db8::1]" or "[2001:db8::1]:4711".
func parseHop(s string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a.Unmap(), 0), true
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(h); err == nil {
			if n, err := strconv.ParseUint(p, 10, 16); err == nil {
				return netip.AddrPortFrom(a.Unmap(), uint16(n)), true
			}
		}
	}
	return netip.AddrPort{}, false
}
