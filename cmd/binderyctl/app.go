package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/config"
	"github.com/bindery/bindery/internal/desk"
)

// app is one run of binderyctl: its streams, global flags, and the
// configuration and stores it has opened (closed by close).
type app struct {
	ctx    context.Context
	stdin  io.Reader
	in     *bufio.Reader // stdin, buffered once
	stdout io.Writer
	stderr io.Writer

	// Terminal facts, set from the real files by newApp; tests override them.
	stdinTTY, stderrTTY bool
	// readPassword reads one line from the terminal without echo.
	readPassword func() (string, error)

	cfgPath     string
	cfgExplicit bool // --config or BINDERY_CONFIG was given
	operator    string
	json        bool

	cfg    *config.Config
	stores map[string]*pinstore.Store
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	a := &app{
		ctx:    context.Background(),
		stdin:  stdin,
		in:     bufio.NewReader(stdin),
		stdout: stdout,
		stderr: stderr,
		stores: map[string]*pinstore.Store{},
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		a.stdinTTY = true
		a.readPassword = func() (string, error) {
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(a.stderr)
			return string(b), err
		}
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		a.stderrTTY = true
	}
	return a
}

// close closes every store opened.
func (a *app) close() {
	for name, s := range a.stores {
		if err := s.Close(); err != nil {
			a.errorf("closing backend %s: %v", name, err)
		}
	}
}

// errorf prints an error for the clerk on stderr.
func (a *app) errorf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "binderyctl: "+format+"\n", args...)
}

// warnf prints a warning on stderr.
func (a *app) warnf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "binderyctl: warning: "+format+"\n", args...)
}

// config loads the configuration once.
func (a *app) config() (*config.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	cfg, err := config.Load(a.cfgPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no configuration at %s: give --config FILE or set BINDERY_CONFIG", a.cfgPath)
		}
		return nil, fmt.Errorf("%s: %w", a.cfgPath, err)
	}
	a.cfg = cfg
	return cfg, nil
}

// store opens the pinstore backend called name once.
func (a *app) store(name string) (*pinstore.Store, error) {
	if s, ok := a.stores[name]; ok {
		return s, nil
	}
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	if b, ok := cfg.Backends[name]; ok && b.PINStore() != nil && b.PINStore().Driver != "postgres" && relativeDSN(b.PINStore().DSN) {
		wd, _ := os.Getwd()
		a.warnf("backend.%s.dsn %q is a relative path: opening it in the current folder %s", name, b.PINStore().DSN, wd)
	}
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := config.OpenStore(a.ctx, cfg, name, logger)
	if err != nil {
		return nil, fmt.Errorf("cannot open the PIN store: %w", err)
	}
	a.stores[name] = s
	return s, nil
}

func relativeDSN(dsn string) bool {
	if dsn == "" || dsn == ":memory:" || strings.HasPrefix(dsn, "file:") {
		return false
	}
	return !filepath.IsAbs(dsn)
}

// target is an ID resolved through the routes as the server does it.
type target = desk.Target

// desk resolves IDs against the configuration, opening stores on demand.
func (a *app) desk() (*desk.Desk, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	return &desk.Desk{Config: cfg, Store: a.store}, nil
}

// resolve routes id; ok=false when it matches no route.
func (a *app) resolve(id string) (*target, bool, error) {
	d, err := a.desk()
	if err != nil {
		return nil, false, err
	}
	t, ok := d.Resolve(id)
	return t, ok, nil
}

// noRouteError is the message for an ID that matches no route.
func noRouteError(id string) error {
	return fmt.Errorf("%s matches no route: check the number on the card", id)
}

// notPinstoreError is the message for an ID whose password bindery does not own.
func notPinstoreError(t *target) error {
	return fmt.Errorf("%s is a %s login: its password is managed by the %s directory, not bindery",
		t.Typed, t.Route.Name, t.BackendName)
}

// idCommand is the start of every command that takes exactly one ID: it
// parses the command's flags (fs) from args, runs check (the command's own
// usage checks of its flags; nil: none) and resolves the ID to its PIN
// store (see pinTarget).
func (a *app) idCommand(fs *flag.FlagSet, args []string, patronRecord bool, check func() error) (*pinstore.Store, *target, error) {
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return nil, nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, nil, err
		}
	}
	return a.pinTarget(pos[0], patronRecord)
}

// pinTarget resolves id to its pinstore and normalised ID (desk.PinTarget),
// or explains why the ID is not one of bindery's own accounts. With
// patronRecord, a campus ID on a route with require_patron resolves to its
// library record in the route's patron backend (the record has no PIN: the
// campus directory checks the password).
func (a *app) pinTarget(id string, patronRecord bool) (*pinstore.Store, *target, error) {
	d, err := a.desk()
	if err != nil {
		return nil, nil, err
	}
	s, t, err := d.PinTarget(id, patronRecord)
	var nr *desk.NoRouteError
	var ce *desk.CampusError
	switch {
	case errors.Is(err, desk.ErrEmptyID):
		return nil, nil, usagef("the ID is empty")
	case errors.As(err, &nr):
		return nil, nil, noRouteError(id)
	case errors.As(err, &ce):
		return nil, nil, notPinstoreError(ce.Target)
	}
	return s, t, err
}

// onlyPinstore picks the pinstore for commands without an ID (import,
// export): the one named, or the only one in the config.
func (a *app) onlyPinstore(name string) (*pinstore.Store, string, error) {
	d, err := a.desk()
	if err != nil {
		return nil, "", err
	}
	s, n, err := d.OnlyPinstore(name)
	var several *desk.SeveralPinstoresError
	var notPS *desk.NotPinstoreError
	switch {
	case errors.Is(err, desk.ErrNoPinstore):
		return nil, "", errors.New("the configuration has no pinstore backend")
	case errors.As(err, &several):
		return nil, "", usagef("the configuration has %d pinstore backends (%s): say which with --backend NAME",
			len(several.Names), strings.Join(several.Names, ", "))
	case errors.As(err, &notPS):
		return nil, "", fmt.Errorf("backend %q is not a pinstore backend in %s", notPS.Name, a.cfgPath)
	}
	return s, n, err
}

// readLine reads one line of standard input without its line ending.
func (a *app) readLine() (string, error) {
	line, err := a.in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readSecret reads a secret: on a terminal it prompts twice without echo
// and checks the two match; otherwise it reads one line of standard input.
// check, when set, judges the first entry before the second is asked for.
func (a *app) readSecret(what string, check func(string) error) (string, error) {
	if !a.stdinTTY || a.readPassword == nil {
		s, err := a.readLine()
		if errors.Is(err, io.EOF) || (err == nil && s == "") {
			return "", fmt.Errorf("no %s on standard input", what)
		}
		if err != nil {
			return "", fmt.Errorf("reading the %s: %w", what, err)
		}
		return s, nil
	}
	fmt.Fprintf(a.stderr, "%s: ", capitalise(what))
	first, err := a.readPassword()
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	if first == "" {
		return "", fmt.Errorf("no %s entered", what)
	}
	if check != nil {
		if err := check(first); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(a.stderr, "Again: ")
	second, err := a.readPassword()
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	if !secretsEqual(first, second) {
		return "", fmt.Errorf("the two entries differ: nothing changed, try again")
	}
	return first, nil
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
