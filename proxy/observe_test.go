package proxy

import (
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

type recordingObserver struct {
	mu             sync.Mutex
	events         []OpEvent
	opened, closed int
	rejected       []string
}

func (r *recordingObserver) OpDone(ev OpEvent) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}
func (r *recordingObserver) ConnOpened() { r.mu.Lock(); r.opened++; r.mu.Unlock() }
func (r *recordingObserver) ConnClosed() { r.mu.Lock(); r.closed++; r.mu.Unlock() }
func (r *recordingObserver) ConnRejected(s string) {
	r.mu.Lock()
	r.rejected = append(r.rejected, s)
	r.mu.Unlock()
}

func (r *recordingObserver) snapshot() ([]OpEvent, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]OpEvent(nil), r.events...), r.opened, r.closed
}

// TestObserverSeesBindsWithTheirService: the search-then-bind flow reports
// the service account the connection was bound as, the route and backend
// of the person bind, and its result; connections are counted open and
// closed.
func TestObserverSeesBindsWithTheirService(t *testing.T) {
	rec := &recordingObserver{}
	e := newEnv(t, func(s *Server) { s.Observer = Observers{rec} })
	c := e.dial()
	if err := c.Bind(serviceDN("ils"), "ils-secret"); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(personDN("cu1234567"), "wrong"); code(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("wrong PIN: %v", err)
	}
	if err := c.Bind(personDN("CU1234567"), "right-pin-123"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var evs []OpEvent
	var opened, closed int
	for i := 0; i < 200; i++ {
		evs, opened, closed = rec.snapshot()
		if len(evs) >= 3 && closed == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(evs) != 3 || opened != 1 || closed != 1 {
		t.Fatalf("events %d, opened %d, closed %d", len(evs), opened, closed)
	}
	if ev := evs[0]; ev.Kind != "service" || ev.ID != "ils" || ev.Code != 0 {
		t.Fatalf("service bind event %+v", ev)
	}
	if ev := evs[1]; ev.Kind != "person" || ev.ID != "CU1234567" || ev.Service != "ils" || ev.Code != 49 || ev.Route == "" || ev.Backend == "" {
		t.Fatalf("failed person bind event %+v", ev)
	}
	// The failed bind left the connection anonymous: no service any more.
	if ev := evs[2]; ev.Service != "" || ev.Code != 0 {
		t.Fatalf("person bind after a failed one %+v", ev)
	}
}
