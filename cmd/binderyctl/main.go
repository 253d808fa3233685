// Command binderyctl is bindery's counter-staff and admin tool: it adds and
// looks after patrons in the PIN store, sets and resets PINs, replaces
// cards, imports and exports patron lists, explains why an ID cannot log in,
// shows the staff audit trail and prints password hashes for the config.
//
// It reads the same configuration file as the server and resolves every ID
// through the same routes, so an ID means here what it means to a bind.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"

	"github.com/bindery/bindery/internal/version"
)

// DefaultConfigPath is where binderyctl looks for the configuration when
// neither --config nor BINDERY_CONFIG says otherwise.
const DefaultConfigPath = "/etc/bindery/bindery.toml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program: args without the program name; it returns the
// exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := newApp(stdin, stdout, stderr)
	defer a.close()
	return a.main(args)
}

// command is one binderyctl command (or command group entry).
type command struct {
	name  string // "patron add"
	args  string // argument synopsis
	short string // one line for help
	run   func(a *app, args []string) error
}

// commands lists every command in the order help shows them.
var commands []command

func init() {
	commands = []command{
		{"patron add", "ID --name NAME [--email E] [--category C] [--institution I] [--active-from YYYY-MM-DD] [--expires YYYY-MM-DD] [--setup-code]", "add a patron to the PIN store (no PIN yet)", cmdPatronAdd},
		{"patron update", "ID [--name NAME] [--email E] [--category C] [--institution I] [--active-from YYYY-MM-DD|none] [--expires YYYY-MM-DD|none]", "change a patron's details or dates (e.g. renew an expired account)", cmdPatronUpdate},
		{"patron show", "ID", "show one patron (never the PIN hash)", cmdPatronShow},
		{"patron list", "[--category C] [--status S] [--prefix P] [--limit N]", "list patrons", cmdPatronList},
		{"patron suspend", "ID --reason TEXT", "stop a patron from logging in until resumed", cmdPatronSuspend},
		{"patron resume", "ID", "undo a suspension (or an expired status)", cmdPatronResume},
		{"patron expire", "ID", "end a patron's account now", cmdPatronExpire},
		{"patron delete", "ID [--yes]", "remove a patron (the audit trail stays)", cmdPatronDelete},
		{"pin set", "ID", "set the PIN the patron chose (read from standard input)", cmdPinSet},
		{"pin reset", "ID", "give a one-time PIN the patron must change at next login", cmdPinReset},
		{"unlock", "ID", "clear the failure count and any lock", cmdUnlock},
		{"setup-code", "ID", "issue a one-time code for the self-service PIN page (printed once)", cmdSetupCode},
		{"card replace", "OLD NEW", "move a patron to a new card number (PIN and history kept)", cmdCardReplace},
		{"import", "FILE.csv [--strict] [--backend NAME]", "load patrons from CSV (\"-\" reads standard input)", cmdImport},
		{"export", "[--with-hashes] [--backend NAME]", "write every patron as CSV to standard output", cmdExport},
		{"explain", "ID", "why an ID can or cannot log in, and what to do", cmdExplain},
		{"audit", "ID [--limit N]", "the staff actions on a patron, newest first", cmdAudit},
		{"hash", "", "print the argon2id hash of a secret read from standard input", cmdHash},
		{"help", "", "this list", cmdHelp},
	}
}

// main parses the global flags and dispatches.
func (a *app) main(args []string) int {
	fs := flag.NewFlagSet("binderyctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "configuration file")
	operator := fs.String("operator", "", "who is acting, for the staff audit trail")
	jsonOut := fs.Bool("json", false, "machine-readable output")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(a.stdout)
			return 0
		}
		a.errorf("%v (see `binderyctl help`)", err)
		return 2
	}
	if *showVersion {
		fmt.Fprintln(a.stdout, "binderyctl", version.Get())
		return 0
	}
	a.json = *jsonOut
	a.cfgPath, a.cfgExplicit = *cfgPath, *cfgPath != ""
	if a.cfgPath == "" {
		if env := os.Getenv("BINDERY_CONFIG"); env != "" {
			a.cfgPath, a.cfgExplicit = env, true
		} else {
			a.cfgPath = DefaultConfigPath
		}
	}
	a.operator = *operator
	if a.operator == "" {
		a.operator = defaultOperator()
	}

	rest := fs.Args()
	if len(rest) == 0 {
		a.usage(a.stderr)
		return 2
	}
	cmd, cmdArgs, ok := lookup(rest)
	if !ok {
		a.errorf("unknown command %q (see `binderyctl help`)", strings.Join(rest[:min(2, len(rest))], " "))
		return 2
	}
	if err := cmd.run(a, cmdArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(a.stdout, "usage: binderyctl %s %s\n  %s\n", cmd.name, cmd.args, cmd.short)
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			a.errorf("%s\nusage: binderyctl %s %s", ue.msg, cmd.name, cmd.args)
			return 2
		}
		if errors.Is(err, errSilent) {
			return 1
		}
		a.errorf("%s", err)
		return 1
	}
	return 0
}

// lookup finds the command named by the first one or two words of args.
func lookup(args []string) (command, []string, bool) {
	switch args[0] {
	case "-h", "--help", "-help":
		args = append([]string{"help"}, args[1:]...)
	}
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c, args[len(words):], true
		}
	}
	return command{}, nil, false
}

func cmdHelp(a *app, args []string) error {
	a.usage(a.stdout)
	return nil
}

// usage prints every command with one line each.
func (a *app) usage(w io.Writer) {
	fmt.Fprintf(w, `binderyctl: bindery's counter-staff and admin tool

usage: binderyctl [--config FILE] [--operator NAME] [--json] COMMAND [ARGS]
       binderyctl --version

global flags:
  --config FILE    configuration (default %s; env BINDERY_CONFIG)
  --operator NAME  who is acting, recorded in the staff audit trail (default: your login)
  --json           machine-readable output
  --version        print the version, commit and Go version, and exit

commands:
`, DefaultConfigPath)
	t := newTable(w)
	for _, c := range commands {
		fmt.Fprintf(t, "  %s\t%s\n", c.name, c.short)
	}
	t.Flush()
	fmt.Fprintf(w, "\nsynopsis:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  binderyctl %s %s\n", c.name, c.args)
	}
	fmt.Fprintf(w, "\nA patron who cannot log in: start with `binderyctl explain ID`.\n")
}

// defaultOperator is the OS user running binderyctl.
func defaultOperator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if v := os.Getenv("USER"); v != "" {
		return v
	}
	return "binderyctl"
}

// usageError is a mistake in how a command was called (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errSilent: the command has already said everything; exit 1 quietly.
var errSilent = errors.New("failed")
