// Command bindery is the LDAP server: it loads a configuration, opens the
// backends and serves binds and searches until SIGTERM or SIGINT.
//
// Without --config it runs the embedded demo (configs/demo.toml) with a
// seeded PIN store in a temporary folder, so that it can be tried with no
// external service; it prints how to bind and a set-up code for the PIN
// page. BINDERY_DEMO_LISTEN and BINDERY_DEMO_HTTP move the demo's LDAP and
// HTTP addresses (for tests that run it next to other servers).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/configs"
	"github.com/bindery/bindery/internal/activation"
	"github.com/bindery/bindery/internal/asynclog"
	"github.com/bindery/bindery/internal/certs"
	"github.com/bindery/bindery/internal/config"
	"github.com/bindery/bindery/internal/hashproc"
	"github.com/bindery/bindery/internal/passhash"
	"github.com/bindery/bindery/internal/ratelog"
	"github.com/bindery/bindery/internal/version"
)

func main() {
	// A hashing helper is this same program started again (internal/hashproc).
	hashproc.ServeIfHelper()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bindery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (TOML); without it, the embedded demo runs")
	check := fs.Bool("check", false, "validate the configuration and try the files and folders it names, as this user, and exit")
	connect := fs.Bool("connect", false, "with --check: also open each PIN store and reach every upstream URL, failover ones included")
	showVersion := fs.Bool("version", false, "print the version, the commit and the Go version, and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bindery [--config FILE] [--check [--connect]]\n       bindery --version\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bindery: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "bindery", version.Get())
		return 0
	}

	cfg, demo, err := load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "bindery:", err)
		return 1
	}
	if *check {
		return runCheck(cfg, *connect, stdout, stderr)
	}
	if *connect {
		fmt.Fprintln(stderr, "bindery: --connect goes with --check")
		return 2
	}

	// Log lines are queued and written by one goroutine (internal/asynclog),
	// so that no operation waits for stderr; Close flushes them at exit.
	// A warning or error repeated within a minute is written once, then
	// counted (internal/ratelog): no client can fill the disk with them.
	alog := asynclog.NewWriter(stderr, 0)
	defer alog.Close()
	limited := ratelog.New(asynclog.Wrap(config.NewLogger(cfg.Log, alog).Handler(), alog), ratelog.Options{})
	defer limited.Flush() // before alog.Close: the counts held back are not lost
	logger := slog.New(limited)
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	for _, w := range cfg.Warnings() {
		logger.Warn("configuration: " + w)
	}

	// argon2id runs in a helper process at a lower priority, so that a
	// storm of wrong PINs leaves the CPU to cached binds (internal/hashproc).
	var helper *hashproc.Helper
	if n := cfg.HashNice(); n > 0 {
		helper, err = hashproc.Start(hashproc.Options{Nice: n, Logger: logger})
		if err != nil {
			logger.Warn("hashing helper: cannot start; hashing in the server process", "err", err)
		}
		if helper != nil {
			passhash.SetIDKey(helper.IDKey)
		}
	}

	d, err := start(ctx, *path, cfg, demo, logger, helper)
	if err != nil {
		helper.Close()
		fmt.Fprintln(stderr, "bindery:", err)
		return 1
	}
	err = d.serve(ctx)
	// The helper stops while the backends close, not after them: the exit
	// stays within shutdown_timeout + 1 s. A PIN change still closing
	// hashes in this process.
	helperClosed := make(chan struct{})
	go func() {
		helper.Close()
		close(helperClosed)
	}()
	closeWithin(d.current.Load(), closeBudget, logger)
	<-helperClosed
	if err != nil {
		logger.Error("bindery stopped", "err", err)
		return 1
	}
	return 0
}

// closeBudget is what closing the backends may take after the server has
// shut down, so that bindery exits within [server] shutdown_timeout + 1 s.
const closeBudget = 800 * time.Millisecond

// closeWithin closes the runtime's backends, waiting at most d: a PIN
// store still writing the failure count of a bind answered before the
// deadline, or an upstream that does not answer, must not keep the process
// alive (SQLite and PostgreSQL keep every committed change; a count not yet
// written is lost).
func closeWithin(rt *config.Runtime, d time.Duration, logger *slog.Logger) {
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- rt.Close() }()
	select {
	case err := <-done:
		if err != nil {
			logger.Warn("closing the backends", "err", err)
		}
		logger.Debug("backends closed", "took", time.Since(start))
	case <-time.After(d):
		logger.Warn("shutdown: backends still closing; exiting without waiting", "waited", d)
	}
}

// daemon is the running server: the first runtime's proxy.Server serves
// for the whole process; reloads swap what it routes to (current).
type daemon struct {
	path    string
	logger  *slog.Logger
	first   *config.Runtime
	current atomic.Pointer[config.Runtime]
	obs     *observability
	hooks   config.Hooks
	certs   *certs.Reloader     // nil without [server.tls]
	files   string              // filesPrint of the configuration in use
	sockets *activation.Sockets // passed by systemd (socket activation), maybe none
}

// start builds everything before the listeners open.
func start(ctx context.Context, path string, cfg *config.Config, demo bool, logger *slog.Logger, helper *hashproc.Helper) (*daemon, error) {
	sockets, err := activation.Take()
	if err != nil {
		return nil, err
	}
	d := &daemon{path: path, logger: logger, sockets: sockets}
	d.obs, err = newObservability(cfg, &d.current)
	if err != nil {
		sockets.Close()
		return nil, err
	}
	if helper != nil {
		d.obs.hashHelper(helper)
	}
	d.hooks = config.Hooks{UpstreamRequest: d.obs.metrics.UpstreamRequest}
	rt, err := config.Build(ctx, cfg, logger, d.hooks)
	if err != nil {
		sockets.Close()
		return nil, err
	}
	fail := func(err error) (*daemon, error) {
		rt.Close()
		sockets.Close()
		return nil, err
	}
	var tlsCfg *tls.Config
	if t := cfg.Server.TLS; t != nil {
		d.certs, err = certs.New(t.CertFile, t.KeyFile, logger)
		if err != nil {
			return fail(fmt.Errorf("server.tls: %w", err))
		}
		tlsCfg = d.certs.TLSConfig()
		rt.Server.TLSConfig = tlsCfg
		go d.certs.Watch(ctx, 0)
		d.obs.metrics.GaugeFunc("tls_certificate_expiry_timestamp_seconds",
			"When the certificate in use expires (Unix time); it follows reloads.", nil,
			func() float64 { return float64(d.certs.NotAfter().Unix()) })
	}
	if demo {
		if err := seedDemo(ctx, rt.Stores["pins"], cfg); err != nil {
			return fail(fmt.Errorf("demo: %w", err))
		}
	}
	d.first = rt
	d.files = filesPrint(cfg)
	d.current.Store(rt)
	d.obs.adopt(rt)
	rt.Server.Observer = d.obs.observer()
	if err := setupWeb(cfg, &d.current, rt.Server, d.obs, logger, tlsCfg); err != nil {
		return fail(err)
	}
	return d, nil
}

// listen returns the socket systemd passed for a listener (by its
// FileDescriptorName, else by address), or listens itself.
func (d *daemon) listen(name, addr string) (net.Listener, error) {
	if l, ok := d.sockets.Listener(name, addr); ok {
		d.logger.Info("listening on a socket passed by systemd", "name", name, "addr", l.Addr().String(), "configured", addr)
		return l, nil
	}
	return net.Listen("tcp", addr)
}

// load reads the configuration file, or the embedded demo when path is "".
func load(path string) (cfg *config.Config, demo bool, err error) {
	if path != "" {
		cfg, err = config.Load(path)
		return cfg, false, err
	}
	cfg, err = config.Parse(configs.Demo)
	if err != nil {
		return nil, true, fmt.Errorf("embedded demo: %w", err)
	}
	dir := DemoDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, true, fmt.Errorf("demo: %w", err)
	}
	cfg.Backends["pins"].PINStore().DSN = filepath.Join(dir, "pins.db")
	// For tests that run the demo next to other servers.
	if a := os.Getenv("BINDERY_DEMO_LISTEN"); a != "" {
		cfg.Server.Listen = a
	}
	if a := os.Getenv("BINDERY_DEMO_HTTP"); a != "" {
		cfg.HTTP.Listen = a
	}
	cfg.Path = "(embedded demo)"
	return cfg, true, nil
}

// DemoDir is where the demo keeps its PIN store.
func DemoDir() string {
	return filepath.Join(os.TempDir(), "bindery-demo")
}

// Demo patrons, as documented in configs/demo.toml; the last has no PIN:
// a newcomer sets one on the PIN page with the set-up code printed at start.
var demoPatrons = []struct {
	p   pinstore.Patron
	pin string
}{
	{pinstore.Patron{ID: "CU1234567", Name: "WONG Siu Ming", Email: "cu1234567@example.edu", Category: "julac"}, "Demo-PIN-2026"},
	{pinstore.Patron{ID: "20231234", Name: "LEE Ka Yan", Email: "kylee@example.org", Category: "alumni"}, "Card-PIN-2026"},
	{pinstore.Patron{ID: demoNewPatron, Name: "CHAN Mei Ling", Email: "cu7654321@example.edu", Category: "julac"}, ""},
}

// demoNewPatron is the demo patron without a PIN.
const demoNewPatron = "CU7654321"

// seedDemo adds the demo patrons (once), issues a fresh set-up code for
// the one without a PIN, and prints how to try everything.
func seedDemo(ctx context.Context, st *pinstore.Store, cfg *config.Config) error {
	if st == nil {
		return errors.New("the demo config has no pinstore called pins")
	}
	for _, d := range demoPatrons {
		if _, err := st.GetPatron(ctx, d.p.ID); err == nil {
			continue
		}
		if err := st.AddPatron(ctx, d.p, "demo"); err != nil {
			return err
		}
		if d.pin == "" {
			continue
		}
		if err := st.SetPIN(ctx, d.p.ID, d.pin, "demo"); err != nil {
			return err
		}
	}
	ldap := "ldap://" + cfg.Server.Listen
	slog.Info("demo: patrons ready", "store", cfg.Backends["pins"].PINStore().DSN,
		"try", "ldapwhoami -x -H "+ldap+" -D uid=CU1234567,ou=people,dc=library,dc=example,dc=edu -w Demo-PIN-2026")
	page := "http://" + cfg.WebListen() + "/pin/setup"
	slog.Info("demo: metrics and health", "metrics", "http://"+cfg.HTTP.Listen+"/metrics", "health", "http://"+cfg.HTTP.Listen+"/healthz")
	p, err := st.GetPatron(ctx, demoNewPatron)
	if err != nil {
		return err
	}
	if p.HasPIN {
		slog.Info("demo: "+demoNewPatron+" has set a PIN (delete "+DemoDir()+" to start over)", "page", page,
			"try", "ldapwhoami -x -H "+ldap+" -D "+demoNewPatron+" -w '<the PIN you chose>'")
		return nil
	}
	code, _, err := st.IssueSetupCode(ctx, demoNewPatron, config.Duration(cfg.Web.SetupCodeTTL, config.DefaultSetupCodeTTL), "demo")
	if err != nil {
		return err
	}
	slog.Info("demo: set up a PIN in the browser", "page", page, "card", demoNewPatron, "setup_code", code,
		"then", "ldapwhoami -x -H "+ldap+" -D "+demoNewPatron+" -w '<the PIN you chose>'")
	return nil
}

// serve listens on the configured addresses (or takes the sockets systemd
// passed) and serves until ctx ends, then shuts down gracefully within
// the current [server] shutdown_timeout. SIGHUP reloads.
func (d *daemon) serve(ctx context.Context) error {
	rt, obs := d.first, d.obs
	srv := rt.Server
	l, err := d.listen("ldap", rt.Listen)
	if err != nil {
		d.sockets.Close()
		return fmt.Errorf("listen: %w", err)
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(l) }()
	rt.Logger.Info("bindery serving", "listen", l.Addr().String(), "starttls", srv.TLSConfig != nil,
		"proxy_protocol_from", len(srv.ProxyProtocolFrom), "config", rt.Config.Path, "version", version.Get().Version)
	if rt.ListenTLS != "" {
		lt, err := d.listen("ldaps", rt.ListenTLS)
		if err != nil {
			d.sockets.Close()
			srv.Shutdown(context.Background())
			return fmt.Errorf("listen_tls: %w", err)
		}
		go func() { errc <- srv.ServeTLS(lt) }()
		rt.Logger.Info("bindery serving LDAPS", "listen_tls", lt.Addr().String())
	}
	obs.serving.Store(true)
	if err := obs.startHTTP(rt.Logger, d.listen); err != nil {
		d.sockets.Close()
		srv.Shutdown(context.Background())
		return err
	}
	if unused := d.sockets.Unused(); len(unused) > 0 {
		rt.Logger.Warn("sockets passed by systemd that no listener uses were closed", "sockets", unused)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			d.reload(ctx)
		case err := <-errc:
			obs.serving.Store(false)
			obs.close(context.Background())
			return err
		}
	}
	obs.serving.Store(false)
	timeout := d.current.Load().ShutdownTimeout
	rt.Logger.Info("shutting down", "deadline", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Expected when binds still wait for hashing or a slow upstream:
		// their connections got the Notice of Disconnection and were
		// closed. Not a failure of the process.
		rt.Logger.Warn("shutdown: deadline reached; connections still busy were closed with a Notice of Disconnection", "deadline", timeout)
	}
	octx, ocancel := context.WithTimeout(context.Background(), closeBudget/4)
	defer ocancel()
	obs.close(octx)
	return nil
}
