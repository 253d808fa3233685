package cache_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/cache"
	ldapbackend "github.com/bindery/bindery/backend/ldap"
	"github.com/bindery/bindery/internal/slapdtest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestServeStaleWithSlapdStopped: a real upstream directory stops; a
// success cached 10 minutes ago (past ttl, within serve_stale_for) still
// binds, a wrong password and an uncached user get ErrUnavailable (52),
// and without serve_stale_for the cached user gets 52 too.
func TestServeStaleWithSlapdStopped(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{LDIF: slapdtest.PeopleLDIF([]slapdtest.User{
		{UID: "jchan", CN: "Jackie Chan", SN: "Chan", Password: "campus-pw-1"},
		{UID: "wlee", CN: "Wing Lee", SN: "Lee", Password: "campus-pw-2"},
	})})
	up, err := ldapbackend.New(ldapbackend.Config{URLs: []string{s.URL()}, BaseDN: slapdtest.BaseDN, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	clk := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	stale := cache.New("campus", up, cache.Options{TTL: 5 * time.Minute, ServeStaleFor: 8 * time.Hour, Now: clk.Now})
	fresh := cache.New("campus", up, cache.Options{TTL: 5 * time.Minute, Now: clk.Now})
	ctx := context.Background()
	jchan := backend.Credentials{ID: "jchan", Password: "campus-pw-1"}
	for _, c := range []*cache.Cache{stale, fresh} {
		if _, ok, err := c.Authenticate(ctx, jchan); !ok || err != nil {
			t.Fatalf("bind with slapd up: ok=%v err=%v", ok, err)
		}
	}
	clk.Advance(10 * time.Minute)
	s.Stop()

	tests := []struct {
		name    string
		c       *cache.Cache
		cr      backend.Credentials
		wantOK  bool
		wantErr error
	}{
		{"cached success, serve stale", stale, jchan, true, nil},
		{"wrong password", stale, backend.Credentials{ID: "jchan", Password: "guess"}, false, backend.ErrUnavailable},
		{"never cached", stale, backend.Credentials{ID: "wlee", Password: "campus-pw-2"}, false, backend.ErrUnavailable},
		{"cached success, serve stale off", fresh, jchan, false, backend.ErrUnavailable},
	}
	for _, tc := range tests {
		res, ok, err := tc.c.Authenticate(ctx, tc.cr)
		if ok != tc.wantOK || (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
			t.Errorf("%s: ok=%v err=%v, want ok=%v err=%v", tc.name, ok, err, tc.wantOK, tc.wantErr)
		}
		if ok && !res.Cached {
			t.Errorf("%s: stale success not marked Cached", tc.name)
		}
	}
	if st := stale.Stats(); st.StaleHits != 1 {
		t.Errorf("StaleHits = %d, want 1", st.StaleHits)
	}
}
