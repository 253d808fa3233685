package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/bindery/bindery/configs"
)

// topKeys are the TOML names of the file's sections, from the struct tags
// of the document Parse decodes (Config's tables and "backend").
func topKeys() []string {
	var keys []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.Anonymous {
				walk(f.Type)
			} else if k, _, _ := strings.Cut(f.Tag.Get("toml"), ","); k != "" && k != "-" {
				keys = append(keys, k)
			}
		}
	}
	walk(reflect.TypeOf(document{}))
	return keys
}

// FuzzParse decodes arbitrary TOML. Parse must never panic; it returns a
// config or an error, never both or neither; a syntax error names its
// line; every problem names the key it is about ("section...: why"), and
// a key outside the known sections is only ever an "unknown key"; and a
// config that parses parses again to the same value.
func FuzzParse(f *testing.F) {
	f.Add(string(configs.Demo))
	if b, err := os.ReadFile("../../configs/example.toml"); err == nil {
		f.Add(string(b))
	}
	f.Add(base)
	for _, s := range []string{
		"",
		"colour = 'red'",
		"[server]\nsuffix = \"dc=library,,\"\nlisten = \"nowhere\"\nidle_timeout = \"five\"\nmax_request_bytes = 10",
		"[server.tls]\nlisten_tls = \"127.0.0.1:6636\"",
		"[[route]]\nname = \"a\"\nmatch = \"(\"\nbackend = \"nope\"",
		"[backend.x]\ntype = \"ldap\"\nurls = [\"gopher://x\"]\ntimeout = \"-1s\"\npool_size = -3\n[backend.x.attributes]\n\"bad name\" = \"y\"",
		"[backend.y]\ntype = \"pinstore\"\ndriver = \"oracle\"\nbogus = 1",
		"[[service_account]]\nname = \"ils\"\npassword_hash = \"plain\"\nnetworks = [\"10.0.0.0/33\"]",
		"[lockout]\nmax_failures = -1\nwindow = \"x\"",
		"[pin_policy]\nmin_length = 30\nmax_length = 20\nmin_classes = 9\n[pin_policy.argon2]\nmemory_kib = 1",
		"\"a b\" = 1\n[\"server\"]\n\"x.y\" = 2",
		"[server\nsuffix=",
		"a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"[log]\nlevel = 'loud'\nformat = 'xml'",
	} {
		f.Add(s)
	}
	known := topKeys()
	f.Fuzz(func(t *testing.T, data string) {
		if len(data) > 1<<14 {
			return
		}
		cfg, err := Parse([]byte(data))
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", cfg != nil, err)
		}
		if err == nil {
			again, err := Parse([]byte(data))
			if err != nil || !reflect.DeepEqual(cfg, again) {
				t.Fatalf("a second Parse differs: %v", err)
			}
			return
		}
		if !strings.HasPrefix(err.Error(), "config: ") {
			t.Fatalf("error without the config: prefix: %q", err)
		}
		var probs Problems
		if !errors.As(err, &probs) {
			return // a TOML syntax or type error, with its line when the decoder knows it
		}
		if len(probs) == 0 {
			t.Fatalf("empty Problems returned as an error")
		}
		for _, p := range probs {
			key, why, ok := strings.Cut(p, ": ")
			if !ok || key == "" || why == "" {
				t.Fatalf("problem does not name a key: %q", p)
			}
			if why == "unknown key" {
				continue
			}
			section, _, _ := strings.Cut(key, ".")
			section, _, _ = strings.Cut(section, "[")
			found := false
			for _, k := range known {
				found = found || section == k
			}
			if !found {
				t.Fatalf("problem names %q, which is not a config key: %q", key, p)
			}
		}
	})
}
