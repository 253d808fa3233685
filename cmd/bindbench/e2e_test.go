package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/slapdtest"
)

// startSlapd starts a slapd holding n generated users (LDIF from
// WriteLDIF) and returns it with the path of a users CSV for it.
func startSlapd(t *testing.T, n int) (*slapdtest.Server, string) {
	t.Helper()
	users, err := Generate(GenOptions{Count: n, Prefix: "CU", Start: 1, Digits: 7, PINFormat: "Pw-%08dx", Domain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	var ldif bytes.Buffer
	if err := WriteLDIF(&ldif, users, slapdtest.PeopleDN, true); err != nil {
		t.Fatal(err)
	}
	s := slapdtest.Start(t, slapdtest.Options{LDIF: ldif.String()})
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := writeFile(path, func(w io.Writer) error { return WriteUsersCSV(w, users, slapdtest.PeopleDN) }); err != nil {
		t.Fatal(err)
	}
	return s, path
}

func target(t *testing.T, s *slapdtest.Server, usersPath, mode string) *Target {
	t.Helper()
	f := sideFlags{url: s.URL(), users: usersPath, serviceDN: s.AdminDN(), servicePassword: s.AdminPassword(),
		base: slapdtest.PeopleDN, filter: "(&(objectClass=person)(uid=%s))"}
	tg, err := f.target(mode)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestRunSideAgainstSlapd(t *testing.T) {
	s, users := startSlapd(t, 20)
	tests := []struct {
		name string
		load Load
	}{
		{"bind", Load{Mode: ModeBind, Conns: 2, Duration: time.Second, Timeout: 5 * time.Second}},
		{"search-bind", Load{Mode: ModeSearchBind, Conns: 2, Duration: time.Second, Timeout: 5 * time.Second}},
		{"bind reconnect random prime", Load{Mode: ModeBind, Conns: 2, Duration: 500 * time.Millisecond, Warmup: 200 * time.Millisecond,
			Reconnect: 3, Random: true, Seed: 7, Prime: true, Timeout: 5 * time.Second}},
		{"search-bind with wrong passwords", Load{Mode: ModeSearchBind, Conns: 2, Duration: 500 * time.Millisecond, Wrong: 0.3, Seed: 1, Timeout: 5 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := RunSide(context.Background(), target(t, s, users, tt.load.Mode), &tt.load)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK == 0 {
				t.Fatalf("no successful binds: %+v", r)
			}
			if r.Errors != 0 || r.PrimeErr != 0 {
				t.Fatalf("unexpected errors: %v (prime %d)", r.ByCode, r.PrimeErr)
			}
			if (tt.load.Wrong > 0) != (r.Exp49 > 0) {
				t.Errorf("expected_49 = %d with --wrong %v", r.Exp49, tt.load.Wrong)
			}
			if r.PerSec <= 0 || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 || r.Latency.Max < r.Latency.P99 {
				t.Errorf("implausible summary: %.1f/s %+v", r.PerSec, r.Latency)
			}
		})
	}
}

func TestCompareTwoSlapds(t *testing.T) {
	a, usersA := startSlapd(t, 10)
	b, usersB := startSlapd(t, 10)
	l := Load{Mode: ModeBind, Conns: 2, Duration: 500 * time.Millisecond, Timeout: 5 * time.Second}
	rep, err := Compare(context.Background(), target(t, a, usersA, ModeBind), target(t, b, usersB, ModeBind), &l, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rounds) != 2 || len(rep.Ratios) != 2 {
		t.Fatalf("%d rounds, %d ratios", len(rep.Rounds), len(rep.Ratios))
	}
	for _, rd := range rep.Rounds {
		if rd.A.URL != a.URL() || rd.B.URL != b.URL() || rd.Ratio <= 0 {
			t.Errorf("round %d: A %s B %s ratio %v", rd.N, rd.A.URL, rd.B.URL, rd.Ratio)
		}
	}
	if rep.MedianRatio <= 0 {
		t.Errorf("median ratio %v", rep.MedianRatio)
	}
	if f := rep.Check(0.01); len(f) > 0 {
		t.Errorf("failures: %v", f)
	}
}

func TestCLIAgainstSlapd(t *testing.T) {
	s, users := startSlapd(t, 5)
	b, usersB := startSlapd(t, 5)
	badUsers := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(badUsers, []byte("\"uid=CU0000001,"+slapdtest.PeopleDN+"\",Not-The-PIN-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--conns", "2", "--duration", "300ms", "--warmup", "100ms"}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, rep *Report)
	}{
		{"json compare search-bind", append([]string{"--url", s.URL(), "--users", users, "--against", b.URL(), "--against-users", usersB,
			"--mode", "search-bind", "--service-dn", s.AdminDN(), "--service-password", s.AdminPassword(), "--base", slapdtest.PeopleDN,
			"--rounds", "1", "--json"}, common...), 0,
			func(t *testing.T, rep *Report) {
				if rep.B == nil || rep.A.OK == 0 || rep.B.OK == 0 || rep.MedianRatio <= 0 {
					t.Errorf("report: A %+v B %+v median %v", rep.A, rep.B, rep.MedianRatio)
				}
			}},
		{"wrong passwords above the error rate", append([]string{"--url", s.URL(), "--users", badUsers, "--json"}, common...), 1,
			func(t *testing.T, rep *Report) {
				if rep.A.ByCode["49"] == 0 || len(rep.Failures) != 1 {
					t.Errorf("want 49 errors and one failure: %v %v", rep.A.ByCode, rep.Failures)
				}
			}},
		{"server CPU found by port, not measured with -1", append([]string{"--url", s.URL(), "--users", users, "--against", b.URL(), "--against-users", usersB,
			"--against-pid", "-1", "--rounds", "1", "--json"}, common...), 0,
			func(t *testing.T, rep *Report) {
				if c := rep.A.CPU; !c.usable() || c.PID != s.PID() || c.UsPerOp <= 0 {
					t.Errorf("side A server_cpu: %+v (slapd pid %d)", c, s.PID())
				}
				if rep.B.CPU != nil || len(rep.CPURatios) != 0 {
					t.Errorf("side B measured with --against-pid -1: %+v %v", rep.B.CPU, rep.CPURatios)
				}
			}},
		{"bad --also-pid", []string{"--url", s.URL(), "--users", users, "--also-pid", "x"}, 2, nil},
		{"no server", []string{"--url", "ldap://127.0.0.1:1", "--users", users, "--duration", "100ms"}, 1, nil},
		{"search-bind without base", []string{"--url", s.URL(), "--users", users, "--mode", "search-bind", "--service-dn", "x", "--service-password", "y"}, 2, nil},
		{"bad mode", []string{"--url", s.URL(), "--users", users, "--mode", "nope"}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := benchMain(context.Background(), tt.args, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out.String(), errOut.String())
			}
			if tt.check != nil {
				var rep Report
				if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, out.String())
				}
				tt.check(t, &rep)
			}
			if strings.Contains(out.String()+errOut.String(), "Pw-0000") {
				t.Error("a password was printed")
			}
		})
	}
}

// TestBurstAgainstSlapd: --burst binds N distinct users at once from
// --source and counts each result; a user whose password in the file is
// wrong is counted as a 49, never as a success.
func TestBurstAgainstSlapd(t *testing.T) {
	s, users := startSlapd(t, 20)
	data, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	// Break the fourth user's password.
	lines := strings.Split(string(data), "\n")
	lines[4] = strings.Replace(lines[4], "x,", "y,", 1)
	if err := os.WriteFile(users, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := benchMain(context.Background(), []string{"--url", s.URL(), "--users", users, "--burst", "20", "--source", "127.0.0.2", "--label", "b20"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"b20\n", "burst: 20 binds at the same instant, 20 distinct users from 127.0.0.2", "0 Success", "49 Invalid Credentials", "burst n=20 ok=19 refused_51=0 wrong_49=1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := benchMain(context.Background(), []string{"--url", s.URL(), "--users", users, "--burst", "5", "--burst-offset", "10", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("json: exit %d\n%s", code, errOut.String())
	}
	var r BurstResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.N != 5 || r.OK != 5 || r.ByCode["0"] != 5 || r.LastS <= 0 {
		t.Fatalf("json burst: %v %+v", err, r)
	}
	for _, args := range [][]string{
		{"--url", s.URL(), "--users", users, "--burst", "21"},
		{"--url", s.URL(), "--users", users, "--burst", "5", "--mode", "search-bind"},
		{"--url", s.URL(), "--users", users, "--burst", "5", "--source", "not-an-ip"},
	} {
		if code := benchMain(context.Background(), args, &out, &errOut); code == 0 {
			t.Errorf("%v: exit 0, want a refusal", args)
		}
	}
}

// TestServerCPUAgainstSlapd: the CPU of the process listening on each
// side's port (found through /proc) is read around each round; slapd
// spends some of it on every bind, so the figure is positive, and an
// explicit --also-pid is counted apart.
func TestServerCPUAgainstSlapd(t *testing.T) {
	a, usersA := startSlapd(t, 20)
	b, usersB := startSlapd(t, 20)
	ta, tb := target(t, a, usersA, ModeBind), target(t, b, usersB, ModeBind)
	var err error
	if ta.CPU, err = resolveWatch(ta.URL, 0, []int{b.PID()}); err != nil {
		t.Fatal(err)
	}
	if tb.CPU, err = resolveWatch(tb.URL, 0, nil); err != nil {
		t.Fatal(err)
	}
	if ta.CPU.PID != a.PID() || tb.CPU.PID != b.PID() {
		t.Fatalf("found pids %d and %d, want slapd's %d and %d", ta.CPU.PID, tb.CPU.PID, a.PID(), b.PID())
	}
	l := Load{Mode: ModeBind, Conns: 4, Duration: time.Second, Warmup: 100 * time.Millisecond, Timeout: 5 * time.Second}
	rep, err := Compare(context.Background(), ta, tb, &l, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*SideResult{rep.Rounds[0].A, rep.Rounds[0].B, rep.A, rep.B} {
		c := s.CPU
		// Plausible: more than nothing, less than 2 cores for every µs of wall time per op.
		if !c.usable() || c.UsPerOp <= 0 || c.Cores <= 0 || c.Cores > float64(16) {
			t.Errorf("side %s: implausible server CPU %+v over %d ops", s.Side, c, s.Ops)
		}
		t.Logf("side %s: %.1f binds/s, %.1f µs CPU per bind, %.2f cores, +%.1f µs behind", s.Side, s.PerSec, c.UsPerOp, c.Cores, c.AlsoPerOp)
	}
	// Slapd B sits idle while A is measured: what is counted behind A is near nothing.
	if rep.A.CPU.AlsoPerOp > rep.A.CPU.UsPerOp {
		t.Errorf("idle process behind A counted %.1f µs/op, more than A itself (%.1f)", rep.A.CPU.AlsoPerOp, rep.A.CPU.UsPerOp)
	}
	if rep.MedianCPURatio <= 0 || len(rep.CPURatiosAll) != 1 {
		t.Errorf("cpu ratios: %v %v", rep.CPURatios, rep.CPURatiosAll)
	}
	var out bytes.Buffer
	WriteTable(&out, rep)
	for _, want := range []string{"cpu µs/op", "ratio A/B (server CPU per op) per round", "server CPU: pid"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())
}
