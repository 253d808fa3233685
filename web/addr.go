package web

import (
	"net"
	"net/http"
)

// clientAddr is the address a request comes from, as "host:port" when the
// port is known: the one place both the PIN page and the staff console
// read it (throttling, logs, the staff audit trail), so that a listener
// behind a trusted proxy can substitute the forwarded address here.
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
