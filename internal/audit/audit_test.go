package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/proxy"
)

func ev(id string, code int) proxy.OpEvent {
	return proxy.OpEvent{Time: time.Now(), Op: "bind", Code: code, Client: "10.0.0.7:4242", Service: "ezproxy",
		Kind: "person", ID: id, Route: "julac", Backend: "pins", Reason: backend.ReasonBadCredentials, Cached: true, Duration: 1500 * time.Microsecond}
}

func TestLinesAreJSONWithEveryField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := New(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	l.OpDone(ev("CU1234567", 49))
	l.OpDone(proxy.OpEvent{Op: "search", Code: 0}) // not audited
	staff := ev("jwong", 0)
	staff.Op, staff.Route, staff.Backend = "staff_login", "campus", "campus"
	l.OpDone(staff)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"op":"staff_login"`) || !strings.Contains(lines[1], `"id":"jwong"`) {
		t.Fatalf("want a bind line and a staff_login line, got %d: %q", len(lines), data)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"client": "10.0.0.7:4242", "service": "ezproxy", "id": "CU1234567", "route": "julac",
		"backend": "pins", "result": "failure", "reason": "bad_credentials", "cached": true, "code": 49.0, "duration_ms": 1.5} {
		if r[k] != want {
			t.Errorf("%s = %v, want %v", k, r[k], want)
		}
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestRotationKeepsMaxFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := New(Options{Path: path, MaxBytes: 2000, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		l.OpDone(ev("CU1234567", 0))
	}
	l.Close()
	for _, p := range []string{path, path + ".1", path + ".2"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s missing: %v", p, err)
		}
		if st.Size() > 2000 {
			t.Fatalf("%s is %d bytes, over the limit", p, st.Size())
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Fatalf("more than MaxFiles rotated files kept")
	}
	// Every line in the kept files is whole JSON.
	for _, p := range []string{path, path + ".1"} {
		f, _ := os.Open(p)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if !json.Valid(sc.Bytes()) {
				t.Fatalf("%s has a broken line %q", p, sc.Text())
			}
		}
		f.Close()
	}
}

// blockingWriter never returns until released, like a stuck disk.
type blockingWriter struct{ release chan struct{} }

func (b blockingWriter) Write(p []byte) (int, error) { <-b.release; return len(p), nil }

func TestFullQueueDropsAndCountsInsteadOfBlocking(t *testing.T) {
	bw := blockingWriter{release: make(chan struct{})}
	l, err := New(Options{Path: "-", Stdout: bw, Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for i := 0; i < 5000; i++ {
			l.OpDone(ev("CU1234567", 0)) // must never block
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("OpDone blocked on a stuck writer")
	}
	if l.Dropped() == 0 {
		t.Fatal("nothing counted as dropped")
	}
	close(bw.release)
	l.Close()
}

// TestNameWithoutRouteAndHangUp: a name that matched no route is audited
// by its length with route "none", never as typed; a bind whose client
// hung up is "hung_up" with code -1, not a success.
func TestNameWithoutRouteAndHangUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := New(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	l.OpDone(proxy.OpEvent{Time: time.Now(), Op: "bind", Code: 49, Kind: "person", NameLen: 14, Reason: backend.ReasonNoRoute})
	l.OpDone(proxy.OpEvent{Time: time.Now(), Op: "bind", Code: proxy.NoResult, Kind: "person", ID: "CU1234567", Route: "julac"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var a, b map[string]any
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &a) != nil || json.Unmarshal([]byte(lines[1]), &b) != nil {
		t.Fatalf("lines: %q", data)
	}
	if a["name_len"] != 14.0 || a["route"] != "none" || a["id"] != nil {
		t.Errorf("no-route line: %v", a)
	}
	if b["result"] != "hung_up" || b["code"] != -1.0 {
		t.Errorf("hung-up line: %v", b)
	}
}
