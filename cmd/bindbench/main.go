// Command bindbench is bindery's load generator: binds (or search then
// bind) on persistent connections for a fixed time, printing binds per
// second, latency percentiles and result codes, and with --against the
// ratio to a second server in alternating rounds. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit status: 0 done, 1 failed
// (or a side above --max-error-rate), 2 called wrongly, 130 interrupted.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "gen-users" {
		return genUsersMain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "summary" {
		return summaryMain(args[1:], stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && args[0] == "floor" {
		return floorMain(ctx, args[1:], stdout, stderr)
	}
	return benchMain(ctx, args, stdout, stderr)
}

// sideFlags are the flags that exist for side A and, prefixed "against-",
// for side B.
type sideFlags struct {
	url, users, serviceDN, servicePassword, base, filter string
}

func (s *sideFlags) register(fs *flag.FlagSet, prefix, what string) {
	urlName := "url"
	if prefix != "" {
		urlName = "against"
	}
	fs.StringVar(&s.url, urlName, "", "LDAP URL of "+what+", e.g. ldap://127.0.0.1:3893")
	if prefix != "" {
		what += " (default: side A's value)"
	}
	fs.StringVar(&s.users, prefix+"users", "", "CSV of bind_dn,password[,id] rows for "+what)
	fs.StringVar(&s.serviceDN, prefix+"service-dn", "", "search-bind: DN of the service account on "+what)
	fs.StringVar(&s.servicePassword, prefix+"service-password", "", "search-bind: its password")
	fs.StringVar(&s.base, prefix+"base", "", "search-bind: search base on "+what)
	fs.StringVar(&s.filter, prefix+"filter", "", "search-bind: filter, %s is the escaped ID (default \"(uid=%s)\")")
}

// inherit fills empty fields from a (side B defaults to side A).
func (s *sideFlags) inherit(a *sideFlags) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&s.users, a.users)
	def(&s.serviceDN, a.serviceDN)
	def(&s.servicePassword, a.servicePassword)
	def(&s.base, a.base)
	def(&s.filter, a.filter)
}

func (s *sideFlags) target(mode string) (*Target, error) {
	if s.filter == "" {
		s.filter = "(uid=%s)"
	}
	search := mode == ModeSearchBind
	if search {
		var missing []string
		if s.serviceDN == "" {
			missing = append(missing, "service-dn")
		}
		if s.servicePassword == "" {
			missing = append(missing, "service-password")
		}
		if s.base == "" {
			missing = append(missing, "base")
		}
		if !strings.Contains(s.filter, "%s") {
			return nil, fmt.Errorf("filter %q has no %%s for the ID", s.filter)
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("search-bind needs --%s", strings.Join(missing, ", --"))
		}
	}
	users, err := LoadUsersFile(s.users, search)
	if err != nil {
		return nil, err
	}
	if search {
		prepareFilters(users, s.filter)
	}
	return &Target{URL: s.url, Users: users, ServiceDN: s.serviceDN, ServicePassword: s.servicePassword,
		Base: s.base, Filter: s.filter}, nil
}

func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bindbench", usageText, stderr)
	var a, b sideFlags
	a.register(fs, "", "side A")
	b.register(fs, "against-", "side B")
	l := Load{}
	fs.StringVar(&l.Mode, "mode", ModeBind, "bind (repeated binds) or search-bind (service bind, search, bind as the found DN)")
	fs.IntVar(&l.Conns, "conns", 16, "persistent connections (one goroutine each)")
	fs.DurationVar(&l.Duration, "duration", 10*time.Second, "measured time per side per round")
	fs.DurationVar(&l.Warmup, "warmup", 2*time.Second, "load before measuring, not counted")
	fs.IntVar(&l.Reconnect, "reconnect", 0, "open a new connection every N ops (0: never)")
	fs.Float64Var(&l.Wrong, "wrong", 0, "share of ops with a wrong password (0-1); their 49 counts as expected_49")
	pick := fs.String("pick", "rr", "how each connection picks users: rr (round-robin) or random")
	fs.Uint64Var(&l.Seed, "seed", 1, "seed for --pick random and --wrong")
	fs.DurationVar(&l.Timeout, "timeout", 5*time.Second, "dial and per-request timeout")
	fs.BoolVar(&l.Prime, "prime", false, "bind as every user once before the warm-up (fills a cache), not counted")
	fs.StringVar(&l.Source, "source", "", "local IP address to connect from, e.g. 127.0.0.2 (several loads from distinct client addresses)")
	burst := fs.Int("burst", 0, "instead of a timed load: open N connections, then bind N distinct users (the first N of --users, from --burst-offset) at the same instant, once each; print the count of each result and the time to the last success")
	burstOffset := fs.Int("burst-offset", 0, "with --burst: the index of the first user")
	rounds := fs.Int("rounds", 0, "rounds (A then B each); default 3 with --against, else 1")
	maxErr := fs.Float64("max-error-rate", 0.01, "exit 1 when a side's unexpected errors exceed this share of its ops")
	jsonOut := fs.Bool("json", false, "print one JSON document instead of the table")
	label := fs.String("label", "", "name of this run, kept in the report (for bindbench summary)")
	pidA := fs.Int("pid", 0, "process whose CPU time is side A's server CPU (0: the process listening on --url's port; -1: do not measure)")
	pidB := fs.Int("against-pid", 0, "the same for side B (0: the process listening on --against's port; -1: do not measure)")
	alsoA := fs.String("also-pid", "", "comma-separated processes behind side A (e.g. the slapd behind bindery) whose CPU is counted apart, as +behind")
	alsoB := fs.String("against-also-pid", "", "the same for side B")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	usageErr := usageError(stderr, fs.Name())
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case a.url == "":
		return usageErr("--url is required")
	case a.users == "":
		return usageErr("--users is required")
	case l.Mode != ModeBind && l.Mode != ModeSearchBind:
		return usageErr("--mode %q is not bind or search-bind", l.Mode)
	case l.Conns < 1:
		return usageErr("--conns must be at least 1")
	case l.Duration <= 0:
		return usageErr("--duration must be positive")
	case l.Warmup < 0 || l.Reconnect < 0 || l.Timeout <= 0:
		return usageErr("--warmup, --reconnect and --timeout must not be negative")
	case l.Wrong < 0 || l.Wrong > 1:
		return usageErr("--wrong must be between 0 and 1")
	case *pick != "rr" && *pick != "random":
		return usageErr("--pick %q is not rr or random", *pick)
	case *rounds < 0:
		return usageErr("--rounds must be positive")
	case *burst < 0 || *burstOffset < 0:
		return usageErr("--burst and --burst-offset must not be negative")
	case *burst > 0 && (b.url != "" || l.Mode != ModeBind):
		return usageErr("--burst goes with --mode bind and one server (no --against)")
	case l.Source != "" && net.ParseIP(l.Source) == nil:
		return usageErr("--source %q is not an IP address", l.Source)
	}
	if *burst > 0 {
		timeoutSet := false
		fs.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
		if !timeoutSet {
			l.Timeout = time.Minute // what Net::LDAP, mod_ldap and JNDI wait, or less
		}
		ta, err := a.target(l.Mode)
		if err != nil {
			return usageErr("%v", err)
		}
		r, err := RunBurst(ctx, ta, &l, *burst, *burstOffset)
		if err != nil {
			fmt.Fprintln(stderr, "bindbench:", err)
			if ctx.Err() != nil {
				return 130
			}
			return 1
		}
		if *jsonOut {
			if err := writeJSONValue(stdout, r); err != nil {
				fmt.Fprintln(stderr, "bindbench:", err)
				return 1
			}
			return 0
		}
		WriteBurst(stdout, r, *label)
		return 0
	}
	l.Random = *pick == "random"
	if *rounds == 0 {
		*rounds = 1
		if b.url != "" {
			*rounds = 3
		}
	}
	ta, err := a.target(l.Mode)
	if err != nil {
		return usageErr("side A: %v", err)
	}
	var tb *Target
	if b.url != "" {
		b.inherit(&a)
		if tb, err = b.target(l.Mode); err != nil {
			return usageErr("side B: %v", err)
		}
	}
	for _, s := range []struct {
		t    *Target
		pid  int
		also string
		name string
	}{{ta, *pidA, *alsoA, "also-pid"}, {tb, *pidB, *alsoB, "against-also-pid"}} {
		if s.t == nil {
			continue
		}
		also, err := parsePIDs(s.also)
		if err != nil {
			return usageErr("--%s: %v", s.name, err)
		}
		// A process that cannot be found leaves the CPU columns empty; the
		// load still runs.
		if s.t.CPU, err = resolveWatch(s.t.URL, s.pid, also); err != nil {
			fmt.Fprintf(stderr, "bindbench: %v; server CPU not measured for %s\n", err, s.t.URL)
		}
	}

	progress := func(r *SideResult) {
		cpu := ""
		if r.CPU.usable() {
			cpu = fmt.Sprintf(", server CPU %.1f µs/op", r.CPU.UsPerOp)
			if r.CPU.hasAlso() {
				cpu += fmt.Sprintf(" (+%.1f behind)", r.CPU.AlsoPerOp)
			}
		}
		fmt.Fprintf(stderr, "bindbench: round %d side %s %s: %.1f binds/s, p99 %.3f ms%s, %d errors\n",
			r.Round, r.Side, r.URL, r.PerSec, r.Latency.P99, cpu, r.Errors)
	}
	rep, err := Compare(ctx, ta, tb, &l, *rounds, progress)
	if err != nil {
		fmt.Fprintln(stderr, "bindbench:", err)
		if ctx.Err() != nil {
			return 130 // interrupted: the shell convention for SIGINT
		}
		return 1
	}
	rep.Label = *label
	failures := rep.Check(*maxErr)
	if *jsonOut {
		if err := WriteJSON(stdout, rep); err != nil {
			fmt.Fprintln(stderr, "bindbench:", err)
			return 1
		}
	} else {
		WriteTable(stdout, rep)
	}
	if len(failures) > 0 {
		return 1
	}
	return 0
}

const usageText = `usage:
  bindbench --url URL --users FILE.csv [flags]                 load one server
  bindbench --url URL --users A.csv --against URL2 --against-users B.csv [flags]
                                                               compare two servers (A B A B …)
  bindbench gen-users --count N --prefix CU --out users.csv [...]  write test users (gen-users -h)
  bindbench summary REPORT.json...                             one table from --json reports
  bindbench floor --listen ADDR [--upstream ldap://H:P]        the least a Go LDAP server (or relay) does (floor -h)

users CSV: bind_dn,password[,id] (header row optional; '#' comments).

`

// newFlagSet is the flag set of a (sub)command, e.g. "bindbench floor":
// its messages go to stderr, and -h prints usage (when not "") before
// the flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if usage != "" {
		fs.Usage = func() {
			fmt.Fprint(stderr, usage)
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args into fs. done: the command ends now, with code 0
// after -h or 2 after a bad flag (fs has said which).
func parseFlags(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	return 0, false
}

// usageError returns the way a command named name reports a wrong call:
// "name: message" on stderr, and exit status 2.
func usageError(stderr io.Writer, name string) func(format string, args ...any) int {
	return func(format string, args ...any) int {
		fmt.Fprintf(stderr, name+": "+format+"\n", args...)
		return 2
	}
}
