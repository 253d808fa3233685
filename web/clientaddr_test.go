package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name   string
		remote string
		hdr    map[string][]string
		want   string
	}{
		{"no proxy, header ignored", "198.51.100.4:5000", map[string][]string{"X-Forwarded-For": {"192.0.2.1"}}, "198.51.100.4:5000"},
		{"trusted proxy without header", "10.0.0.5:5000", nil, "10.0.0.5:5000"},
		{"one hop", "10.0.0.5:5000", map[string][]string{"X-Forwarded-For": {"192.0.2.1"}}, "192.0.2.1:0"},
		{"spoofed left part is skipped", "10.0.0.5:5000", map[string][]string{"X-Forwarded-For": {"6.6.6.6, 192.0.2.1"}}, "192.0.2.1:0"},
		{"two trusted proxies", "10.0.0.5:5000", map[string][]string{"X-Forwarded-For": {"192.0.2.1, 10.1.1.1"}}, "192.0.2.1:0"},
		{"several header lines", "10.0.0.5:5000", map[string][]string{"X-Forwarded-For": {"6.6.6.6", "192.0.2.1, 10.1.1.1"}}, "192.0.2.1:0"},
		{"all trusted: the leftmost", "10.0.0.5:5000", map[string][]string{"X-Forwarded-For": {"10.9.9.9, 10.1.1.1"}}, "10.9.9.9:0"},
		{"garbage stops at the last trusted", "10.0.0.5:5000", map[string][]string{"X-Forwarded-For": {"192.0.2.1, nonsense, 10.1.1.1"}}, "10.1.1.1:0"},
		{"garbage right of the proxy", "10.0.0.5:5000", map[string][]string{"X-Forwarded-For": {"nonsense"}}, "10.0.0.5:5000"},
		{"Forwarded wins", "10.0.0.5:5000", map[string][]string{"Forwarded": {`for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711"`}, "X-Forwarded-For": {"6.6.6.6"}}, "[2001:db8:cafe::17]:4711"},
		{"Forwarded unknown", "10.0.0.5:5000", map[string][]string{"Forwarded": {"for=unknown"}}, "10.0.0.5:5000"},
		{"Forwarded without for", "10.0.0.5:5000", map[string][]string{"Forwarded": {"for=192.0.2.9, proto=https"}}, "10.0.0.5:5000"},
		{"IPv6 proxy", "[::1]:5000", map[string][]string{"X-Forwarded-For": {"2001:db8::5"}}, "[2001:db8::5]:0"},
		{"mapped address", "[::ffff:10.0.0.5]:5000", map[string][]string{"X-Forwarded-For": {"192.0.2.1"}}, "192.0.2.1:0"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/pin/setup", nil)
		r.RemoteAddr = tc.remote
		for k, vs := range tc.hdr {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
		if got := ClientAddr(r, trusted); got != tc.want {
			t.Errorf("%s: ClientAddr = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRealClientRewritesRemoteAddr(t *testing.T) {
	var seen string
	h := RealClient([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.RemoteAddr
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:999"
	r.Header.Set("X-Forwarded-For", "192.0.2.44")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if seen != "192.0.2.44:0" {
		t.Fatalf("handler saw %q", seen)
	}
	if addrKey(seen) != "192.0.2.44" {
		t.Fatalf("throttle key %q", addrKey(seen))
	}
}
