package main

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/version"
)

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		var out, errb bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, c := range commands {
			if !strings.Contains(out.String(), "  "+c.name+" ") {
				t.Errorf("%v: %q missing from help", args, c.name)
			}
		}
	}
	e := newEnv(t)
	r := e.ok("", "patron", "add", "-h")
	mustContain(t, "command help", r.out, "usage: binderyctl patron add ID --name NAME")
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	missing := filepath.Join(t.TempDir(), "none.toml")
	broken := writeFile(t, t.TempDir(), "broken.toml", "[server]\nsuffix = \"dc=x\"\n")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "usage:"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"patron", "eat"}, 2, `unknown command "patron eat"`},
		{"bad global flag", []string{"--colour", "patron", "list"}, 2, "colour"},
		{"missing config", []string{"--config", missing, "patron", "list"}, 1, "no configuration at " + missing},
		{"broken config", []string{"--config", broken, "patron", "list"}, 1, "route: at least one"},
		{"show unknown", []string{"--config", e.cfg, "patron", "show", "CU7654321"}, 1, "add it with `binderyctl patron add CU7654321 --name ...`"},
		{"show campus", []string{"--config", e.cfg, "patron", "show", "jchan"}, 1, "jchan is a campus login"},
		{"audit no route", []string{"--config", e.cfg, "audit", "CU-1"}, 1, "matches no route"},
		{"empty ID", []string{"--config", e.cfg, "patron", "show", ""}, 2, "the ID is empty"},
		{"bad limit", []string{"--config", e.cfg, "audit", "CU1234567", "--limit", "0"}, 2, "--limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out.String(), errb.String())
			}
			mustContain(t, tc.name, errb.String(), tc.want)
			if !strings.HasPrefix(errb.String(), "binderyctl: ") && !strings.HasPrefix(errb.String(), "binderyctl: bindery's") {
				t.Errorf("stderr not prefixed: %q", errb.String())
			}
		})
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	e := newEnv(t)
	t.Setenv("BINDERY_CONFIG", e.cfg)
	var out, errb bytes.Buffer
	if code := run([]string{"--operator", "envtest", "patron", "add", "CU1234567", "--name", "X"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	r := e.ok("", "audit", "CU1234567")
	mustContain(t, "audit", r.out, "envtest")
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		pos     string
		name    string
		yes     bool
		wantErr bool
	}{
		{[]string{"ID", "--name", "X"}, "ID", "X", false, false},
		{[]string{"--name", "X", "ID"}, "ID", "X", false, false},
		{[]string{"ID", "--yes", "OTHER", "--name=Y"}, "ID OTHER", "Y", true, false},
		{[]string{"--", "--name", "ID"}, "--name ID", "", false, false},
		{[]string{"A", "--", "-B"}, "A -B", "", false, false},
		{[]string{"ID", "--name"}, "", "", false, true},
		{[]string{"ID", "--nope"}, "", "", false, true},
	}
	for _, tc := range tests {
		fs := newFlags("t")
		name := fs.String("name", "", "")
		yes := fs.Bool("yes", false, "")
		pos, err := parseFlags(fs, tc.args)
		if (err != nil) != tc.wantErr {
			t.Errorf("%v: err = %v", tc.args, err)
			continue
		}
		if err != nil {
			continue
		}
		if strings.Join(pos, " ") != tc.pos || *name != tc.name || *yes != tc.yes {
			t.Errorf("%v: pos %q name %q yes %v", tc.args, pos, *name, *yes)
		}
	}
	if _, err := parseFlags(newFlags("t"), []string{"-h"}); err != flag.ErrHelp {
		t.Errorf("-h: %v", err)
	}
}

func TestVersionFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := "binderyctl " + version.Get().String() + "\n"
	if out.String() != want || !strings.Contains(want, "(commit ") {
		t.Fatalf("--version printed %q, want %q", out.String(), want)
	}
}
