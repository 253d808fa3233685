package proxy

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/ldapwire"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// rawConn speaks hand-encoded LDAP, for what go-ldap's client cannot send.
type rawConn struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc}
}

func (r *rawConn) send(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// read returns the next message, failing the test after a generous wait.
func (r *rawConn) read() *ber.Packet {
	r.t.Helper()
	p, err := r.tryRead()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return p
}

func (r *rawConn) tryRead() (*ber.Packet, error) {
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	return ber.ReadPacket(r.nc)
}

// expectClosed reads until EOF (after an optional notice) and returns the
// notice's result code, or -1 when none came.
func (r *rawConn) expectClosed() int {
	r.t.Helper()
	notice := -1
	for {
		p, err := r.tryRead()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				r.t.Fatalf("connection not closed")
			}
			return notice
		}
		if msgID(p) == 0 {
			notice = resultCode(p)
		}
	}
}

func message(id int64, op *ber.Packet, controls ...*ber.Packet) []byte {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "id"))
	p.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, c := range controls {
			cs.AppendChild(c)
		}
		p.AppendChild(cs)
	}
	return p.Bytes()
}

func rawBind(id int64, name, pw string, controls ...*ber.Packet) []byte {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldapwire.TagBindRequest, nil, "Bind")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(3), "version"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, name, "name"))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, pw, "simple"))
	return message(id, op, controls...)
}

func rawWhoAmI(id int64) []byte {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldapwire.TagExtendedRequest, nil, "Extended")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, ldapwire.OIDWhoAmI, "oid"))
	return message(id, op)
}

func rawSearch(id int64, base, filter string) []byte {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldapwire.TagSearchRequest, nil, "Search")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, base, "base"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(2), "scope"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(0), "deref"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(0), "size"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(0), "time"))
	op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, "typesOnly"))
	f, err := ldap.CompileFilter(filter)
	if err != nil {
		panic(err)
	}
	op.AppendChild(f)
	op.AppendChild(ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attrs"))
	return message(id, op)
}

func rawAbandon(id, target int64) []byte {
	op := ber.NewInteger(ber.ClassApplication, ber.TypePrimitive, ldapwire.TagAbandonRequest, target, "Abandon")
	return message(id, op)
}

func ppolicyRequestControl() *ber.Packet {
	c := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	c.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, ldapwire.OIDPasswordPolicy, "oid"))
	return c
}

func msgID(p *ber.Packet) int64 {
	v, _ := p.Children[0].Value.(int64)
	return v
}

func opTag(p *ber.Packet) int { return int(p.Children[1].Tag) }

func resultCode(p *ber.Packet) int {
	v, _ := p.Children[1].Children[0].Value.(int64)
	return int(v)
}

func TestMessageIDsOverTheWholeRange(t *testing.T) {
	e := newEnv(t, nil)
	r := dialRaw(t, e.addr)
	for _, id := range []int64{1, 127, 128, 129, 255, 256, 32767, 32768, 65535, 65536, 65537, 1<<24 + 1, 1<<31 - 1} {
		r.send(rawWhoAmI(id))
		p := r.read()
		if msgID(p) != id || opTag(p) != ldapwire.TagExtendedResponse || resultCode(p) != 0 {
			t.Fatalf("whoami id %d: got id %d tag %d code %d", id, msgID(p), opTag(p), resultCode(p))
		}
	}
}

func TestAbandonCancelsSlowLookup(t *testing.T) {
	e := newEnv(t, nil)
	e.pin.blockLookup = true
	r := dialRaw(t, e.addr)
	r.send(rawBind(1, serviceDN("ils"), "ils-secret"))
	if p := r.read(); resultCode(p) != 0 {
		t.Fatalf("service bind: %d", resultCode(p))
	}
	r.send(rawSearch(2, testSuffix, "(uid=CU1234567)"))
	<-e.pin.lookupStarted
	r.send(rawAbandon(3, 2))
	if err := <-e.pin.lookupDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("lookup ended with %v, want cancellation", err)
	}
	// A Bind waits for operations in flight: its answer comes after
	// whatever the abandoned search would have sent, and it must be first.
	r.send(rawBind(4, "", ""))
	p := r.read()
	if msgID(p) != 4 || opTag(p) != ldapwire.TagBindResponse {
		t.Fatalf("after abandon got id %d tag %d, want the bind response", msgID(p), opTag(p))
	}
}

func TestBindWaitsForOperationsInFlight(t *testing.T) {
	e := newEnv(t, nil)
	e.pin.blockLookup = true
	r := dialRaw(t, e.addr)
	r.send(rawBind(1, serviceDN("ils"), "ils-secret"))
	r.read()
	r.send(rawSearch(2, testSuffix, "(uid=CU1234567)"))
	<-e.pin.lookupStarted
	r.send(rawBind(3, "CU1234567", "right-pin-123"))
	time.Sleep(50 * time.Millisecond) // give a wrong server the chance to answer the bind first
	close(e.pin.release)
	var ids []int64
	for len(ids) < 3 {
		ids = append(ids, msgID(r.read()))
	}
	if ids[0] != 2 || ids[1] != 2 || ids[2] != 3 {
		t.Fatalf("response order %v, want the search (entry, done) before the bind", ids)
	}
}

func TestMaxOpsPerConn(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.MaxOpsPerConn = 2 })
	e.pin.blockLookup = true
	r := dialRaw(t, e.addr)
	r.send(rawBind(1, serviceDN("ils"), "ils-secret"))
	r.read()
	r.send(rawSearch(2, testSuffix, "(uid=CU1234567)"))
	r.send(rawSearch(3, testSuffix, "(uid=CITYU5012345)"))
	<-e.pin.lookupStarted
	<-e.pin.lookupStarted
	r.send(rawSearch(4, testSuffix, "(uid=CU1234567)"))
	p := r.read()
	if msgID(p) != 4 || opTag(p) != ldapwire.TagSearchResultDone || resultCode(p) != ldap.LDAPResultBusy {
		t.Fatalf("third op: id %d tag %d code %d, want 51 for id 4", msgID(p), opTag(p), resultCode(p))
	}
	close(e.pin.release)
	for range 4 { // two entries, two dones
		r.read()
	}
}

func TestBrokenStreamsCloseOnlyTheirConnection(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"malformed", []byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x04, 0x00}},
		{"not a sequence", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"oversized", rawBind(1, "CU1234567", string(bytes.Repeat([]byte("x"), 4096)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(s *Server) { s.MaxRequestBytes = 1024 })
			r := dialRaw(t, e.addr)
			r.send(tc.data)
			if got := r.expectClosed(); got != ldap.LDAPResultProtocolError {
				t.Fatalf("notice code %d, want 2", got)
			}
			c := e.dial()
			if err := c.Bind("CU1234567", "right-pin-123"); err != nil {
				t.Fatalf("second client: %v", err)
			}
		})
	}
}

func TestUnknownApplicationTagKeepsConnection(t *testing.T) {
	e := newEnv(t, nil)
	r := dialRaw(t, e.addr)
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 30, nil, "unknown")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "x", ""))
	r.send(message(7, op))
	p := r.read()
	if msgID(p) != 7 || resultCode(p) != ldap.LDAPResultProtocolError {
		t.Fatalf("unknown tag: id %d code %d", msgID(p), resultCode(p))
	}
	r.send(rawWhoAmI(8))
	if p := r.read(); msgID(p) != 8 {
		t.Fatalf("connection did not survive")
	}
}

func TestShutdownSendsNoticeAndServeReturns(t *testing.T) {
	e := newEnv(t, nil)
	r := dialRaw(t, e.addr)
	r.send(rawWhoAmI(1))
	r.read()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if got := r.expectClosed(); got != ldap.LDAPResultUnavailable {
		t.Fatalf("notice code %d, want 52", got)
	}
	select {
	case err := <-e.served:
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestShutdownWaitsForOperationInFlight(t *testing.T) {
	e := newEnv(t, nil)
	e.pin.blockLookup = true
	r := dialRaw(t, e.addr)
	r.send(rawBind(1, serviceDN("ils"), "ils-secret"))
	r.read()
	r.send(rawSearch(2, testSuffix, "(uid=CU1234567)"))
	<-e.pin.lookupStarted
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	close(e.pin.release)
	// The search completes, then the notice arrives.
	if p := r.read(); msgID(p) != 2 || opTag(p) != ldapwire.TagSearchResultEntry {
		t.Fatalf("want the search entry first, got id %d tag %d", msgID(p), opTag(p))
	}
	if p := r.read(); msgID(p) != 2 || opTag(p) != ldapwire.TagSearchResultDone {
		t.Fatalf("want the search done, got id %d tag %d", msgID(p), opTag(p))
	}
	if got := r.expectClosed(); got != ldap.LDAPResultUnavailable {
		t.Fatalf("notice %d", got)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestShutdownDeadlineForcesClose(t *testing.T) {
	e := newEnv(t, nil)
	e.pin.blockLookup = true
	r := dialRaw(t, e.addr)
	r.send(rawBind(1, serviceDN("ils"), "ils-secret"))
	r.read()
	r.send(rawSearch(2, testSuffix, "(uid=CU1234567)"))
	<-e.pin.lookupStarted
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	if got := r.expectClosed(); got != ldap.LDAPResultUnavailable {
		t.Fatalf("notice %d", got)
	}
}

func TestIdleTimeoutClosesConnection(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.IdleTimeout = 100 * time.Millisecond })
	r := dialRaw(t, e.addr)
	r.expectClosed()
}

func TestMaxConnections(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.MaxConnections = 1 })
	first := dialRaw(t, e.addr)
	first.send(rawWhoAmI(1))
	first.read()
	second := dialRaw(t, e.addr)
	if got := second.expectClosed(); got != ldap.LDAPResultBusy {
		t.Fatalf("notice %d, want 51", got)
	}
	first.send(rawWhoAmI(2))
	if p := first.read(); msgID(p) != 2 {
		t.Fatal("first connection broken")
	}
}

func TestIdleTimeoutSparesOperationsInFlight(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
	e.pin.blockLookup = true
	r := dialRaw(t, e.addr)
	r.send(rawBind(1, serviceDN("ils"), "ils-secret"))
	r.read()
	r.send(rawSearch(2, testSuffix, "(uid=CU1234567)"))
	<-e.pin.lookupStarted
	time.Sleep(time.Second) // longer than IdleTimeout, with an operation in flight
	close(e.pin.release)
	if p := r.read(); msgID(p) != 2 {
		t.Fatalf("got id %d", msgID(p))
	}
	if p := r.read(); msgID(p) != 2 || opTag(p) != ldapwire.TagSearchResultDone {
		t.Fatalf("got id %d tag %d", msgID(p), opTag(p))
	}
	r.send(rawWhoAmI(3))
	if p := r.read(); msgID(p) != 3 {
		t.Fatalf("connection closed while an operation was in flight")
	}
}
