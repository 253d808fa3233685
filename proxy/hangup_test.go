package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

// waitingBackend waits, like a bind queued for a hashing worker, until
// its context ends.
type waitingBackend struct {
	*fakeBackend
	started chan struct{}
}

func (w *waitingBackend) Authenticate(ctx context.Context, c backend.Credentials) (backend.Result, bool, error) {
	w.started <- struct{}{}
	<-ctx.Done()
	return backend.Result{}, false, fmt.Errorf("hashpool: wait for a hashing worker: %w: %w", backend.ErrUnavailable, ctx.Err())
}

// debugEnv is newEnv with a Debug logger into a buffer and a recording
// observer.
func debugEnv(t *testing.T, mod func(*Server)) (*env, *syncBuffer, *recordingObserver) {
	t.Helper()
	logs := &syncBuffer{}
	rec := &recordingObserver{}
	e := newEnv(t, func(s *Server) {
		s.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s.Observer = rec
		if mod != nil {
			mod(s)
		}
	})
	return e, logs, rec
}

// waitEvent waits for an observed operation that matches.
func waitEvent(t *testing.T, rec *recordingObserver, match func(OpEvent) bool) OpEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		evs, _, _ := rec.snapshot()
		for _, ev := range evs {
			if match(ev) {
				return ev
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no matching operation observed")
	return OpEvent{}
}

// TestHungUpBindIsOneDebugLine: a bind held by the busy backoff, and one
// waiting in its backend (as for a hashing worker), whose clients hang
// up, are cancelled at once and logged once, at Debug, with hung_up=true:
// never an ERROR, never code 80; the observer sees NoResult.
func TestHungUpBindIsOneDebugLine(t *testing.T) {
	for _, how := range []string{"busy backoff", "waiting backend"} {
		t.Run(how, func(t *testing.T) {
			toggle := &busyToggle{}
			waiting := &waitingBackend{started: make(chan struct{}, 1)}
			e, logs, rec := debugEnv(t, func(s *Server) {
				d := s.Routes()
				if how == "busy backoff" {
					s.BusyBackoff = time.Hour
					toggle.fakeBackend = d.List[0].Backend.(*fakeBackend)
					d.List[0].Backend = toggle
				} else {
					waiting.fakeBackend = d.List[0].Backend.(*fakeBackend)
					d.List[0].Backend = waiting
				}
			})
			r := dialRaw(t, e.addr)
			if how == "busy backoff" {
				toggle.busy.Store(true)
				r.send(rawBind(1, "CU1234567", "right-pin-123"))
				if p := r.read(); resultCode(p) != ldap.LDAPResultBusy {
					t.Fatalf("first bind: %d, want 51", resultCode(p))
				}
				toggle.busy.Store(false)
				r.send(rawBind(2, "CU1234567", "right-pin-123")) // held for an hour
			} else {
				r.send(rawBind(2, "CU1234567", "right-pin-123"))
				<-waiting.started
			}
			time.Sleep(2 * watchAfter)
			r.nc.Close()
			ev := waitEvent(t, rec, func(ev OpEvent) bool { return ev.Op == "bind" && ev.Code == NoResult })
			if how == "waiting backend" && ev.ID != "CU1234567" {
				t.Errorf("event %+v", ev)
			}
			var lines []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "msgid=2 ") {
					lines = append(lines, l)
				}
				if strings.Contains(l, "level=ERROR") || strings.Contains(l, "code=80") {
					t.Errorf("error line for a hung-up bind: %s", l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], "level=DEBUG") || !strings.Contains(lines[0], "hung_up=true") {
				t.Fatalf("log lines of the hung-up bind: %q, want one Debug line with hung_up=true", lines)
			}
		})
	}
}

// slowBackend answers after a pause.
type slowBackend struct {
	*fakeBackend
	pause time.Duration
}

func (b *slowBackend) Authenticate(ctx context.Context, c backend.Credentials) (backend.Result, bool, error) {
	time.Sleep(b.pause)
	return b.fakeBackend.Authenticate(ctx, c)
}

// TestWatchedBindThenNextRequest: a bind that runs past watchAfter is
// watched; requests the client pipelined meanwhile are read after it, in
// order, and nothing is lost.
func TestWatchedBindThenNextRequest(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		d := s.Routes()
		d.List[0].Backend = &slowBackend{fakeBackend: d.List[0].Backend.(*fakeBackend), pause: 5 * watchAfter}
	})
	r := dialRaw(t, e.addr)
	for round := int64(0); round < 3; round++ {
		r.send(rawBind(1+2*round, "CU1234567", "right-pin-123"))
		time.Sleep(2 * watchAfter) // the watch is peeking now
		r.send(rawWhoAmI(2 + 2*round))
		if p := r.read(); msgID(p) != 1+2*round || resultCode(p) != 0 {
			t.Fatalf("bind: id %d code %d", msgID(p), resultCode(p))
		}
		if p := r.read(); msgID(p) != 2+2*round {
			t.Fatalf("pipelined whoami: got id %d", msgID(p))
		}
	}
}

// TestShutdownAnswersHeldBinds: a bind held by the busy backoff for an
// hour is answered 52 "server is shutting down" as soon as Shutdown
// begins, then the connection gets its notice; Shutdown does not wait
// for its deadline.
func TestShutdownAnswersHeldBinds(t *testing.T) {
	toggle := &busyToggle{}
	e := newEnv(t, func(s *Server) {
		s.BusyBackoff = time.Hour
		d := s.Routes()
		toggle.fakeBackend = d.List[0].Backend.(*fakeBackend)
		d.List[0].Backend = toggle
	})
	r := dialRaw(t, e.addr)
	toggle.busy.Store(true)
	r.send(rawBind(1, "CU1234567", "right-pin-123"))
	r.read()
	toggle.busy.Store(false)
	r.send(rawBind(2, "CU1234567", "right-pin-123"))
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(ctx) }()
	p := r.read()
	if msgID(p) != 2 || resultCode(p) != ldap.LDAPResultUnavailable || !strings.Contains(p.Children[1].Children[2].Data.String(), textShutdown) {
		t.Fatalf("held bind at shutdown: id %d code %d, want 52 %q", msgID(p), resultCode(p), textShutdown)
	}
	if code := r.expectClosed(); code != ldap.LDAPResultUnavailable {
		t.Fatalf("notice %d, want 52", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v, want nil (nothing left to wait for)", err)
	}
}

// TestNameWithoutRouteIsNotLogged: a name no route takes (a PIN typed
// into the name field) and a DN that does not parse are never logged or
// reported as typed: only their length and route=none.
func TestNameWithoutRouteIsNotLogged(t *testing.T) {
	e, logs, rec := debugEnv(t, nil)
	c := e.dial()
	const pin = "Secret-PIN-2026"
	for _, name := range []string{pin, "uid=" + pin + "\\zz,ou=people," + testSuffix} {
		if err := c.Bind(name, "whatever-123"); code(err) != ldap.LDAPResultInvalidCredentials {
			t.Fatalf("bind as %q: %v, want 49", name, err)
		}
	}
	for _, n := range []int{len(pin), len(pin) + 7 + len(",ou=people,") + len(testSuffix)} {
		ev := waitEvent(t, rec, func(ev OpEvent) bool { return ev.Op == "bind" && ev.NameLen == n })
		if ev.ID != "" || strings.Contains(fmt.Sprint(ev), "Secret") {
			t.Errorf("event of a name without a route: %+v", ev)
		}
	}
	out := logs.String()
	if strings.Contains(out, "Secret") {
		t.Fatalf("the typed name reached the log:\n%s", out)
	}
	if !strings.Contains(out, fmt.Sprintf("route=none name_len=%d", len(pin))) {
		t.Fatalf("no route=none name_len line:\n%s", out)
	}
}
