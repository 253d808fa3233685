package integration

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// longRun reports whether the full-size attacks were asked for
// (BINDERY_LONG=1, see scripts/test.sh).
func longRun() bool { return os.Getenv("BINDERY_LONG") != "" }

// scale returns ci, or long under BINDERY_LONG=1.
func scale(ci, long int) int {
	if longRun() {
		return long
	}
	return ci
}

// memLimitKB is the bound on bindery's peak resident memory (VmHWM) under
// any attack. bindery runs with the race detector in these tests, which
// multiplies memory several times; a leak proportional to the attack
// (a buffer per announced length, a goroutine stack per byte) still
// crosses it.
const memLimitKB = 1 << 20 // 1 GiB

// memSample is bindery's memory from /proc/PID/status.
type memSample struct{ rssKB, hwmKB int64 }

func (m memSample) String() string {
	return fmt.Sprintf("VmRSS %.1f MiB, VmHWM %.1f MiB", float64(m.rssKB)/1024, float64(m.hwmKB)/1024)
}

// mem reads bindery's VmRSS and VmHWM.
func (e *env) mem() memSample {
	e.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.proc.Process.Pid))
	if err != nil {
		e.t.Fatalf("reading bindery's memory: %v", err)
	}
	var m memSample
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rssKB = n
		case "VmHWM":
			m.hwmKB = n
		}
	}
	return m
}

// fds counts bindery's open file descriptors.
func (e *env) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", e.proc.Process.Pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// checkMem logs a memory sample with a label and fails when the peak is
// over memLimitKB.
func (e *env) checkMem(label string) memSample {
	e.t.Helper()
	m := e.mem()
	e.t.Logf("memory %-28s %s, %d fds", label+":", m, e.fds())
	if m.hwmKB > memLimitKB {
		e.t.Errorf("%s: bindery's peak memory %s is over %d MiB", label, m, memLimitKB/1024)
	}
	return m
}

// alive fails the test when bindery has exited.
func (e *env) alive() {
	e.t.Helper()
	select {
	case <-e.done:
		e.t.Fatalf("bindery exited: %v\n%s", e.proc.ProcessState, e.logs.String())
	default:
	}
}

// normalBind is the well-behaved client: it must bind while an attack runs.
func (e *env) normalBind(id, pin string) {
	e.t.Helper()
	e.alive()
	c, err := ldap.DialURL(e.url(), ldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}))
	if err != nil {
		e.t.Fatalf("normal client cannot connect: %v", err)
	}
	defer c.Close()
	c.SetTimeout(30 * time.Second)
	if err := c.Bind(personDN(id), pin); err != nil {
		e.t.Fatalf("normal client's bind failed: %v", err)
	}
}

// raiseNoFile lifts this process's open-file limit to at least n (as root
// the hard limit can be raised too); bindery, started afterwards,
// inherits it. It skips the test when the limit cannot be reached.
func raiseNoFile(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	want := lim
	want.Cur = n
	if want.Max < n {
		want.Max = n
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		t.Skipf("cannot raise the open-file limit from %d to %d: %v", lim.Cur, n, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
}

// tlv encodes one BER element with a definite length.
func tlv(id byte, content ...[]byte) []byte {
	var body []byte
	for _, c := range content {
		body = append(body, c...)
	}
	return append(header(id, len(body)), body...)
}

func berInt(v int) []byte {
	if v < 0x80 {
		return tlv(0x02, []byte{byte(v)})
	}
	b := []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	for len(b) > 1 && b[0] == 0 && b[1] < 0x80 {
		b = b[1:]
	}
	return tlv(0x02, b)
}

// rawMessage wraps a protocol op into an LDAPMessage.
func rawMessage(id int, op []byte) []byte { return tlv(0x30, berInt(id), op) }

func rawBindOp(name, pw string) []byte {
	return tlv(0x60, berInt(3), tlv(0x04, []byte(name)), tlv(0x80, []byte(pw)))
}

func rawWhoAmIOp() []byte { return tlv(0x77, tlv(0x80, []byte("1.3.6.1.4.1.4203.1.11.3"))) }

// rawSearchOp is a SearchRequest with a raw Filter element.
func rawSearchOp(base string, filter []byte, attrs ...string) []byte {
	var as []byte
	for _, a := range attrs {
		as = append(as, tlv(0x04, []byte(a))...)
	}
	return tlv(0x63, tlv(0x04, []byte(base)), tlv(0x0a, []byte{2}), tlv(0x0a, []byte{0}),
		berInt(0), berInt(0), tlv(0x01, []byte{0}), filter, tlv(0x30, as))
}

// eqFilter is (attr=value).
func eqFilter(attr, value string) []byte {
	return tlv(0xa3, tlv(0x04, []byte(attr)), tlv(0x04, []byte(value)))
}

// nestNot wraps f in n NOT filters.
func nestNot(f []byte, n int) []byte { return nest(0xa2, f, n) }

// nestAnd wraps f in n AND filters.
func nestAnd(f []byte, n int) []byte { return nest(0xa0, f, n) }

// nest wraps f in n constructed elements of one tag, in linear time (the
// headers are computed inside out, then written outside in).
func nest(id byte, f []byte, n int) []byte {
	headers := make([][]byte, n)
	size := len(f)
	for i := 0; i < n; i++ {
		headers[i] = header(id, size)
		size += len(headers[i])
	}
	out := make([]byte, 0, size)
	for i := n - 1; i >= 0; i-- {
		out = append(out, headers[i]...)
	}
	return append(out, f...)
}

// header is the identifier and definite length octets of an element.
func header(id byte, n int) []byte {
	switch {
	case n < 0x80:
		return []byte{id, byte(n)}
	case n < 0x100:
		return []byte{id, 0x81, byte(n)}
	case n < 0x10000:
		return []byte{id, 0x82, byte(n >> 8), byte(n)}
	case n < 0x1000000:
		return []byte{id, 0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return []byte{id, 0x84, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// rawClient is a hand-driven connection for what go-ldap cannot send.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (e *env) rawDial() *rawClient {
	e.t.Helper()
	nc, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { nc.Close() })
	return &rawClient{t: e.t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawClient) send(b []byte) error {
	r.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := r.nc.Write(b)
	return err
}

// next reads one response: its message ID, application tag and result
// code (-1 for an entry).
func (r *rawClient) next(timeout time.Duration) (id int64, tag int, code int, err error) {
	r.nc.SetReadDeadline(time.Now().Add(timeout))
	p, err := ber.ReadPacket(r.br)
	if err != nil {
		return 0, 0, 0, err
	}
	if len(p.Children) < 2 {
		return 0, 0, 0, fmt.Errorf("response without an operation")
	}
	id, _ = p.Children[0].Value.(int64)
	op := p.Children[1]
	tag = int(op.Tag)
	code = -1
	if tag != ldap.ApplicationSearchResultEntry && len(op.Children) > 0 {
		v, _ := op.Children[0].Value.(int64)
		code = int(v)
	}
	return id, tag, code, nil
}

// closedAfter reads until the server closes the connection and returns the
// code of the Notice of Disconnection it sent first, or -1. It fails the
// test when the connection is still open after timeout.
func (r *rawClient) closedAfter(timeout time.Duration) int {
	r.t.Helper()
	notice := -1
	deadline := time.Now().Add(timeout)
	for {
		id, _, code, err := r.next(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				r.t.Fatalf("server did not close the connection within %v", timeout)
			}
			return notice
		}
		if id == 0 {
			notice = code
		}
	}
}

// bindSvc binds a raw connection as the service account.
func (r *rawClient) bindSvc() {
	r.t.Helper()
	if err := r.send(rawMessage(1, rawBindOp(svcDN, svcPW))); err != nil {
		r.t.Fatal(err)
	}
	if _, _, code, err := r.next(30 * time.Second); err != nil || code != 0 {
		r.t.Fatalf("service bind: code %d, %v", code, err)
	}
}

// pinsOnlyEnv is bindery with a PIN store and no campus directory: the
// attacks need no slapd.
func pinsOnlyEnv(t *testing.T, serverExtra string) *env {
	t.Helper()
	e := newEnv(t, serverExtra, `
[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "%DIR%/pins.db"
`)
	e.addPatron(julacID, "Wong Siu Ming", julacPIN, "--category", "julac")
	return e
}
