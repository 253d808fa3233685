package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/version"
	"github.com/bindery/bindery/proxy"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

func TestOpEventsBecomeMetricsWithoutLoginIDs(t *testing.T) {
	m := New()
	m.ConnOpened()
	m.ConnOpened()
	m.ConnClosed()
	m.ConnRejected("max_connections")
	m.OpDone(proxy.OpEvent{Op: "bind", Code: 0, Kind: "person", ID: "CU1234567", Route: "julac", Backend: "pins", Duration: 3 * time.Millisecond})
	m.OpDone(proxy.OpEvent{Op: "bind", Code: 49, Kind: "person", ID: "CU7654321", Route: "julac", Backend: "pins", Reason: backend.ReasonBadCredentials})
	m.OpDone(proxy.OpEvent{Op: "bind", Code: 52, Kind: "person", ID: "jchan", Route: "campus", Backend: "campus"})
	m.OpDone(proxy.OpEvent{Op: "bind", Code: 0, Kind: "service", ID: "ils"})
	m.OpDone(proxy.OpEvent{Op: "search", Code: 0})
	m.OpDone(proxy.OpEvent{Op: "bind", Code: proxy.NoResult, Kind: "person", ID: "CU1234567", Route: "julac", Backend: "pins"})
	m.OpDone(proxy.OpEvent{Op: "staff_login", Code: 0, Kind: "person", ID: "jwong", Route: "campus", Backend: "campus"})
	m.StaffAction("unlock", "ok")
	m.StaffAction("unlock", "ok")
	m.StaffAction("reset", "denied")
	out := scrape(t, m.Handler(nil))
	for _, want := range []string{
		`bindery_staff_actions_total{action="unlock",result="ok"} 2`,
		`bindery_staff_actions_total{action="reset",result="denied"} 1`,
		`bindery_requests_total{op="staff_login",result="success"} 1`,
		`bindery_binds_total{backend="pins",result="success",route="julac"} 1`,
		`bindery_binds_total{backend="pins",result="invalid_credentials",route="julac"} 1`,
		`bindery_binds_total{backend="campus",result="unavailable",route="campus"} 1`,
		`bindery_binds_total{backend="pins",result="hung_up",route="julac"} 1`, // not "unavailable": no false alert
		`bindery_binds_total{backend="service_accounts",result="success",route="service"} 1`,
		`bindery_requests_total{op="search",result="success"} 1`,
		`bindery_requests_total{op="bind",result="success"} 2`,
		`bindery_connections_open 1`,
		`bindery_connections_rejected_total{reason="max_connections"} 1`,
		`bindery_bind_duration_seconds_count{backend="pins"} 3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, id := range []string{"CU1234567", "CU7654321", "jchan", "ils"} {
		if strings.Contains(out, id) {
			t.Errorf("a label carries the login ID %s", id)
		}
	}
}

func TestGaugeFunc(t *testing.T) {
	m := New()
	n := 0.0
	m.GaugeFunc("cache_entries", "entries", map[string]string{"backend": "pins"}, func() float64 { return n })
	n = 42
	if out := scrape(t, m.Handler(nil)); !strings.Contains(out, `bindery_cache_entries{backend="pins"} 42`) {
		t.Fatalf("gauge func not read at scrape time:\n%s", out)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	m := New()
	ok := true
	h := m.Handler(func(ctx context.Context) []Check {
		return []Check{{Name: "listener", OK: true}, {Name: "upstream campus ldap://x", OK: ok, Detail: "dial refused"}}
	})
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("/readyz ready: %d %s", code, body)
	}
	ok = false
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "dial refused") {
		t.Fatalf("/readyz not ready: %d %s", code, body)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/metrics", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /metrics: %d, want 405", rec.Code)
	}
}

func TestBuildInfo(t *testing.T) {
	bi := version.Get()
	want := `bindery_build_info{commit="` + bi.Commit + `",goversion="` + bi.GoVersion + `",version="` + bi.Version + `"} 1`
	if out := scrape(t, New().Handler(nil)); !strings.Contains(out, want) {
		t.Fatalf("metrics lack %s", want)
	}
}
