package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/ldapwire"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// testCert returns a server config with a self-signed certificate for
// 127.0.0.1 and a client config that trusts it.
func testCert(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bindery test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	return server, client
}

func TestStartTLS(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	e := newEnv(t, func(s *Server) { s.TLSConfig = serverTLS; s.RequireTLS = true })
	c := e.dial()
	if err := c.Bind("CU1234567", "right-pin-123"); code(err) != 13 {
		t.Fatalf("cleartext bind: %v, want 13", err)
	}
	res, err := search(c, "", ldap.ScopeBaseObject, "(objectClass=*)")
	if err != nil || !slices.Contains(res.Entries[0].GetAttributeValues("supportedExtension"), "1.3.6.1.4.1.1466.20037") {
		t.Fatalf("StartTLS not advertised: %v", err)
	}
	if err := c.StartTLS(clientTLS); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := c.Bind("CU1234567", "right-pin-123"); err != nil {
		t.Fatalf("bind over TLS: %v", err)
	}
	// A second StartTLS is refused; go-ldap refuses it itself, so send it
	// as a generic extended operation.
	if _, err := c.Extended(ldap.NewExtendedRequest("1.3.6.1.4.1.1466.20037", nil)); code(err) != 1 {
		t.Fatalf("second StartTLS: %v, want 1", err)
	}
	if _, err := c.WhoAmI(nil); err != nil {
		t.Fatalf("connection after refused StartTLS: %v", err)
	}
}

func TestStartTLSWithoutConfig(t *testing.T) {
	e := newEnv(t, nil)
	// go-ldap's client stops reading after a refused StartTLS, so speak raw.
	r := dialRaw(t, e.addr)
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldapwire.TagExtendedRequest, nil, "Extended")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, ldapwire.OIDStartTLS, "oid"))
	r.send(message(1, op))
	if p := r.read(); resultCode(p) != ldap.LDAPResultProtocolError {
		t.Fatalf("StartTLS without a certificate: %d, want 2", resultCode(p))
	}
	r.send(rawBind(2, "CU1234567", "right-pin-123"))
	if p := r.read(); msgID(p) != 2 || resultCode(p) != 0 {
		t.Fatalf("bind after refused StartTLS: id %d code %d", msgID(p), resultCode(p))
	}
}

func TestLDAPS(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	e := newEnv(t, func(s *Server) { s.TLSConfig = serverTLS; s.RequireTLS = true })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.ServeTLS(l)
	c, err := ldap.DialURL("ldaps://"+l.Addr().String(), ldap.DialWithTLSConfig(clientTLS))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetTimeout(10 * time.Second)
	if err := c.Bind("CU1234567", "right-pin-123"); err != nil {
		t.Fatalf("bind over LDAPS: %v", err)
	}
	if _, err := c.Extended(ldap.NewExtendedRequest("1.3.6.1.4.1.1466.20037", nil)); code(err) != 1 {
		t.Fatalf("StartTLS on LDAPS: %v, want 1", err)
	}
}
