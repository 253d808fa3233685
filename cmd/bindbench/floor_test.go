package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/bindery/bindery/internal/ldapwire"
)

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// serveFloor runs f on ln until the test ends and checks that Serve then
// returns nil promptly.
func serveFloor(t *testing.T, f *Floor, ln net.Listener) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return within 5 s of the cancel")
		}
	})
	return ln.Addr().String()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func startFloor(t *testing.T, f *Floor) string {
	t.Helper()
	return serveFloor(t, f, listen(t))
}

// rawClient is a connection that writes requests and reads responses with
// ldapwire, to see the message IDs and tags as sent.
type rawClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawClient) send(b []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

// read returns the next response, or the error that ended the stream.
func (rc *rawClient) read() (*ldapwire.Response, error) {
	body, err := ldapwire.ReadFrame(rc.r, 1<<20)
	if err != nil {
		return nil, err
	}
	return ldapwire.DecodeResponse(body)
}

// expect reads one response and checks its ID, tag and code.
func (rc *rawClient) expect(id int64, tag, code int) {
	rc.t.Helper()
	r, err := rc.read()
	if err != nil {
		rc.t.Fatalf("reading the response to message %d: %v", id, err)
	}
	if r.ID != id || r.Tag != tag || r.Result.Code != code {
		rc.t.Fatalf("response: id %d tag %d code %d (%q), want id %d tag %d code %d",
			r.ID, r.Tag, r.Result.Code, r.Result.DiagnosticMessage, id, tag, code)
	}
}

// expectClosed reads until the stream ends and fails if it does not.
func (rc *rawClient) expectClosed() {
	rc.t.Helper()
	if r, err := rc.read(); err == nil {
		rc.t.Fatalf("got a response (id %d tag %d) where the connection should be closed", r.ID, r.Tag)
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		rc.t.Fatalf("connection not closed: %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// expectNotice reads a Notice of Disconnection with the given code, then
// the end of the stream.
func (rc *rawClient) expectNotice(code int) {
	rc.t.Helper()
	r, err := rc.read()
	if err != nil {
		rc.t.Fatalf("no Notice of Disconnection: %v", err)
	}
	if r.ID != 0 || r.Tag != ldapwire.TagExtendedResponse || r.Name != ldapwire.OIDNoticeOfDisconn || r.Result.Code != code {
		rc.t.Fatalf("got id %d tag %d name %q code %d, want a Notice of Disconnection with code %d", r.ID, r.Tag, r.Name, r.Result.Code, code)
	}
	rc.expectClosed()
}

// checkGoLDAP binds, searches, compares and asks WhoAmI with go-ldap's
// client through addr, as a real client would.
func checkGoLDAP(t *testing.T, addr string) {
	t.Helper()
	l, err := ldap.DialURL("ldap://"+addr, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetTimeout(5 * time.Second)
	for i := range 5 {
		if err := l.Bind(fmt.Sprintf("uid=u%d,ou=people,dc=example,dc=org", i), "anything at all"); err != nil {
			t.Fatalf("bind %d: %v", i, err)
		}
	}
	sr, err := l.Search(ldap.NewSearchRequest("dc=example,dc=org", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, 0, false, "(uid=u1)", nil, nil))
	if err != nil || len(sr.Entries) != 0 {
		t.Fatalf("search: %v, %d entries", err, len(sr.Entries))
	}
	if ok, err := l.Compare("uid=u1,dc=example,dc=org", "uid", "u1"); err != nil || !ok {
		t.Fatalf("compare: %v %v", ok, err)
	}
	if _, err := l.WhoAmI(nil); err != nil {
		t.Fatalf("whoami: %v", err)
	}
	if err := l.Unbind(); err != nil {
		t.Fatalf("unbind: %v", err)
	}
}

func TestFloorAnswersGoLDAP(t *testing.T) {
	checkGoLDAP(t, startFloor(t, &Floor{}))
}

// floorExchange sends requests of every kind with chosen message IDs and
// checks that each answer carries its ID and the right response type.
func floorExchange(t *testing.T, addr string) {
	t.Helper()
	rc := dialRaw(t, addr)
	rc.send(ldapwire.AppendBindRequest(nil, 1, "uid=a,dc=example,dc=org", "pw", nil))
	rc.expect(1, ldapwire.TagBindResponse, 0)
	// A 300-byte password: the message's length takes the long form.
	rc.send(ldapwire.AppendBindRequest(nil, 1<<31-1, "uid=b", strings.Repeat("p", 300), nil))
	rc.expect(1<<31-1, ldapwire.TagBindResponse, 0)
	// 200 KiB: the body is read in several chunks.
	rc.send(ldapwire.AppendBindRequest(nil, 70000, "uid=c", strings.Repeat("q", 200<<10), nil))
	rc.expect(70000, ldapwire.TagBindResponse, 0)
	filter, err := ldap.CompileFilter("(uid=a)")
	if err != nil {
		t.Fatal(err)
	}
	rc.send(ldapwire.AppendSearchRequest(nil, 300, ldapwire.ClientSearch{BaseDN: "dc=example,dc=org", Scope: 2, Filter: filter.Bytes()}, nil))
	rc.expect(300, ldapwire.TagSearchResultDone, 0)
	rc.send(ldapwire.AppendExtendedRequest(nil, 301, ldapwire.OIDWhoAmI, nil, false, nil))
	rc.expect(301, ldapwire.TagExtendedResponse, 0)
	// An abandon gets no answer: the next answer is the bind's.
	rc.send([]byte{0x30, 0x06, 0x02, 0x01, 0x05, 0x50, 0x01, 0x01})
	rc.send(ldapwire.AppendBindRequest(nil, 6, "", "", nil))
	rc.expect(6, ldapwire.TagBindResponse, 0)
	rc.send(ldapwire.AppendUnbindRequest(nil, 7))
	rc.expectClosed()
}

func TestFloorMessageIDsAndTypes(t *testing.T) {
	floorExchange(t, startFloor(t, &Floor{}))
}

func TestFloorClosesOnGarbage(t *testing.T) {
	addr := startFloor(t, &Floor{MaxBytes: 4096})
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"not a SEQUENCE", []byte{0x04, 0x03, 'a', 'b', 'c'}},
		{"indefinite length", []byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x42, 0x00, 0x00, 0x00}},
		{"length of 5 octets", []byte{0x30, 0x85, 0, 0, 0, 0, 5}},
		{"announces 2 GiB", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff}},
		{"a real bind above the limit", ldapwire.AppendBindRequest(nil, 2, "uid=a", strings.Repeat("x", 5000), nil)},
		{"negative message ID", []byte{0x30, 0x05, 0x02, 0x01, 0xff, 0x42, 0x00}},
		{"message ID not an INTEGER", []byte{0x30, 0x05, 0x04, 0x01, 0x01, 0x42, 0x00}},
		{"protocolOp overruns", []byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x60, 0x10}},
		{"a response where a request belongs", ldapwire.AppendBindResponse(nil, 3, ldapwire.Result{}, nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			other := dialRaw(t, addr)
			other.send(ldapwire.AppendBindRequest(nil, 1, "uid=other", "pw", nil))
			other.expect(1, ldapwire.TagBindResponse, 0)

			rc := dialRaw(t, addr)
			rc.send(tt.b)
			rc.expectNotice(floorProtocolError)

			// The connection opened before, and a new one, keep working.
			other.send(ldapwire.AppendBindRequest(nil, 2, "uid=other", "pw", nil))
			other.expect(2, ldapwire.TagBindResponse, 0)
			again := dialRaw(t, addr)
			again.send(ldapwire.AppendBindRequest(nil, 1, "uid=again", "pw", nil))
			again.expect(1, ldapwire.TagBindResponse, 0)
		})
	}
}

func TestFloorTruncatedMessageCloses(t *testing.T) {
	addr := startFloor(t, &Floor{})
	rc := dialRaw(t, addr)
	b := ldapwire.AppendBindRequest(nil, 1, "uid=a", "pw", nil)
	rc.send(b[:len(b)-3])
	rc.c.(*net.TCPConn).CloseWrite()
	rc.expectClosed()
}

func TestFloorRelay(t *testing.T) {
	up := &countingListener{Listener: listen(t)}
	upAddr := serveFloor(t, &Floor{}, up)
	relayAddr := startFloor(t, &Floor{Upstream: upAddr})
	checkGoLDAP(t, relayAddr)
	floorExchange(t, relayAddr)
	if n := up.n.Load(); n != 2 {
		t.Errorf("the upstream accepted %d connections for 2 client connections", n)
	}
}

// fakeUpstream answers a search with entries and a reference before its
// done, each message in its own write, binds as "uid=wrong" with 49, and
// a bind as "uid=garbage" with bytes that are not LDAP.
func fakeUpstream(t *testing.T) string {
	t.Helper()
	ln := listen(t)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					m, err := ldapwire.ReadMessage(r, 1<<20)
					if err != nil {
						return
					}
					var out [][]byte
					switch op := m.Op.(type) {
					case *ldapwire.BindRequest:
						switch op.Name {
						case "uid=wrong":
							out = append(out, ldapwire.AppendBindResponse(nil, m.ID, ldapwire.Result{Code: 49}, nil))
						case "uid=garbage":
							out = append(out, []byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
						default:
							out = append(out, ldapwire.AppendBindResponse(nil, m.ID, ldapwire.Result{}, nil))
						}
					case *ldapwire.SearchRequest:
						for i := range 3 {
							out = append(out, ldapwire.AppendSearchEntry(nil, m.ID, fmt.Sprintf("uid=e%d,dc=example,dc=org", i),
								[]ldapwire.Attribute{{Type: "uid", Values: []string{fmt.Sprintf("e%d", i)}}}, nil))
						}
						out = append(out, ldapwire.AppendSearchReference(nil, m.ID, []string{"ldap://elsewhere/dc=example,dc=org"}, nil))
						out = append(out, ldapwire.AppendSearchDone(nil, m.ID, ldapwire.Result{}, nil))
					case *ldapwire.UnbindRequest:
						return
					}
					for _, b := range out {
						if _, err := c.Write(b); err != nil {
							return
						}
					}
				}
			})
		}
	})
	return ln.Addr().String()
}

func TestFloorRelaysEveryFrameVerbatim(t *testing.T) {
	relayAddr := startFloor(t, &Floor{Upstream: fakeUpstream(t)})
	l, err := ldap.DialURL("ldap://" + relayAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetTimeout(5 * time.Second)
	sr, err := l.Search(ldap.NewSearchRequest("dc=example,dc=org", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(uid=*)", []string{"uid"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(sr.Entries) != 3 || len(sr.Referrals) != 1 || sr.Entries[2].GetAttributeValue("uid") != "e2" {
		t.Fatalf("search through the relay: %d entries, referrals %v", len(sr.Entries), sr.Referrals)
	}
	err = l.Bind("uid=wrong", "pw")
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("bind as uid=wrong: %v, want 49 passed through", err)
	}
	if err := l.Bind("uid=right", "pw"); err != nil {
		t.Fatalf("bind after a 49: %v", err)
	}
}

func TestFloorRelayUpstreamGarbageClosesThatClientOnly(t *testing.T) {
	relayAddr := startFloor(t, &Floor{Upstream: fakeUpstream(t)})
	other := dialRaw(t, relayAddr)
	other.send(ldapwire.AppendBindRequest(nil, 1, "uid=a", "pw", nil))
	other.expect(1, ldapwire.TagBindResponse, 0)

	rc := dialRaw(t, relayAddr)
	rc.send(ldapwire.AppendBindRequest(nil, 1, "uid=garbage", "pw", nil))
	rc.expectClosed()

	other.send(ldapwire.AppendBindRequest(nil, 2, "uid=a", "pw", nil))
	other.expect(2, ldapwire.TagBindResponse, 0)
}

func TestFloorRelayClientGarbage(t *testing.T) {
	relayAddr := startFloor(t, &Floor{Upstream: startFloor(t, &Floor{})})
	rc := dialRaw(t, relayAddr)
	rc.send([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff})
	rc.expectNotice(floorProtocolError)
	floorExchange(t, relayAddr)
}

func TestFloorRelayUpstreamDown(t *testing.T) {
	ln := listen(t)
	down := ln.Addr().String()
	ln.Close()
	rc := dialRaw(t, startFloor(t, &Floor{Upstream: down, DialTimeout: time.Second}))
	rc.expectNotice(floorUnavailable)
}

// TestFloorRelayToSlapd puts the relay in front of a real slapd: its
// answers, a 49 included, reach go-ldap's client unchanged.
func TestFloorRelayToSlapd(t *testing.T) {
	s, usersPath := startSlapd(t, 3)
	users, err := LoadUsersFile(usersPath, false)
	if err != nil {
		t.Fatal(err)
	}
	upAddr, err := upstreamAddr(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	l, err := ldap.DialURL("ldap://" + startFloor(t, &Floor{Upstream: upAddr}))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetTimeout(5 * time.Second)
	for _, u := range users {
		if err := l.Bind(u.BindDN, u.Password); err != nil {
			t.Fatalf("bind as %s through the relay: %v", u.BindDN, err)
		}
		if err := l.Bind(u.BindDN, u.Password+"x"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Fatalf("wrong password for %s through the relay: %v, want 49", u.BindDN, err)
		}
	}
	res, err := l.WhoAmI(nil)
	if err != nil || res.AuthzID != "" {
		t.Fatalf("whoami after a failed bind: %+v %v", res, err)
	}
}

// lineWriter hands each written line to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.lines <- strings.TrimSuffix(line, "\n")
	}
}

func TestFloorMain(t *testing.T) {
	run := func(ctx context.Context, args ...string) (<-chan int, *lineWriter, *bytes.Buffer) {
		out := &lineWriter{lines: make(chan string, 10)}
		var errb bytes.Buffer
		rc := make(chan int, 1)
		go func() { rc <- floorMain(ctx, args, out, &errb) }()
		return rc, out, &errb
	}
	addrOf := func(t *testing.T, out *lineWriter) string {
		t.Helper()
		select {
		case line := <-out.lines:
			addr, ok := strings.CutPrefix(line, "listening on ")
			if !ok {
				t.Fatalf("first line %q", line)
			}
			addr, _, _ = strings.Cut(addr, ",")
			return addr
		case <-time.After(5 * time.Second):
			t.Fatal("no \"listening on\" line within 5 s")
			return ""
		}
	}
	stop := func(t *testing.T, cancel func(), rc <-chan int, errb *bytes.Buffer) {
		t.Helper()
		cancel()
		select {
		case code := <-rc:
			if code != 0 {
				t.Fatalf("exit %d after the signal: %s", code, errb)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("floor did not stop within 5 s of the signal")
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	rc, out, errb := run(ctx, "--listen", "127.0.0.1:0")
	addr := addrOf(t, out)
	ctx2, cancel2 := context.WithCancel(context.Background())
	rc2, out2, errb2 := run(ctx2, "--listen", "127.0.0.1:0", "--upstream", "ldap://"+addr)
	relay := addrOf(t, out2)
	checkGoLDAP(t, relay)
	stop(t, cancel2, rc2, errb2)
	stop(t, cancel, rc, errb)

	for _, args := range [][]string{
		{},
		{"--listen", "127.0.0.1:0", "extra"},
		{"--listen", "127.0.0.1:0", "--upstream", "ldaps://127.0.0.1:636"},
		{"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:389"},
		{"--listen", "127.0.0.1:0", "--max-bytes", "0"},
		{"--no-such-flag"},
	} {
		var o, e bytes.Buffer
		if code := floorMain(context.Background(), args, &o, &e); code != 2 {
			t.Errorf("floor %q: exit %d, want 2 (%s)", args, code, e.String())
		}
	}
	if got, err := upstreamAddr("ldap://localhost"); err != nil || got != "localhost:389" {
		t.Errorf("upstreamAddr without a port: %q %v", got, err)
	}
}

// BenchmarkFloorBind is one bind round trip over loopback through the
// responder (and through the relay in front of it), the client writing a
// pre-encoded request and reading the answer into a fixed buffer: its
// allocs/op are the floor's own (0 expected for the responder).
func BenchmarkFloorBind(b *testing.B) {
	for _, relayed := range []bool{false, true} {
		name := "responder"
		if relayed {
			name = "relay"
		}
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			serve := func(f *Floor) string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				go f.Serve(ctx, ln)
				return ln.Addr().String()
			}
			addr := serve(&Floor{})
			if relayed {
				addr = serve(&Floor{Upstream: addr})
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := ldapwire.AppendBindRequest(nil, 1, "uid=CU0000001,ou=people,dc=example,dc=org", "Pw-00000001x", nil)
			want := len(ldapwire.AppendBindResponse(nil, 1, ldapwire.Result{}, nil))
			resp := make([]byte, want)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
