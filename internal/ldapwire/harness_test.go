package ldapwire

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// pipeServer is the server end of a net.Pipe whose client end is a real
// go-ldap client: what the client writes is read with ReadMessage, and what
// the test writes back is parsed by the client.
type pipeServer struct {
	t   testing.TB
	c   net.Conn
	rec *bytes.Buffer
	r   *bufio.Reader
}

// newPipe starts a go-ldap client over a pipe.
func newPipe(t testing.TB) (*ldap.Conn, *pipeServer) {
	t.Helper()
	cli, srv := net.Pipe()
	l := ldap.NewConn(cli, false)
	l.SetTimeout(10 * time.Second)
	l.Start()
	rec := &bytes.Buffer{}
	s := &pipeServer{t: t, c: srv, rec: rec, r: bufio.NewReader(teeReader{srv, rec})}
	t.Cleanup(func() {
		srv.Close()
		l.Close()
	})
	return l, s
}

// teeReader records what the bufio.Reader pulls from the pipe. A pipe read
// returns at most one client write, and go-ldap writes one message per
// write, so after ReadMessage the record is exactly that message's bytes.
type teeReader struct {
	c   net.Conn
	rec *bytes.Buffer
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.c.Read(p)
	t.rec.Write(p[:n])
	return n, err
}

// read reads one message and its raw bytes, and checks that Decode of the
// raw bytes gives the same message.
func (s *pipeServer) read() (*Message, []byte) {
	s.t.Helper()
	s.rec.Reset()
	if err := s.c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		s.t.Fatal(err)
	}
	m, err := ReadMessage(s.r, 1<<20)
	if err != nil {
		s.t.Fatalf("ReadMessage: %v", err)
	}
	if s.r.Buffered() != 0 {
		s.t.Fatalf("%d bytes buffered after one message", s.r.Buffered())
	}
	raw := bytes.Clone(s.rec.Bytes())
	m2, err := Decode(raw)
	if err != nil {
		s.t.Fatalf("Decode(raw): %v", err)
	}
	if !reflect.DeepEqual(m, m2) {
		s.t.Fatalf("ReadMessage and Decode disagree:\n%#v\n%#v", m, m2)
	}
	return m, raw
}

// write sends bytes to the client.
func (s *pipeServer) write(b []byte) {
	s.t.Helper()
	if err := s.c.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.c.Write(b); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// result is the outcome of a client call run in the background.
type result[T any] struct {
	v   T
	err error
}

// async runs a client call in the background.
func async[T any](f func() (T, error)) <-chan result[T] {
	ch := make(chan result[T], 1)
	go func() {
		v, err := f()
		ch <- result[T]{v, err}
	}()
	return ch
}

// async0 runs a client call that returns only an error.
func async0(f func() error) <-chan result[struct{}] {
	return async(func() (struct{}, error) { return struct{}{}, f() })
}

// wait receives a client result.
func wait[T any](t testing.TB, ch <-chan result[T]) (T, error) {
	t.Helper()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(20 * time.Second):
		t.Fatal("client call did not return")
		panic("unreachable")
	}
}

// ldapCode returns the result code of a go-ldap error, or 0 for nil.
func ldapCode(err error) int {
	if err == nil {
		return 0
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		return int(le.ResultCode)
	}
	return -1
}
