package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/passhash"
)

func TestGenerate(t *testing.T) {
	tests := []struct {
		name    string
		o       GenOptions
		first   GenUser
		wantErr string
	}{
		{"defaults", GenOptions{Count: 3, Prefix: "CU", Start: 1, Digits: 7, PINFormat: "Pw-%08dx", Domain: "example.org"},
			GenUser{ID: "CU0000001", Password: "Pw-00000001x", Name: "Bench User 1", Email: "cu0000001@example.org"}, ""},
		{"campus ids", GenOptions{Count: 1, Prefix: "u", Start: 42, Digits: 4, PINFormat: "Campus-%d!", Domain: "x.edu"},
			GenUser{ID: "u0042", Password: "Campus-42!", Name: "Bench User 42", Email: "u0042@x.edu"}, ""},
		{"too many for the digits", GenOptions{Count: 100, Start: 1, Digits: 2, PINFormat: "%d"}, GenUser{}, "do not fit"},
		{"no verb", GenOptions{Count: 1, Digits: 3, PINFormat: "Same-PIN-for-all"}, GenUser{}, "integer verb"},
		{"zero count", GenOptions{Count: 0, Digits: 3, PINFormat: "%d"}, GenUser{}, "--count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, err := Generate(tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != tt.o.Count || users[0] != tt.first {
				t.Fatalf("got %d users, first %+v; want %+v", len(users), users[0], tt.first)
			}
		})
	}
}

func TestParseArgon2(t *testing.T) {
	tests := []struct {
		in      string
		want    passhash.Params
		wantErr bool
	}{
		{"m=19456,t=2,p=1", passhash.Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}, false},
		{"p=2, t=1, m=64", passhash.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 2}, false},
		{"m=64,t=1", passhash.Params{}, true},
		{"m=64,t=1,p=1,x=3", passhash.Params{}, true},
		{"m=big,t=1,p=1", passhash.Params{}, true},
		{"m=64,t=1,p=300", passhash.Params{}, true},
	}
	for _, tt := range tests {
		got, err := ParseArgon2(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseArgon2(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestImportCSVHashesVerify(t *testing.T) {
	users, err := Generate(GenOptions{Count: 5, Prefix: "CU", Start: 1, Digits: 7, PINFormat: "Pw-%08dx", Domain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	small := passhash.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	for _, scheme := range []string{"ssha", "argon2id"} {
		t.Run(scheme, func(t *testing.T) {
			hash, err := HashFor(scheme, small)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := WriteImportCSV(&buf, users, "julac", hash); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(rows[0], ",") != "id,name,email,category,pin_hash" || len(rows) != len(users)+1 {
				t.Fatalf("header %v, %d rows", rows[0], len(rows))
			}
			for i, row := range rows[1:] {
				ok, _, err := passhash.VerifyWith(row[4], users[i].Password, small)
				if err != nil || !ok || row[0] != users[i].ID || row[3] != "julac" {
					t.Errorf("row %d %v: verify ok=%v err=%v", i+1, row[:4], ok, err)
				}
				if strings.Contains(row[4], users[i].Password) {
					t.Errorf("row %d holds the plaintext", i+1)
				}
			}
		})
	}
	if _, err := HashFor("md5", small); err == nil {
		t.Error("HashFor(md5) accepted")
	}
}

func TestGenUsersCommand(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	var out, errOut bytes.Buffer
	code := run([]string{"gen-users", "--count", "3", "--prefix", "CU", "--out", p("a.csv"),
		"--against-out", p("b.csv"), "--against-base", "ou=people,dc=library,dc=example,dc=edu",
		"--ldif", p("u.ldif"), "--import", p("imp.csv")}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, f := range []string{"a.csv", "b.csv", "u.ldif", "imp.csv"} {
		if _, err := os.Stat(p(f)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := LoadUsersFile(p("b.csv"), true)
	if err != nil {
		t.Fatal(err)
	}
	if b[2].BindDN != "uid=CU0000003,ou=people,dc=library,dc=example,dc=edu" || b[2].ID != "CU0000003" || b[2].Password != "Pw-00000003x" {
		t.Errorf("b.csv row 3: %+v", b[2])
	}
	ldif, _ := os.ReadFile(p("u.ldif"))
	if !strings.HasPrefix(string(ldif), "dn: ou=people,dc=example,dc=org\n") || strings.Count(string(ldif), "userPassword: {SSHA}") != 3 {
		t.Errorf("ldif:\n%s", ldif)
	}
	for _, bad := range [][]string{
		{"gen-users"},
		{"gen-users", "--against-out", p("x.csv")},
		{"gen-users", "--out", p("x.csv"), "--hash", "md5"},
		{"gen-users", "--ldif", p("x.ldif"), "--base", "dc=example,dc=org"},
	} {
		if code := run(bad, &out, &errOut); code == 0 {
			t.Errorf("%v: exit 0", bad)
		}
	}
}
