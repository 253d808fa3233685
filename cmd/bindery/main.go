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

	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/configs"
	"github.com/bindery/bindery/internal/asynclog"
	"github.com/bindery/bindery/internal/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bindery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (TOML); without it, the embedded demo runs")
	check := fs.Bool("check", false, "validate the configuration and exit")
	connect := fs.Bool("connect", false, "with --check: also open each PIN store and reach each upstream directory")
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bindery [--config FILE] [--check [--connect]]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bindery: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, "bindery", config.Version)
		return 0
	}

	cfg, demo, err := load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "bindery:", err)
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "%s: configuration OK (%d routes, %d backends, %d service accounts)\n",
			cfg.Path, len(cfg.Routes), len(cfg.Backends), len(cfg.ServiceAccounts))
		if *connect {
			return checkConnect(cfg, stdout)
		}
		return 0
	}
	if *connect {
		fmt.Fprintln(stderr, "bindery: --connect goes with --check")
		return 2
	}

	// Log lines are queued and written by one goroutine (internal/asynclog),
	// so that no operation waits for stderr; Close flushes them at exit.
	alog := asynclog.NewWriter(stderr, 0)
	defer alog.Close()
	logger := slog.New(asynclog.Wrap(config.NewLogger(cfg.Log, alog).Handler(), alog))
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	rt, err := config.Build(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, "bindery:", err)
		return 1
	}
	if demo {
		if err := seedDemo(ctx, rt.Stores["pins"], cfg); err != nil {
			rt.Close()
			fmt.Fprintln(stderr, "bindery: demo:", err)
			return 1
		}
	}
	var current atomic.Pointer[config.Runtime]
	current.Store(rt)
	obs, err := newObservability(cfg, &current)
	if err != nil {
		rt.Close()
		fmt.Fprintln(stderr, "bindery:", err)
		return 1
	}
	rt.Server.Observer = obs.observer()
	if err := setupWeb(cfg, &current, rt.Server, obs, logger); err != nil {
		rt.Close()
		fmt.Fprintln(stderr, "bindery:", err)
		return 1
	}
	err = serve(ctx, rt, obs, func() { reload(ctx, *path, rt, &current, logger) })
	current.Load().Close()
	if err != nil {
		logger.Error("bindery stopped", "err", err)
		return 1
	}
	return 0
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

// serve listens on the configured addresses and serves until ctx ends,
// then shuts down gracefully. SIGHUP calls onHUP.
func serve(ctx context.Context, rt *config.Runtime, obs *observability, onHUP func()) error {
	srv := rt.Server
	l, err := net.Listen("tcp", rt.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(l) }()
	rt.Logger.Info("bindery serving", "listen", l.Addr().String(), "starttls", srv.TLSConfig != nil, "config", rt.Config.Path)
	if rt.ListenTLS != "" {
		lt, err := net.Listen("tcp", rt.ListenTLS)
		if err != nil {
			srv.Shutdown(context.Background())
			return fmt.Errorf("listen_tls: %w", err)
		}
		go func() { errc <- srv.ServeTLS(lt) }()
		rt.Logger.Info("bindery serving LDAPS", "listen_tls", lt.Addr().String())
	}
	obs.serving.Store(true)
	if err := obs.startHTTP(rt.Logger); err != nil {
		srv.Shutdown(context.Background())
		return err
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
			onHUP()
		case err := <-errc:
			obs.serving.Store(false)
			obs.close(context.Background())
			return err
		}
	}
	obs.serving.Store(false)
	rt.Logger.Info("shutting down", "deadline", rt.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), rt.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	obs.close(sctx)
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
