package proxy

import (
	"bufio"
	"crypto/tls"

	"github.com/bindery/bindery/internal/ldapwire"
	"github.com/go-ldap/ldap/v3"
)

// startTLS answers the StartTLS extended operation (RFC 4511 §4.14) and
// then runs the TLS handshake on the connection. It runs on the reader
// goroutine with no other operation in flight. It returns false when the
// connection must close (the handshake failed).
func (c *conn) startTLS(o *op) bool {
	defer o.cancel()
	var err error
	switch {
	case c.isTLS.Load():
		err = newError(ldap.LDAPResultOperationsError, textTLSAlready)
	case c.srv.TLSConfig == nil:
		err = newError(ldap.LDAPResultProtocolError, textStartTLSNotAvail)
	case c.br.Buffered() > 0:
		err = newError(ldap.LDAPResultOperationsError, "data received after StartTLS request")
	default:
		for _, ctl := range o.msg.Controls {
			if ctl.Critical && !knownControls[ctl.OID] {
				err = newError(ldap.LDAPResultUnavailableCriticalExtension, textCritical)
			}
		}
	}
	if err != nil {
		c.respond(o, err)
		return true
	}
	o.respName = ldapwire.OIDStartTLS
	c.respond(o, nil)

	c.wmu.Lock()
	c.mu.Lock()
	tc := tls.Server(c.nc, c.srv.TLSConfig)
	c.nc = tc
	c.mu.Unlock()
	c.wmu.Unlock()
	c.br = bufio.NewReader(tc)
	if err := c.handshake(tc); err != nil {
		c.log().Info("starttls handshake failed", "client", c.client, "err", err)
		return false
	}
	c.isTLS.Store(true)
	return true
}
