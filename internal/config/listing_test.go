package config

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestListingKeys(t *testing.T) {
	sa := func(extra string) string {
		return strings.Replace(base, "can_search = true", "can_search = true\n"+extra, 1)
	}
	tests := []struct {
		name string
		toml string
		want []string // empty: valid
	}{
		{"valid", strings.Replace(sa("can_list = true\nattributes = [\"cn\", \"mail\", \"entryUUID\"]"), "[server]", "[server]\nsize_limit = 100\ntime_limit = \"5s\"", 1), nil},
		{"can_list without can_search", strings.Replace(sa("can_list = true"), "can_search = true", "can_search = false", 1), []string{"service_account[0].can_list: needs can_search"}},
		{"bad attribute", sa(`attributes = ["cn", "(mail)"]`), []string{"service_account[0].attributes[1]:"}},
		{"negative size limit", strings.Replace(base, "[server]", "[server]\nsize_limit = -1", 1), []string{"server.size_limit:"}},
		{"bad time limit", strings.Replace(base, "[server]", "[server]\ntime_limit = \"soon\"", 1), []string{"server.time_limit:"}},
		{"zero time limit", strings.Replace(base, "[server]", "[server]\ntime_limit = \"0s\"", 1), []string{"server.time_limit:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var p Problems
			if !errors.As(err, &p) {
				t.Fatalf("got %v, want problems", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBuildListingKeys(t *testing.T) {
	toml := strings.Replace(strings.Replace(base, "can_search = true", "can_search = true\ncan_list = true\nattributes = [\"cn\"]", 1),
		"[server]", "[server]\nsize_limit = 100\ntime_limit = \"5s\"", 1)
	toml = strings.Replace(toml, `dsn = "/tmp/x.db"`, `dsn = "`+filepath.Join(t.TempDir(), "pins.db")+`"`, 1)
	cfg, err := Parse([]byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Build(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if rt.Server.SizeLimit != 100 || rt.Server.TimeLimit != 5*time.Second {
		t.Errorf("limits %d %v", rt.Server.SizeLimit, rt.Server.TimeLimit)
	}
	a := rt.Routes.ServiceAccounts[0]
	if !a.CanList || len(a.Attributes) != 1 || a.Attributes[0] != "cn" {
		t.Errorf("account %+v", a)
	}
}
