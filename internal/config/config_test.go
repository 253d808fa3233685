package config

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/cache"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/configs"
	"github.com/bindery/bindery/proxy"
)

const goodHash = "$argon2id$v=19$m=19456,t=2,p=1$2GyxHsXZLDdZ4w0VD8KocQ$YhHmHvQVk0RMpnS+UTDmkCdZZjtXjnam+VL52NPQt54"

const base = `
[server]
suffix = "dc=library,dc=example,dc=edu"

[[service_account]]
name = "ils"
password_hash = "` + goodHash + `"
can_search = true

[[route]]
name = "julac"
match = '^(CU|BU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "/tmp/x.db"
`

func TestEveryExampleConfigLoads(t *testing.T) {
	entries, err := fs.ReadDir(configs.Files, ".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".toml") {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			data, err := fs.ReadFile(configs.Files, e.Name())
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(data)
			if err != nil {
				t.Fatalf("%s does not load: %v", e.Name(), err)
			}
			if len(cfg.Routes) == 0 {
				t.Fatalf("%s: no routes", e.Name())
			}
		})
	}
	if n < 2 {
		t.Fatalf("expected the demo and example configs, found %d", n)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != DefaultListen || cfg.Server.MaxRequestBytes != proxy.DefaultMaxRequestBytes ||
		cfg.PINPolicy.MinLength != 10 || cfg.PINPolicy.MaxLength != 20 || cfg.PINPolicy.MinClasses != 2 ||
		*cfg.Lockout.MaxFailures != 5 || cfg.Routes[0].Case != "upper" {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	opts, on := cfg.CacheOptions()
	if !on || opts.TTL != cache.DefaultTTL || opts.NegativeTTL != cache.DefaultNegativeTTL || opts.MaxEntries != cache.DefaultMaxEntries ||
		opts.ServeStaleFor != 0 || *cfg.Lockout.ThrottleAfter != proxy.DefaultThrottleAfter {
		t.Fatalf("cache/throttle defaults not applied: %+v %v", opts, *cfg.Lockout.ThrottleAfter)
	}
	if s := cfg.NewHashPool().Stats(); s.Workers < 1 || s.MaxWait != DefaultHashMaxWait || s.Estimate <= 0 {
		t.Fatalf("hashing defaults: %+v", s)
	}
}

func TestCacheAndHashingKeys(t *testing.T) {
	tests := []struct {
		name               string
		toml               string
		wantOn             bool
		wantNeg, wantStale time.Duration
		wantWorkers        int
		wantMaxWait        time.Duration
		wantWarnings       int
	}{
		{"cache off", "[cache]\nttl = \"0s\"", false, 0, 0, 0, 0, 0},
		{"negative off", "[cache]\nnegative_ttl = \"0s\"", true, -1, 0, 0, 0, 0},
		{"stale on", "[cache]\nserve_stale_for = \"2h\"", true, cache.DefaultNegativeTTL, 2 * time.Hour, 0, 0, 0},
		{"hashing", "[hashing]\nworkers = 3\nmax_wait = \"30s\"", true, cache.DefaultNegativeTTL, 0, 3, 30 * time.Second, 0},
		{"hashing no waiting", "[hashing]\nworkers = 1\nmax_wait = \"0s\"", true, cache.DefaultNegativeTTL, 0, 1, -1, 0},
		// The old queue key still loads, ignored, with a warning.
		{"hashing old keys", "[hashing]\nworkers = 2\nqueue = 0\nnice = 10", true, cache.DefaultNegativeTTL, 0, 2, DefaultHashMaxWait, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base + "\n" + tc.toml))
			if err != nil {
				t.Fatal(err)
			}
			opts, on := cfg.CacheOptions()
			if on != tc.wantOn || (on && (opts.NegativeTTL != tc.wantNeg || opts.ServeStaleFor != tc.wantStale)) {
				t.Fatalf("CacheOptions = %+v, %v", opts, on)
			}
			if tc.wantWorkers > 0 {
				if s := cfg.NewHashPool().Stats(); s.Workers != tc.wantWorkers || s.MaxWait != tc.wantMaxWait {
					t.Fatalf("pool %+v", s)
				}
			}
			if w := cfg.Warnings(); len(w) != tc.wantWarnings {
				t.Fatalf("warnings %q, want %d", w, tc.wantWarnings)
			}
		})
	}
}

// TestBuildWiresCache: Build puts the cache in front of the pinstore (the
// Directory's route sees a cache that still changes passwords and checks
// patrons), keeps the raw store in Stores, and a store change invalidates.
func TestBuildWiresCache(t *testing.T) {
	doc := strings.Replace(base, `dsn = "/tmp/x.db"`, `dsn = "`+filepath.Join(t.TempDir(), "pins.db")+`"`, 1) +
		"\n[pin_policy.argon2]\nmemory_kib = 64\niterations = 1\nparallelism = 1\n"
	cfg, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt, err := Build(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	a := rt.Routes.List[0].Backend
	c, ok := backend.As[*cache.Cache](a)
	if !ok || c == nil {
		t.Fatalf("route backend %T is not cached", a)
	}
	if _, ok := backend.As[backend.PasswordChanger](a); !ok {
		t.Fatal("cached pinstore lost PasswordChanger")
	}
	if _, ok := backend.As[backend.PatronChecker](a); !ok {
		t.Fatal("cached pinstore lost PatronChecker")
	}
	st := rt.Stores["pins"]
	if st == nil || rt.Server.ThrottleAfter != proxy.DefaultThrottleAfter || rt.HashPool == nil {
		t.Fatalf("runtime: store %v throttle %d pool %v", st, rt.Server.ThrottleAfter, rt.HashPool)
	}
	if err := st.AddPatron(ctx, pinstore.Patron{ID: "CU1234"}, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPIN(ctx, "CU1234", "Library2026", "alice"); err != nil {
		t.Fatal(err)
	}
	cr := backend.Credentials{ID: "CU1234", Password: "Library2026"}
	a.Authenticate(ctx, cr)
	if res, ok, _ := a.Authenticate(ctx, cr); !ok || !res.Cached {
		t.Fatalf("second bind: ok=%v cached=%v", ok, res.Cached)
	}
	if _, err := st.ResetPIN(ctx, "CU1234", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Authenticate(ctx, cr); ok {
		t.Fatal("old PIN accepted after a reset")
	}
}

// TestProblems has one row per error message: each broken file must be
// refused with a problem naming its key.
func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		toml string // appended to base, or replacing it when full
		full bool
		want []string
	}{
		{"unknown top key", "colour = 'red'", false, []string{"colour: unknown key"}},
		{"unknown server key", "", true, nil}, // filled below
		{"missing suffix", `[[route]]
name="a"
match="^a$"
backend="s"
[backend.s]
type="static"`, true, []string{"server.suffix: required"}},
		{"bad suffix", strings.Replace(base, `suffix = "dc=library,dc=example,dc=edu"`, `suffix = "dc=library,,"`, 1), true, []string{"server.suffix:", "not a valid DN"}},
		{"bad listen", strings.Replace(base, "[server]", "[server]\nlisten = \"nowhere\"", 1), true, []string{"server.listen:"}},
		{"bad diagnostics", strings.Replace(base, "[server]", "[server]\ndiagnostics = \"winnt\"", 1), true, []string{"server.diagnostics:"}},
		{"bad duration", strings.Replace(base, "[server]", "[server]\nidle_timeout = \"five minutes\"", 1), true, []string{"server.idle_timeout:", "not a duration"}},
		{"negative duration", strings.Replace(base, "[server]", "[server]\nread_timeout = \"-1s\"", 1), true, []string{"server.read_timeout:", "must be positive"}},
		{"tiny request limit", strings.Replace(base, "[server]", "[server]\nmax_request_bytes = 10", 1), true, []string{"server.max_request_bytes:"}},
		{"tls without cert", "[server.tls]\nlisten_tls = \"127.0.0.1:6636\"", false, []string{"server.tls.cert_file: required", "server.tls.key_file: required"}},
		{"require tls without tls", strings.Replace(base, "[server]", "[server]\nrequire_tls = true", 1), true, []string{"server.require_tls:"}},
		{"bad log level", "[log]\nlevel = \"loud\"", false, []string{"log.level:"}},
		{"bad log format", "[log]\nformat = \"xml\"", false, []string{"log.format:"}},
		{"bad audit size", "[log]\naudit_max_mb = -1\naudit_max_files = -2", false, []string{"log.audit_max_mb:", "log.audit_max_files:"}},
		{"bad http listen", "[http]\nlisten = \"9389\"", false, []string{"http.listen:"}},
		{"pin min>max", "[pin_policy]\nmin_length = 30", false, []string{"pin_policy.max_length:"}},
		{"pin classes", "[pin_policy]\nmin_classes = 4", false, []string{"pin_policy.min_classes:"}},
		{"argon2", "[pin_policy.argon2]\nmemory_kib = 1\niterations = 0\nparallelism = 0", false, []string{"pin_policy.argon2.memory_kib:", "pin_policy.argon2.iterations:", "pin_policy.argon2.parallelism:"}},
		{"lockout window", "[lockout]\nwindow = \"0s\"", false, []string{"lockout.window:"}},
		{"lockout failures", "[lockout]\nmax_failures = -1", false, []string{"lockout.max_failures:"}},
		{"service name", "[[service_account]]\nname = \"bad name\"\npassword_hash = \"" + goodHash + "\"", false, []string{"service_account[1].name:"}},
		{"service twice", "[[service_account]]\nname = \"ILS\"\npassword_hash = \"" + goodHash + "\"", false, []string{"service_account[1].name:", "defined twice"}},
		{"service no hash", "[[service_account]]\nname = \"gw\"", false, []string{"service_account[1].password_hash: required"}},
		{"service bad hash", "[[service_account]]\nname = \"gw\"\npassword_hash = \"plaintext\"", false, []string{"service_account[1].password_hash:"}},
		{"service network", "[[service_account]]\nname = \"gw\"\npassword_hash = \"" + goodHash + "\"\nnetworks = [\"10.0.0.0/33\"]", false, []string{"service_account[1].networks[0]:"}},
		{"route missing backend", "[[route]]\nname = \"x\"\nmatch = \"^x$\"\nbackend = \"nope\"", false, []string{"route[1].backend: no [backend.nope]"}},
		{"route bad regex", "[[route]]\nname = \"x\"\nmatch = \"^(x$\"\nbackend = \"pins\"", false, []string{"route[1].match: bad regular expression"}},
		{"route bad case", "[[route]]\nname = \"x\"\nmatch = \"^x$\"\ncase = \"title\"\nbackend = \"pins\"", false, []string{"route[1].case:"}},
		{"route twice", "[[route]]\nname = \"julac\"\nmatch = \"^x$\"\nbackend = \"pins\"", false, []string{"route[1].name:", "defined twice"}},
		{"route no name", "[[route]]\nmatch = \"^x$\"\nbackend = \"pins\"", false, []string{"route[1].name: required"}},
		{"require_patron on pinstore", "[[route]]\nname = \"x\"\nmatch = \"^x$\"\nbackend = \"pins\"\nrequire_patron = true", false, []string{"route[1].require_patron:"}},
		{"backend no type", "[backend.x]\ndsn = \"a\"", false, []string{"backend.x.type: required"}},
		{"backend bad type", "[backend.x]\ntype = \"nis\"", false, []string{"backend.x.type:", "not one of"}},
		{"backend foreign key", "[backend.x]\ntype = \"static\"\nurls = [\"ldap://a\"]", false, []string{"backend.x.urls: not a key of a \"static\" backend"}},
		{"pinstore driver", "[backend.x]\ntype = \"pinstore\"\ndriver = \"mysql\"\ndsn = \"a\"", false, []string{"backend.x.driver:"}},
		{"pinstore dsn", "[backend.x]\ntype = \"pinstore\"\ndriver = \"sqlite\"", false, []string{"backend.x.dsn: required"}},
		{"postgres dsn", "[backend.x]\ntype = \"pinstore\"\ndriver = \"postgres\"", false, []string{"backend.x.dsn: required (a URL"}},
		{"postgres bad dsn", "[backend.x]\ntype = \"pinstore\"\ndriver = \"postgres\"\ndsn = \"postgres://u:secret@h:notaport/db\"", false, []string{"backend.x.dsn: not a PostgreSQL URL"}},
		{"ldap urls", "[backend.x]\ntype = \"ldap\"\nbase_dn = \"dc=x\"", false, []string{"backend.x.urls: at least one"}},
		{"ldap url scheme", "[backend.x]\ntype = \"ldap\"\nurls = [\"http://a\"]\nbase_dn = \"dc=x\"", false, []string{"backend.x.urls[0]:"}},
		{"ldap filter placeholder", "[backend.x]\ntype = \"ldap\"\nurls = [\"ldap://a\"]\nbase_dn = \"dc=x\"\nuser_filter = \"(uid=x)\"", false, []string{"backend.x.user_filter:", "{id}"}},
		{"ldap filter syntax", "[backend.x]\ntype = \"ldap\"\nurls = [\"ldap://a\"]\nbase_dn = \"dc=x\"\nuser_filter = \"(uid={id}\"", false, []string{"backend.x.user_filter:", "not a valid LDAP filter"}},
		{"ldap base dn", "[backend.x]\ntype = \"ldap\"\nurls = [\"ldap://a\"]", false, []string{"backend.x.base_dn: required"}},
		{"ldap timeout", "[backend.x]\ntype = \"ldap\"\nurls = [\"ldap://a\"]\nbase_dn = \"dc=x\"\ntimeout = \"2 s\"", false, []string{"backend.x.timeout:"}},
		{"ldap ca file", "[backend.x]\ntype = \"ldap\"\nurls = [\"ldap://a\"]\nbase_dn = \"dc=x\"\nca_file = \"/nonexistent/ca.pem\"", false, []string{"backend.x.ca_file:"}},
		{"ldap both passwords", "[backend.x]\ntype = \"ldap\"\nurls = [\"ldap://a\"]\nbase_dn = \"dc=x\"\nbind_password = \"a\"\nbind_password_file = \"/etc/hostname\"", false, []string{"backend.x.bind_password_file: give"}},
		{"static user no hash", "[backend.x]\ntype = \"static\"\n[[backend.x.user]]\nid = \"a\"", false, []string{"backend.x.user[0].password_hash: required"}},
		{"static user twice", "[backend.x]\ntype = \"static\"\n[[backend.x.user]]\nid = \"a\"\npassword_hash = \"" + goodHash + "\"\n[[backend.x.user]]\nid = \"a\"\npassword_hash = \"" + goodHash + "\"", false, []string{"backend.x.user[1].id:", "defined twice"}},
		{"cache ttl", "[cache]\nttl = \"soon\"", false, []string{"cache.ttl:", "not a duration"}},
		{"cache negative ttl", "[cache]\nnegative_ttl = \"-1s\"", false, []string{"cache.negative_ttl:", "must be positive"}},
		{"cache stale", "[cache]\nserve_stale_for = \"1 hour\"", false, []string{"cache.serve_stale_for:"}},
		{"cache entries", "[cache]\nmax_entries = -5", false, []string{"cache.max_entries: must be positive"}},
		{"cache unknown key", "[cache]\nsize = 5", false, []string{"cache.size: unknown key"}},
		{"hashing workers", "[hashing]\nworkers = -1", false, []string{"hashing.workers:"}},
		{"secret attributes", "[log]\nsecret_attributes = [\"unicodePwd\", \"pin code\"]", false, []string{"log.secret_attributes[1]: \"pin code\" is not an attribute name"}},
		{"hashing max_wait", "[hashing]\nmax_wait = \"soon\"", false, []string{"hashing.max_wait: \"soon\" is not a duration"}},
		{"hashing max_wait long", "[hashing]\nmax_wait = \"1h\"", false, []string{"hashing.max_wait: \"1h\" is longer than 5m0s"}},
		{"hashing nice too low", "[hashing]\nnice = 20", false, []string{"hashing.nice: 20 is not a nice value"}},
		{"hashing nice negative", "[hashing]\nnice = -5", false, []string{"hashing.nice: -5 is not a nice value"}},
		{"throttle", "[lockout]\nthrottle_after = -2", false, []string{"lockout.throttle_after:"}},
		{"ldap lookup ttl", "[backend.x]\ntype = \"ldap\"\nurls = [\"ldap://a\"]\nbase_dn = \"dc=x\"\nlookup_ttl = \"soon\"\nlookup_max_entries = -1", false, []string{"backend.x.lookup_ttl:", "backend.x.lookup_max_entries: must be positive"}},
		{"ldap min idle", "[backend.x]\ntype = \"ldap\"\nurls = [\"ldap://a\"]\nbase_dn = \"dc=x\"\npool_size = 2\npool_min_idle = 3", false, []string{"backend.x.pool_min_idle:", "more than pool_size 2"}},
		{"ldap min idle negative", "[backend.x]\ntype = \"ldap\"\nurls = [\"ldap://a\"]\nbase_dn = \"dc=x\"\npool_min_idle = -1", false, []string{"backend.x.pool_min_idle:"}},
		{"min idle on pinstore", "[backend.x]\ntype = \"pinstore\"\ndriver = \"sqlite\"\ndsn = \"a\"\npool_min_idle = 1", false, []string{"backend.x.pool_min_idle: not a key of a \"pinstore\" backend"}},
		{"no routes", `[server]
suffix = "dc=x"`, true, []string{"route: at least one"}},
	}
	tests[1].toml = strings.Replace(base, "[server]", "[server]\nlisten_port = 389", 1)
	tests[1].full = true
	tests[1].want = []string{"server.listen_port: unknown key"}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := base + "\n" + tt.toml
			if tt.full {
				doc = tt.toml
			}
			_, err := Parse([]byte(doc))
			if err == nil {
				t.Fatalf("accepted:\n%s", doc)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	doc := base + `
[log]
level = "loud"
[[route]]
name = "x"
match = "^(x$"
backend = "nope"
`
	_, err := Parse([]byte(doc))
	var p Problems
	if !errors.As(err, &p) {
		t.Fatalf("want Problems, got %v", err)
	}
	if len(p) < 3 {
		t.Fatalf("want at least 3 problems listed at once, got %d: %v", len(p), p)
	}
}

func TestSyntaxErrorNamesLine(t *testing.T) {
	_, err := Parse([]byte("[server]\nsuffix = \"dc=x\"\nlisten = \n"))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("want an error naming line 3, got %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want not-exist error, got %v", err)
	}
}

// TestBuildFailureClosesWhatItOpened: a backend that cannot be opened
// makes Build return an error (never a panic), naming the backend.
func TestBuildFailureClosesWhatItOpened(t *testing.T) {
	dir := t.TempDir()
	doc := strings.Replace(base, `dsn = "/tmp/x.db"`, `dsn = "`+filepath.Join(dir, "ok.db")+`"`, 1) + `
[backend.broken]
type = "pinstore"
driver = "sqlite"
dsn = "` + filepath.Join(dir, "no-such-dir", "x.db") + `"
`
	cfg, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Build(context.Background(), cfg, nil)
	if err == nil || rt != nil {
		t.Fatalf("Build with an unopenable store: %v, %v", rt, err)
	}
	if !strings.Contains(err.Error(), "backend.broken") {
		t.Fatalf("error does not name the backend: %v", err)
	}
}

// TestPostgresDriver: driver = "postgres" with a URL is accepted, and a bad
// DSN is refused without quoting it (it may hold a password).
func TestPostgresDriver(t *testing.T) {
	good := strings.Replace(strings.Replace(base, `driver = "sqlite"`, `driver = "postgres"`, 1),
		`dsn = "/tmp/x.db"`, `dsn = "postgres://bindery@127.0.0.1:5432/bindery?sslmode=disable"`, 1)
	if _, err := Parse([]byte(good)); err != nil {
		t.Fatalf("postgres config refused: %v", err)
	}
	bad := strings.Replace(good, "bindery@127.0.0.1:5432", "bindery:s3cret@127.0.0.1:notaport", 1)
	_, err := Parse([]byte(bad))
	if err == nil || !strings.Contains(err.Error(), "backend.pins.dsn:") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad DSN: %v", err)
	}
}
