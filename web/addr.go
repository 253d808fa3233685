package web

import (
	"net"
	"net/http"
)

// clientAddr is the address a request comes from, as "host:port" (port 0
// when a proxy did not say): the one place both the PIN page and the staff
// console read it (throttling, logs, the staff audit trail). RemoteAddr is
// already the client's: RealClient (clientaddr.go), wrapped around the
// whole mux, puts there what a trusted proxy forwarded, and a listener
// behind a PROXY-protocol balancer reports the client (internal/proxyhdr).
func clientAddr(r *http.Request) string {
	return r.RemoteAddr
}

// clientHost is clientAddr without its port, as recorded in the staff
// audit trail.
func clientHost(r *http.Request) string {
	a := clientAddr(r)
	if host, _, err := net.SplitHostPort(a); err == nil {
		return host
	}
	return a
}
