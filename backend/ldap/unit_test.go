package ldapbackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/go-ldap/ldap/v3"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := Config{URLs: []string{"ldap://dir.example.edu"}, BaseDN: "dc=example,dc=edu"}
	with := func(f func(*Config)) Config {
		c := base
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // substrings; nil: valid
	}{
		{"minimal", base, nil},
		{"dn template without base", Config{URLs: []string{"ldaps://h"}, DNTemplate: "uid={id},dc=x"}, nil},
		{"no urls", with(func(c *Config) { c.URLs = nil }), []string{"urls: at least one"}},
		{"bad scheme", with(func(c *Config) { c.URLs = []string{"http://h"} }), []string{"scheme must be ldap or ldaps"}},
		{"path in url", with(func(c *Config) { c.URLs = []string{"ldap://h/dc=x?uid"} }), []string{"only scheme://host"}},
		{"no host", with(func(c *Config) { c.URLs = []string{"ldap://"} }), []string{"no host"}},
		{"starttls with ldaps", with(func(c *Config) { c.URLs = []string{"ldaps://h"}; c.StartTLS = true }), []string{"start_tls"}},
		{"no base", with(func(c *Config) { c.BaseDN = "" }), []string{"base_dn: required"}},
		{"bad base", with(func(c *Config) { c.BaseDN = "not a dn" }), []string{"base_dn"}},
		{"bind dn without password", with(func(c *Config) { c.BindDN = "cn=svc,dc=x" }), []string{"bind_password: required"}},
		{"password without bind dn", with(func(c *Config) { c.BindPassword = "x" }), []string{"bind_password: set without bind_dn"}},
		{"filter without placeholder", with(func(c *Config) { c.UserFilter = "(uid=x)" }), []string{"user_filter: must contain"}},
		{"filter unbalanced", with(func(c *Config) { c.UserFilter = "(&(uid={id})" }), []string{"user_filter"}},
		{"template without placeholder", with(func(c *Config) { c.DNTemplate = "uid=x,dc=x" }), []string{"dn_template: must contain"}},
		{"negative timeout", with(func(c *Config) { c.Timeout = -time.Second }), []string{"timeout"}},
		{"negative pool", with(func(c *Config) { c.PoolSize = -1 }), []string{"pool_size"}},
		{"missing ca file", with(func(c *Config) { c.CAFile = filepath.Join(dir, "nope.pem") }), []string{"ca_file"}},
		{"ca file without certs", with(func(c *Config) { c.CAFile = notPEM }), []string{"no PEM certificate"}},
		{"reserved attribute", with(func(c *Config) { c.Attributes = map[string]string{"UID": "sAMAccountName"} }), []string{`"UID" is filled by bindery`}},
		{"every problem at once", Config{URLs: []string{"ftp://h"}, PoolSize: -3, BindPassword: "p"},
			[]string{"urls[0]:", "pool_size", "bind_password", "base_dn"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.cfg)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_ = b.Close()
				return
			}
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s, err := validate(Config{URLs: []string{"ldap://h"}, BaseDN: "dc=x"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "ldap" || s.Timeout != DefaultTimeout || s.PoolSize != DefaultPoolSize ||
		s.UserFilter != "(uid={id})" || s.UUIDAttribute != "entryUUID" || len(s.attrs) != 6 {
		t.Fatalf("defaults = %+v", s)
	}
	if s.upstreams[0].hostport != "h:389" || s.upstreams[0].tls.ServerName != "h" {
		t.Fatalf("upstream = %+v", s.upstreams[0])
	}
	s, err = validate(Config{URLs: []string{"ldaps://[::1]"}, BaseDN: "dc=x", IDAttribute: "sAMAccountName"})
	if err != nil {
		t.Fatal(err)
	}
	if s.UserFilter != "(sAMAccountName={id})" || s.upstreams[0].hostport != "[::1]:636" {
		t.Fatalf("got filter %q hostport %q", s.UserFilter, s.upstreams[0].hostport)
	}
}

func TestFilterEscaping(t *testing.T) {
	t.Parallel()
	b, err := New(Config{URLs: []string{"ldap://h"}, BaseDN: "dc=x", UserFilter: "(&(objectClass=person)(uid={id}))",
		DNTemplate: ""})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"jchan":          "(&(objectClass=person)(uid=jchan))",
		"*":              `(&(objectClass=person)(uid=\2a))`,
		"x)(uid=*":       `(&(objectClass=person)(uid=x\29\28uid=\2a))`,
		"jchan)(|(uid=*": `(&(objectClass=person)(uid=jchan\29\28|\28uid=\2a))`,
		`a\b`:            `(&(objectClass=person)(uid=a\5cb))`,
		"{id}":           "(&(objectClass=person)(uid={id}))", // replaced once, not re-expanded
	}
	for id, want := range tests {
		got := b.filterFor(id)
		if got != want {
			t.Errorf("filterFor(%q) = %q, want %q", id, got, want)
		}
		if _, err := ldap.CompileFilter(got); err != nil {
			t.Errorf("filterFor(%q) does not compile: %v", id, err)
		}
	}
	b.s.DNTemplate = "uid={id},ou=people,dc=x"
	if got := b.userDN("a,b+c"); got != `uid=a\,b\+c,ou=people,dc=x` {
		t.Errorf("userDN = %q", got)
	}
}

func TestBindOutcome(t *testing.T) {
	t.Parallel()
	ldapErr := func(code uint16, msg string) error { return ldap.NewError(code, errors.New(msg)) }
	tests := []struct {
		name        string
		err         error
		wantReason  backend.Reason
		wantRefused bool
		wantUnavail bool
		wantBusy    bool
	}{
		{"success", nil, "", false, false, false},
		{"49", ldapErr(49, ""), backend.ReasonBadCredentials, true, false, false},
		{"49 AD 52e", ldapErr(49, "80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 52e, v893"), backend.ReasonBadCredentials, true, false, false},
		{"49 AD 775", ldapErr(49, "... AcceptSecurityContext error, data 775, v4563"), backend.ReasonLocked, true, false, false},
		{"49 AD 533", ldapErr(49, "data 533, v"), backend.ReasonSuspended, true, false, false},
		{"49 AD 532", ldapErr(49, "data 532, v"), backend.ReasonExpired, true, false, false},
		{"49 AD 773", ldapErr(49, "data 773, v"), backend.ReasonExpired, true, false, false},
		{"49 AD 525", ldapErr(49, "data 525, v"), backend.ReasonUnknownUser, true, false, false},
		{"49 AD unknown code", ldapErr(49, "data 999, v"), backend.ReasonBadCredentials, true, false, false},
		{"53", ldapErr(53, "account disabled"), backend.ReasonSuspended, true, false, false},
		{"50", ldapErr(50, ""), backend.ReasonSuspended, true, false, false},
		{"32", ldapErr(32, ""), backend.ReasonUnknownUser, true, false, false},
		{"51 busy", ldapErr(51, ""), "", false, true, true},
		{"52 unavailable", ldapErr(52, ""), "", false, true, false},
		{"80 other", ldapErr(80, ""), "", false, true, false},
		{"13 confidentiality", ldapErr(13, ""), "", false, true, false},
		{"network", ldapErr(ldap.ErrorNetwork, "connection closed"), "", false, true, false},
		{"timeout", ldapErr(ldap.LDAPResultTimeout, ""), "", false, true, false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), "", false, true, false},
		{"plain error", errors.New("boom"), "", false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason, refused, err := bindOutcome(tc.err)
			if reason != tc.wantReason || refused != tc.wantRefused {
				t.Fatalf("reason=%q refused=%v, want %q %v", reason, refused, tc.wantReason, tc.wantRefused)
			}
			if got := errors.Is(err, backend.ErrUnavailable); got != tc.wantUnavail {
				t.Fatalf("err = %v, unavailable=%v want %v", err, got, tc.wantUnavail)
			}
			if got := errors.Is(err, backend.ErrBusy); got != tc.wantBusy {
				t.Fatalf("err = %v, busy=%v want %v", err, got, tc.wantBusy)
			}
			if refused && err != nil {
				t.Fatal("refused with an error")
			}
		})
	}
}

func TestFailoverOrder(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	f := newFailover([]string{"a", "b", "c"}, 30*time.Second)
	f.now = func() time.Time { return now }
	check := func(want ...int) {
		t.Helper()
		got := f.order()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("order = %v, want %v", got, want)
		}
	}
	check(0, 1, 2)
	f.down(0, errors.New("refused"))
	f.up(2)
	check(2, 0, 1)
	now = now.Add(10 * time.Second)
	check(2, 0, 1)
	now = now.Add(25 * time.Second)
	check(0, 1, 2) // primary retried once...
	check(2, 0, 1) // ...then the working URL again until the next period
	if !f.primaryDue(2, now.Add(-31*time.Second)) || f.primaryDue(2, now) || f.primaryDue(0, now.Add(-time.Hour)) {
		t.Fatal("primaryDue wrong")
	}
	f.up(0)
	check(0, 1, 2)
	st := f.snapshot()
	if !st[0].Up || st[0].LastError != "" || st[1].Up || st[1].LastError == "" || !st[2].Up {
		t.Fatalf("states = %+v", st)
	}
}

func TestFormatUUID(t *testing.T) {
	t.Parallel()
	guid := []byte{0x78, 0x56, 0x34, 0x12, 0x34, 0x12, 0x78, 0x56, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}
	tests := []struct {
		attr string
		raw  []byte
		want string
	}{
		{"entryUUID", []byte("0F8A4A2C-1B7E-103F-8C4D-5B2E1F0A9D11"), "0f8a4a2c-1b7e-103f-8c4d-5b2e1f0a9d11"},
		{"objectGUID", guid, "12345678-1234-5678-1234-56789abcdef0"},
		{"nsUniqueBinary", guid, "78563412-3412-7856-1234-56789abcdef0"},
		{"entryUUID", []byte("garbage"), ""},
		{"entryUUID", nil, ""},
	}
	for _, tc := range tests {
		if got := formatUUID(tc.attr, tc.raw); got != tc.want {
			t.Errorf("formatUUID(%s, %x) = %q, want %q", tc.attr, tc.raw, got, tc.want)
		}
	}
	if a, b := fallbackUUID("campus", "jchan"), fallbackUUID("campus", "jchan"); a != b || a == fallbackUUID("campus", "jchan2") {
		t.Fatal("fallbackUUID not deterministic or not distinct")
	}
}

func TestParseGeneralizedTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 1, 31, 12, 0, 5, 0, time.UTC)
	for _, s := range []string{"20240131120005Z", "20240131120005.0Z"} {
		if got := parseGeneralizedTime(s); !got.Equal(want) {
			t.Errorf("%s → %v", s, got)
		}
	}
	if !parseGeneralizedTime("nope").IsZero() {
		t.Error("garbage parsed")
	}
}

// countingHungListener accepts and never answers; it counts connections.
func countingHungListener(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
			close(done)
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return "ldap://" + l.Addr().String(), &n
}

func TestHungUpstream(t *testing.T) {
	t.Parallel()
	url, _ := countingHungListener(t)
	const timeout = time.Second
	tests := map[string]Config{
		"anonymous":   {URLs: []string{url}, BaseDN: "dc=x", Timeout: timeout},
		"service":     {URLs: []string{url}, BaseDN: "dc=x", Timeout: timeout, BindDN: "cn=svc,dc=x", BindPassword: "p"},
		"dn template": {URLs: []string{url}, DNTemplate: "uid={id},dc=x", Timeout: timeout},
		"starttls":    {URLs: []string{url}, BaseDN: "dc=x", Timeout: timeout, StartTLS: true},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			calls := map[string]func(ctx context.Context) error{
				"authenticate": func(ctx context.Context) error {
					_, ok, err := b.Authenticate(ctx, backend.Credentials{ID: "jchan", Password: "pw"})
					if ok {
						return errors.New("ok from a hung upstream")
					}
					return err
				},
				"lookup": func(ctx context.Context) error { _, err := b.Lookup(ctx, "jchan"); return err },
				"ping":   func(ctx context.Context) error { return b.Ping(ctx) },
			}
			for name, call := range calls {
				start := time.Now()
				err := call(context.Background())
				if !errors.Is(err, backend.ErrUnavailable) {
					t.Errorf("%s: err = %v, want ErrUnavailable", name, err)
				}
				// No tight timing: it must return, well before a hang.
				if d := time.Since(start); d > 3*timeout {
					t.Errorf("%s: took %v with timeout %v", name, d, timeout)
				}
			}
			// A cancelled context ends the call too.
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			start := time.Now()
			if err := calls["authenticate"](ctx); !errors.Is(err, backend.ErrUnavailable) {
				t.Errorf("cancelled: err = %v", err)
			}
			if d := time.Since(start); d > 3*timeout {
				t.Errorf("cancelled: took %v", d)
			}
			cancel()
		})
	}
}

func TestDeadUpstream(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	b, err := New(Config{URLs: []string{"ldap://127.0.0.1:" + strconv.Itoa(port)}, BaseDN: "dc=x", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, ok, err := b.Authenticate(context.Background(), backend.Credentials{ID: "jchan", Password: "pw"})
	if ok || !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if st := b.State(); st[0].Up || !strings.Contains(st[0].LastError, "refused") {
		t.Fatalf("State = %+v", st)
	}
}

// TestEmptyPasswordNeverSent: an empty password is refused without any
// connection to the upstream (which here would hang, giving an error).
func TestEmptyPasswordNeverSent(t *testing.T) {
	t.Parallel()
	url, accepted := countingHungListener(t)
	for _, cfg := range []Config{
		{URLs: []string{url}, BaseDN: "dc=x"},
		{URLs: []string{url}, DNTemplate: "uid={id},dc=x"},
	} {
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		res, ok, err := b.Authenticate(context.Background(), backend.Credentials{ID: "jchan", Password: ""})
		if ok || err != nil || res.Reason != backend.ReasonBadCredentials {
			t.Fatalf("ok=%v err=%v reason=%q", ok, err, res.Reason)
		}
		_ = b.Close()
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d connections made for an empty password", n)
	}
}

func TestClosedBackend(t *testing.T) {
	t.Parallel()
	url, _ := countingHungListener(t)
	b, err := New(Config{URLs: []string{url}, BaseDN: "dc=x", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	_, ok, err := b.Authenticate(context.Background(), backend.Credentials{ID: "jchan", Password: "pw"})
	if ok || !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("after Close: ok=%v err=%v", ok, err)
	}
}
