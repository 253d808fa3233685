package config

import (
	"strings"
	"testing"
	"time"
)

func TestWebSection(t *testing.T) {
	tests := []struct {
		name   string
		extra  string
		want   []string // problems; none = valid
		listen string
		ttl    time.Duration
	}{
		{name: "off by default", ttl: DefaultSetupCodeTTL},
		{name: "shares the http listener", extra: "[http]\nlisten = \"127.0.0.1:9389\"\n[web]\nenabled = true\n",
			listen: "127.0.0.1:9389", ttl: DefaultSetupCodeTTL},
		{name: "own listener and ttl", extra: "[web]\nenabled = true\nlisten = \"0.0.0.0:8443\"\nsetup_code_ttl = \"72h\"\nbase_url = \"https://lib.example.edu:8443\"\n",
			listen: "0.0.0.0:8443", ttl: 72 * time.Hour},
		{name: "no listener at all", extra: "[web]\nenabled = true\n", want: []string{"web.listen: required when [http] listen is empty"}},
		{name: "bad values", extra: "[web]\nlisten = \"nope\"\nsetup_code_ttl = \"0s\"\nbase_url = \"lib.example.edu\"\n",
			want: []string{"web.listen: \"nope\" is not host:port", "web.setup_code_ttl: \"0s\" must be positive", "web.base_url: \"lib.example.edu\" must start with"}},
		{name: "unknown key", extra: "[web]\nenabled = true\nlisten = \"127.0.0.1:1\"\ncolour = \"red\"\n", want: []string{"web.colour: unknown key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base + tc.extra))
			if len(tc.want) > 0 {
				if err == nil {
					t.Fatal("accepted")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.WebListen(); got != tc.listen {
				t.Errorf("WebListen = %q, want %q", got, tc.listen)
			}
			if got := Duration(cfg.Web.SetupCodeTTL, 0); got != tc.ttl {
				t.Errorf("setup_code_ttl = %v, want %v", got, tc.ttl)
			}
		})
	}
}
