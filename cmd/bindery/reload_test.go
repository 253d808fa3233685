package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/config"
)

// tomlKeys lists the keys of a config struct: nested tables are walked,
// arrays of tables and maps (routes, backends, service accounts) are one
// key each.
func tomlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			keys = append(keys, tomlKeys(ft, prefix+tag+".")...)
			continue
		}
		keys = append(keys, prefix+tag)
	}
	return keys
}

// TestReloadKeysCoverTheConfig: every key of the configuration is either
// applied by a reload or named in the restart-only log line, never both,
// never neither.
func TestReloadKeysCoverTheConfig(t *testing.T) {
	listed := map[string]reloadKey{}
	for _, k := range reloadKeys {
		if _, dup := listed[k.key]; dup {
			t.Errorf("%s is listed twice", k.key)
		}
		if k.applied != (k.get == nil) {
			t.Errorf("%s: a restart-only key needs get, an applied one none", k.key)
		}
		listed[k.key] = k
	}
	for _, key := range tomlKeys(reflect.TypeOf(config.Config{}), "") {
		if _, ok := listed[key]; !ok {
			t.Errorf("%s is neither applied on reload nor named as restart-only: add it to reloadKeys", key)
		}
		delete(listed, key)
	}
	delete(listed, "server.tls") // the table's presence, besides its keys
	delete(listed, "backend")    // decoded by each backend's package (Config.Backends, toml:"-")
	for key := range listed {
		t.Errorf("reloadKeys lists %s, which is not a configuration key", key)
	}
}

const reloadBase = `
[server]
suffix = "dc=library,dc=example,dc=edu"

[server.tls]
cert_file = "/etc/bindery/server.crt"
key_file = "/etc/bindery/server.key"

[[route]]
name = "julac"
match = '^CU[0-9]+$'
backend = "pins"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "/var/lib/bindery/pins.db"
`

func TestRestartNeeded(t *testing.T) {
	old, err := config.Parse([]byte(reloadBase))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit string // a line added to [server] (or a table at the end)
		want string // the key named; "" = nothing (applied)
	}{
		{`listen = "0.0.0.0:389"`, "server.listen"},
		{`shutdown_timeout = "30s"`, ""},
		{`idle_timeout = "1m"`, "server.idle_timeout"},
		{`busy_backoff = "0s"`, "server.busy_backoff"},
		{`proxy_protocol_from = ["10.0.0.0/8"]`, "server.proxy_protocol_from"},
		{"\n[lockout]\nthrottle_after = 9\nwindow = \"1h\"\nmax_failures = 3", ""},
		{"\n[lockout]\nreveal = true", "lockout.reveal"},
		{"\n[cache]\nttl = \"1m\"", ""},
		// [hashing] is applied to the running pool (issue 12).
		{"\n[hashing]\nworkers = 7\nmax_wait = \"30s\"", ""},
		{"\n[log]\nsecret_attributes = [\"pinHint\"]", "log.secret_attributes"},
		{"\n[log]\nlevel = \"debug\"", "log.level"},
		{"\n[web]\ntrusted_proxies = [\"127.0.0.1\"]", "web.trusted_proxies"},
		{"\n[pin_policy]\nmin_length = 12", ""},
	} {
		text := reloadBase
		if strings.HasPrefix(tc.edit, "\n") {
			text += tc.edit + "\n"
		} else {
			text = strings.Replace(text, "[server]\n", "[server]\n"+tc.edit+"\n", 1)
		}
		nc, err := config.Parse([]byte(text))
		if err != nil {
			t.Fatalf("%q: %v", tc.edit, err)
		}
		got := strings.Join(restartNeeded(old, nc), ",")
		if got != tc.want {
			t.Errorf("%q: restart needed for %q, want %q", tc.edit, got, tc.want)
		}
	}
	// New certificate paths are applied; turning TLS off is not.
	moved := strings.ReplaceAll(reloadBase, "/etc/bindery/server.", "/etc/bindery/new.")
	nc, _ := config.Parse([]byte(moved))
	if got := restartNeeded(old, nc); len(got) != 0 {
		t.Errorf("new certificate paths: restart needed for %v", got)
	}
	off := strings.Replace(reloadBase, "[server.tls]\ncert_file = \"/etc/bindery/server.crt\"\nkey_file = \"/etc/bindery/server.key\"\n", "", 1)
	nc, err = config.Parse([]byte(off))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(restartNeeded(old, nc), ","); got != "server.tls" {
		t.Errorf("TLS turned off: restart needed for %q", got)
	}
}

func TestSameConfigAndFilesPrint(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "campus.pw")
	os.WriteFile(pw, []byte("one\n"), 0o600)
	text := reloadBase + `
[backend.campus]
type = "ldap"
urls = ["ldap://127.0.0.1:1"]
base_dn = "dc=x"
bind_dn = "cn=x"
bind_password_file = "` + pw + `"
`
	a, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := config.Parse([]byte(text))
	b.Path = "/elsewhere.toml"
	if !sameConfig(a, b) || filesPrint(a) != filesPrint(b) {
		t.Fatal("the same file read twice is not the same configuration")
	}
	c, _ := config.Parse([]byte(strings.Replace(text, `suffix = "dc=library`, `suffix = "dc=libraries`, 1)))
	if sameConfig(a, c) {
		t.Fatal("a changed suffix is the same configuration")
	}
	before := filesPrint(a)
	os.WriteFile(pw, []byte("two\n"), 0o600)
	if filesPrint(a) == before {
		t.Fatal("a new campus password did not change the files' digest")
	}
}
