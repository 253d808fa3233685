package proxyhdr

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// pair accepts one TCP connection dialled from the local address from and
// returns the server side wrapped by p, and the client side.
func pair(t *testing.T, p *Policy, from string) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	cc, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := (&Listener{Listener: l, Policy: p}).Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close(); sc.Close() })
	return sc, cc
}

type refusals struct {
	mu sync.Mutex
	n  int
}

func (r *refusals) policy(timeout time.Duration) *Policy {
	return &Policy{
		From:    []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
		Timeout: timeout,
		Refused: func(net.Addr, error) { r.mu.Lock(); r.n++; r.mu.Unlock() },
	}
}

func (r *refusals) count() int { r.mu.Lock(); defer r.mu.Unlock(); return r.n }

func header(t *testing.T, version byte, src string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.1:389")))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var ldapBytes = []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00}

func readAll(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

func TestTrustedSenderHeaderGivesClientAddress(t *testing.T) {
	for _, v := range []byte{1, 2} {
		var r refusals
		sc, cc := pair(t, r.policy(time.Second), "127.0.0.2")
		cc.Write(append(header(t, v, "203.0.113.7:40000"), ldapBytes...))
		if err := sc.(*Conn).ReadHeader(); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if got := sc.RemoteAddr().String(); got != "203.0.113.7:40000" {
			t.Fatalf("v%d: RemoteAddr %s", v, got)
		}
		if got := sc.(*Conn).Peer().String(); got[:10] != "127.0.0.2:" {
			t.Fatalf("v%d: Peer %s", v, got)
		}
		if got := readAll(t, sc, len(ldapBytes)); string(got) != string(ldapBytes) {
			t.Fatalf("v%d: bytes after the header: %x", v, got)
		}
		if r.count() != 0 {
			t.Fatalf("v%d: refused", v)
		}
	}
}

func TestTrustedSenderWithoutValidHeaderIsRefused(t *testing.T) {
	for name, first := range map[string][]byte{
		"ldap bytes":     ldapBytes,
		"garbage header": []byte("PROXY TCP4 not an address\r\n"),
		"v2 truncated":   header(t, 2, "203.0.113.7:40000")[:14],
	} {
		var r refusals
		sc, cc := pair(t, r.policy(300*time.Millisecond), "127.0.0.2")
		cc.Write(first)
		start := time.Now()
		err := sc.(*Conn).ReadHeader()
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("%s: ReadHeader = %v, want ErrRefused", name, err)
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("%s: refusing took %v", name, time.Since(start))
		}
		if _, err := sc.Read(make([]byte, 1)); !errors.Is(err, ErrRefused) {
			t.Fatalf("%s: Read after refusal = %v", name, err)
		}
		if _, err := sc.Write([]byte("x")); !errors.Is(err, ErrRefused) {
			t.Fatalf("%s: Write after refusal = %v", name, err)
		}
		if r.count() != 1 {
			t.Fatalf("%s: %d refusals reported, want 1", name, r.count())
		}
	}
}

func TestTrustedSilentSenderTimesOut(t *testing.T) {
	var r refusals
	sc, _ := pair(t, r.policy(200*time.Millisecond), "127.0.0.2")
	start := time.Now()
	if err := sc.(*Conn).ReadHeader(); !errors.Is(err, ErrRefused) {
		t.Fatalf("ReadHeader = %v", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Fatalf("a silent sender was refused after %v, want about the 200ms timeout", d)
	}
}

func TestLocalCommandKeepsPeerAddress(t *testing.T) {
	var r refusals
	sc, cc := pair(t, r.policy(time.Second), "127.0.0.2")
	local := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
	b, err := local.Format()
	if err != nil {
		t.Fatal(err)
	}
	cc.Write(append(b, 'x'))
	if got := sc.RemoteAddr().String(); got[:10] != "127.0.0.2:" {
		t.Fatalf("RemoteAddr after LOCAL: %s", got)
	}
	if got := readAll(t, sc, 1); got[0] != 'x' {
		t.Fatalf("read %q", got)
	}
}

func TestUntrustedSender(t *testing.T) {
	t.Run("plain bytes pass", func(t *testing.T) {
		for _, first := range [][]byte{ldapBytes, []byte("POST /pin/setup HTTP/1.1\r\n"), {0x16, 0x03, 0x01}} {
			var r refusals
			sc, cc := pair(t, r.policy(time.Second), "127.0.0.3")
			cc.Write(first)
			if got := readAll(t, sc, len(first)); string(got) != string(first) {
				t.Fatalf("read %q, want %q", got, first)
			}
			if got := sc.RemoteAddr().String(); got[:10] != "127.0.0.3:" || r.count() != 0 {
				t.Fatalf("RemoteAddr %s, %d refusals", got, r.count())
			}
		}
	})
	t.Run("a header is refused", func(t *testing.T) {
		for _, v := range []byte{1, 2} {
			var r refusals
			sc, cc := pair(t, r.policy(time.Second), "127.0.0.3")
			cc.Write(append(header(t, v, "127.0.0.2:1234"), ldapBytes...))
			sc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := sc.Read(make([]byte, 64)); !errors.Is(err, ErrRefused) {
				t.Fatalf("v%d: Read = %v, want ErrRefused", v, err)
			}
			if got := sc.RemoteAddr().String(); got[:10] != "127.0.0.3:" {
				t.Fatalf("v%d: the forged address was taken: %s", v, got)
			}
			if _, err := sc.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n")); !errors.Is(err, ErrRefused) {
				t.Fatalf("v%d: Write after the refusal = %v, want ErrRefused", v, err)
			}
			if r.count() != 1 {
				t.Fatalf("v%d: %d refusals", v, r.count())
			}
		}
	})
	t.Run("a header after an idle timeout is still refused", func(t *testing.T) {
		var r refusals
		sc, cc := pair(t, r.policy(time.Second), "127.0.0.3")
		sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var ne net.Error
		if _, err := sc.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("idle Read = %v, want a timeout", err)
		}
		cc.Write(header(t, 1, "127.0.0.2:1234"))
		sc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := sc.Read(make([]byte, 1)); !errors.Is(err, ErrRefused) {
			t.Fatalf("Read = %v, want ErrRefused", err)
		}
	})
}

func TestPolicyOff(t *testing.T) {
	var p *Policy
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	go net.Dial("tcp", l.Addr().String())
	nc, _ := l.Accept()
	defer nc.Close()
	if got := p.Wrap(nc); got != nc {
		t.Fatalf("an off policy wrapped the connection: %T", got)
	}
	if (&Policy{}).On() {
		t.Fatal("an empty policy is on")
	}
}
