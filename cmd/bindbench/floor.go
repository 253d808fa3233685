package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/bindery/bindery/internal/ldapwire"
)

// Floor is the least a Go LDAP server can do per request: a goroutine per
// connection reads whole LDAPMessages (RFC 4511 §4.1.1 framing, nothing
// decoded but the message ID and the protocolOp's tag) and answers each with
// a success of the matching response type, in one Write. It never looks at a
// DN or a password. With Upstream set it is instead the least a Go LDAP
// proxy can do: each client connection gets its own upstream connection,
// every request goes up verbatim and its responses come back verbatim.
// Measured beside slapd (scripts/bench.sh, comparisons 5 and 6), its CPU per
// bind is what the socket and Go's runtime cost, below which bindery cannot
// go. The zero value answers by itself, with 1 MiB messages.
type Floor struct {
	// Upstream is the host:port each client connection is relayed to;
	// empty: answer every request without looking.
	Upstream string
	// MaxBytes bounds the body of one message, in either direction; a
	// longer one closes the connection. 0 means 1 MiB.
	MaxBytes int
	// DialTimeout bounds the upstream dial; 0 means 5 s.
	DialTimeout time.Duration
}

// Result codes the floor sends on its own.
const (
	floorProtocolError = 2
	floorCompareTrue   = 6
	floorUnavailable   = 52
)

// floorChunk is how much of a large message body is read (and allocated) at
// a time, so that a peer announcing a big length and then stalling costs
// memory only for the bytes it sent.
const floorChunk = 64 << 10

// Serve accepts connections on ln until ctx is done, then closes ln and
// every connection and returns nil once their goroutines have ended.
func (f *Floor) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if acceptRetryable(err) {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return fmt.Errorf("floor: accept: %w", err)
		}
		wg.Go(func() { f.serveConn(ctx, c) })
	}
}

// acceptRetryable reports whether an Accept error leaves the listener
// usable (out of descriptors or buffers, or a connection reset in the
// backlog).
func acceptRetryable(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (f *Floor) maxBytes() int {
	if f.MaxBytes > 0 {
		return f.MaxBytes
	}
	return 1 << 20
}

func (f *Floor) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	var up net.Conn
	if f.Upstream != "" {
		d := net.Dialer{Timeout: f.DialTimeout}
		if d.Timeout <= 0 {
			d.Timeout = 5 * time.Second
		}
		var err error
		if up, err = d.DialContext(ctx, "tcp", f.Upstream); err != nil {
			c.Write(ldapwire.AppendNoticeOfDisconnection(nil, floorUnavailable, "upstream unavailable"))
			return
		}
		defer up.Close()
	}
	stop := context.AfterFunc(ctx, func() {
		c.Close()
		if up != nil {
			up.Close()
		}
	})
	defer stop()
	in := frameReader{r: bufio.NewReader(c), max: f.maxBytes()}
	var err error
	if up == nil {
		err = answer(c, &in)
	} else {
		err = relay(c, up, &in, &frameReader{r: bufio.NewReader(up), max: f.maxBytes()})
	}
	if errors.Is(err, errFrame) {
		// RFC 4511 §4.1.1: a server SHOULD send a Notice of Disconnection
		// with protocolError before it ends a session it cannot decode.
		c.Write(ldapwire.AppendNoticeOfDisconnection(nil, floorProtocolError, err.Error()))
	}
}

// answer is the responder's loop: each request gets a success of its
// response type. It returns when the client unbinds or closes, or with an
// error wrapping errFrame on a message it cannot frame.
func answer(c net.Conn, in *frameReader) error {
	out := make([]byte, 0, 64)
	for {
		m, err := in.next()
		if err != nil {
			return err
		}
		switch m.op {
		case ldapwire.TagUnbindRequest:
			return nil
		case ldapwire.TagAbandonRequest:
			continue
		case ldapwire.TagBindRequest:
			out = ldapwire.AppendBindResponse(out[:0], m.id, ldapwire.Result{}, nil)
		case ldapwire.TagSearchRequest:
			out = ldapwire.AppendSearchDone(out[:0], m.id, ldapwire.Result{}, nil)
		case ldapwire.TagModifyRequest, ldapwire.TagAddRequest, ldapwire.TagDelRequest, ldapwire.TagModifyDNRequest:
			out = ldapwire.AppendResult(out[:0], m.id, m.op+1, ldapwire.Result{}, nil) // each response's tag is its request's plus one
		case ldapwire.TagExtendedRequest:
			out = ldapwire.AppendResult(out[:0], m.id, ldapwire.TagExtendedResponse, ldapwire.Result{}, nil)
		case ldapwire.TagCompareRequest:
			out = ldapwire.AppendCompareResponse(out[:0], m.id, ldapwire.Result{Code: floorCompareTrue}, nil)
		default:
			return fmt.Errorf("%w: protocolOp tag %d is not a request", errFrame, m.op)
		}
		if _, err := c.Write(out); err != nil {
			return err
		}
	}
}

// relay is the proxy's loop: one request at a time, written upstream as it
// came; then the upstream's frames go back as they came until the final
// response of that request: any frame with its message ID that is not a
// SearchResultEntry, SearchResultReference or IntermediateResponse. The
// frames read in one go from upstream go to the client in one Write.
func relay(c, up net.Conn, in, upIn *frameReader) error {
	out := make([]byte, 0, 512)
	for {
		m, err := in.next()
		if err != nil {
			return err
		}
		if _, err := up.Write(m.raw); err != nil {
			return err
		}
		if m.op == ldapwire.TagUnbindRequest {
			return nil
		}
		if m.op == ldapwire.TagAbandonRequest {
			continue // no response (RFC 4511 §4.11)
		}
		out = out[:0]
		for final := false; !final; {
			r, err := upIn.next()
			if err != nil {
				// The upstream closed (after a Notice of Disconnection,
				// already passed on) or sent what is not LDAP: the client's
				// session ends too, without a notice of our own.
				return nil
			}
			out = append(out, r.raw...)
			final = r.id == m.id && r.op != ldapwire.TagSearchResultEntry &&
				r.op != ldapwire.TagSearchResultReference && r.op != ldapwire.TagIntermediateResponse
			if final || upIn.r.Buffered() == 0 || len(out) >= floorChunk {
				if _, err := c.Write(out); err != nil {
					return err
				}
				out = out[:0]
			}
		}
	}
}

// errFrame: the bytes are not an LDAPMessage (or one larger than the limit).
var errFrame = errors.New("not an LDAP message")

// frameMsg is one LDAPMessage as read: its bytes and the two fields the
// floor needs.
type frameMsg struct {
	raw []byte // the whole message; valid until the next read
	id  int64  // messageID
	op  int    // application tag of protocolOp
}

// frameReader reads LDAPMessages into one buffer it reuses.
type frameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// next reads one whole LDAPMessage. It returns io.EOF only at a clean end
// between messages, and an error wrapping errFrame when the stream is not
// a sequence of LDAPMessages of at most max body bytes: a first octet other
// than SEQUENCE, an indefinite or over-long length, a messageID that is not
// an INTEGER in 0..2^31-1, a protocolOp that is not an application element
// or overruns the message.
func (fr *frameReader) next() (frameMsg, error) {
	if cap(fr.buf) > floorChunk {
		fr.buf = nil // do not keep a big message's buffer for the small ones
	}
	b := fr.buf[:0]
	tag, err := fr.r.ReadByte()
	if err != nil {
		return frameMsg{}, err
	}
	if tag != 0x30 {
		return frameMsg{}, fmt.Errorf("%w: first octet %#02x is not a SEQUENCE", errFrame, tag)
	}
	b = append(b, tag)
	l0, err := fr.r.ReadByte()
	if err != nil {
		return frameMsg{}, truncated(err)
	}
	b = append(b, l0)
	n := int(l0)
	if l0 >= 0x80 {
		k := int(l0 & 0x7f)
		if k == 0 || k > 4 {
			return frameMsg{}, fmt.Errorf("%w: length octet %#02x", errFrame, l0)
		}
		n = 0
		for range k {
			d, err := fr.r.ReadByte()
			if err != nil {
				return frameMsg{}, truncated(err)
			}
			b = append(b, d)
			n = n<<8 | int(d)
		}
	}
	if n > fr.max {
		return frameMsg{}, fmt.Errorf("%w: %d bytes announced, limit %d", errFrame, n, fr.max)
	}
	hdr := len(b)
	for len(b) < hdr+n {
		step := min(hdr+n-len(b), floorChunk)
		b = slices.Grow(b, step)
		k, err := io.ReadFull(fr.r, b[len(b):len(b)+step])
		b = b[:len(b)+k]
		if err != nil {
			return frameMsg{}, truncated(err)
		}
	}
	fr.buf = b
	m := frameMsg{raw: b}
	if m.id, m.op, err = parseFrameBody(b[hdr:]); err != nil {
		return frameMsg{}, err
	}
	return m, nil
}

// parseFrameBody reads the messageID and the protocolOp's tag from the
// contents of an LDAPMessage.
func parseFrameBody(b []byte) (id int64, op int, err error) {
	if len(b) < 3 || b[0] != 0x02 || b[1] < 1 || b[1] > 8 || int(b[1]) > len(b)-2 {
		return 0, 0, fmt.Errorf("%w: no messageID", errFrame)
	}
	v := b[2 : 2+b[1]]
	if v[0]&0x80 != 0 {
		return 0, 0, fmt.Errorf("%w: negative messageID", errFrame)
	}
	for _, d := range v {
		id = id<<8 | int64(d)
		if id > 1<<31-1 {
			return 0, 0, fmt.Errorf("%w: messageID above 2^31-1", errFrame)
		}
	}
	rest := b[2+b[1]:]
	if len(rest) < 2 || rest[0]&0xc0 != 0x40 || rest[0]&0x1f == 0x1f {
		return 0, 0, fmt.Errorf("%w: no protocolOp", errFrame)
	}
	n, k := int(rest[1]), 1
	if rest[1] >= 0x80 {
		k = int(rest[1]&0x7f) + 1
		if k == 1 || k > 5 || k >= len(rest) {
			return 0, 0, fmt.Errorf("%w: protocolOp length", errFrame)
		}
		n = 0
		for _, d := range rest[2 : 1+k] {
			n = n<<8 | int(d)
		}
	}
	if n > len(rest)-1-k {
		return 0, 0, fmt.Errorf("%w: protocolOp overruns the message", errFrame)
	}
	return id, int(rest[0] & 0x1f), nil
}

// truncated turns io.EOF inside a message into io.ErrUnexpectedEOF.
func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// floorMain is `bindbench floor`: it serves until SIGINT or SIGTERM (ctx).
func floorMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bindbench floor", floorUsage, stderr)
	listen := fs.String("listen", "", "TCP address to listen on, e.g. 127.0.0.1:3899 (port 0: any free port)")
	upstream := fs.String("upstream", "", "ldap://host:port: relay every connection to this server instead of answering")
	f := Floor{}
	fs.IntVar(&f.MaxBytes, "max-bytes", 1<<20, "largest message body accepted, in either direction; a larger one closes the connection")
	fs.DurationVar(&f.DialTimeout, "dial-timeout", 5*time.Second, "with --upstream: how long to wait for the upstream connection")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	usageErr := usageError(stderr, fs.Name())
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *listen == "":
		return usageErr("--listen is required")
	case f.MaxBytes < 1:
		return usageErr("--max-bytes must be positive")
	}
	if *upstream != "" {
		var err error
		if f.Upstream, err = upstreamAddr(*upstream); err != nil {
			return usageErr("--upstream: %v", err)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "bindbench floor:", err)
		return 1
	}
	if f.Upstream != "" {
		fmt.Fprintf(stdout, "listening on %s, relaying to %s\n", ln.Addr(), f.Upstream)
	} else {
		fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	}
	if err := f.Serve(ctx, ln); err != nil {
		fmt.Fprintln(stderr, "bindbench floor:", err)
		return 1
	}
	return 0
}

// upstreamAddr turns ldap://host[:port] into host:port (389 by default).
func upstreamAddr(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Scheme != "ldap" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("%q is not ldap://host:port", s)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "389"), nil
	}
	return u.Host, nil
}

const floorUsage = `usage:
  bindbench floor --listen ADDR                          answer every request with success, without looking
  bindbench floor --listen ADDR --upstream ldap://H:P   relay every connection to that server, verbatim

It prints "listening on ADDR" once it accepts connections and stops on SIGINT
or SIGTERM. It is the floor of a Go LDAP server (or proxy) on this machine:
measure it beside slapd with bindbench --pid (scripts/bench.sh, ONLY=5,6).

`
