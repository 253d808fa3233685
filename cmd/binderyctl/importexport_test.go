package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const importCSV = `id,name,email,category,expires
CU1000001,Chan Siu Ming,csm@example.edu,julac,2099-06-30
CU1000002,Bad Email,not-an-address,julac,
20230001,Lee Ka Yan,lky@example.edu,alumni,
CU1000003,Bad Date,bd@example.edu,julac,30/06/2099
`

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImport(t *testing.T) {
	e := newEnv(t)
	file := writeFile(t, e.dir, "patrons.csv", importCSV)

	r := e.fail(1, "", "import", file, "--strict")
	mustContain(t, "strict", r.out, "line 3: email", "line 5: expires", "created 0, updated 0, skipped 0", "nothing loaded")
	mustContain(t, "strict", r.err, "binderyctl: 2 bad row(s)")
	e.fail(1, "", "patron", "show", "CU1000001")

	r = e.fail(1, "", "import", file)
	mustContain(t, "import", r.out, "line 3: email: \"not-an-address\" is not an e-mail address", "line 5: expires", "created 2, updated 0, skipped 0")
	mustNotContain(t, "import", r.out, "line 2:", "line 4:")
	mustContain(t, "import", r.err, "2 bad row(s)", "were skipped")
	r = e.ok("", "patron", "show", "CU1000001")
	mustContain(t, "imported", r.out, "Chan Siu Ming", "2099-06-30", "julac")

	// A clean file, read from standard input, twice: the second run skips.
	clean := "id,name,category\nCU1000001,Chan Siu Ming,julac\nCU1000009,New Person,julac\n"
	r = e.ok(clean, "import", "-")
	mustContain(t, "stdin", r.out, "created 1, updated 0, skipped 1")
	r = e.ok(clean, "--json", "import", "-")
	var sum struct {
		Created, Updated, Skipped int
		Errors                    []any
	}
	if err := json.Unmarshal([]byte(r.out), &sum); err != nil || sum.Skipped != 2 || len(sum.Errors) != 0 {
		t.Errorf("re-import --json: %v %+v\n%s", err, sum, r.out)
	}

	r = e.fail(1, "id,colour\nCU1,red\n", "import", "-")
	mustContain(t, "bad header", r.err, "unknown column")
	r = e.fail(1, "", "import", filepath.Join(e.dir, "missing.csv"))
	mustContain(t, "missing file", r.err, "cannot read the import file")
}

func TestExportRoundTrip(t *testing.T) {
	src := newEnv(t)
	src.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming", "--email", "w@example.edu", "--category", "julac", "--expires", "2099-06-30")
	src.ok("Julac-PIN-2026\n", "pin", "set", "CU1234567")
	src.ok("", "patron", "add", "20231234", "--name", "Lee, Ka Yan", "--category", "alumni", "--active-from", "2020-01-01")
	src.ok("", "patron", "suspend", "20231234", "--reason", "fines")

	plain := src.ok("", "export").out
	mustContain(t, "export", plain, "id,uuid,name", "CU1234567", "\"Lee, Ka Yan\"", "suspended")
	mustNotContain(t, "export", plain, "argon2", "pin_hash")
	hashed := src.ok("", "export", "--with-hashes")
	mustContain(t, "export --with-hashes", hashed.out, "pin_hash", "$argon2id$")
	mustContain(t, "export --with-hashes", hashed.err, "warning")

	dst := newEnv(t)
	dst.ok("", "import", writeFile(t, dst.dir, "in.csv", hashed.out))
	if got := dst.ok("", "export").out; got != plain {
		t.Errorf("round trip differs:\n--- source\n%s--- copy\n%s", plain, got)
	}
	if _, ok := dst.auth(dst.store(), "CU1234567", "Julac-PIN-2026"); !ok {
		t.Error("PIN does not work after export --with-hashes and import")
	}
}

func TestSeveralPinstores(t *testing.T) {
	e := newEnv(t)
	f, err := os.OpenFile(e.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n[backend.guests]\ntype = \"pinstore\"\ndriver = \"sqlite\"\ndsn = \"" + e.dir + "/guests.db\"\n")
	f.Close()
	r := e.fail(2, "", "export")
	mustContain(t, "export", r.err, "2 pinstore backends (guests, pins)", "--backend NAME")
	e.ok("", "patron", "add", "CU1234567", "--name", "Wong Siu Ming")
	if out := e.ok("", "export", "--backend", "pins").out; !strings.Contains(out, "CU1234567") {
		t.Errorf("export --backend pins:\n%s", out)
	}
	if out := e.ok("", "export", "--backend", "guests").out; strings.Contains(out, "CU1234567") {
		t.Errorf("export --backend guests:\n%s", out)
	}
	e.fail(1, "", "export", "--backend", "campus")
	e.ok("id,name\nG1,Guest\n", "import", "-", "--backend", "guests")
}

func TestCountLines(t *testing.T) {
	for in, want := range map[string]int{"": 0, "a": 1, "a\n": 1, "a\nb": 2, "a\nb\n": 2, strings.Repeat("x\n", 100000): 100000} {
		if got, err := countLines(strings.NewReader(in)); err != nil || got != want {
			t.Errorf("countLines(%d bytes) = %d, %v; want %d", len(in), got, err, want)
		}
	}
}

func TestImportProgress(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("id,name\n")
	const n = progressMin + 1500
	for i := range n {
		fmt.Fprintf(&b, "%d,Patron %d\n", 30000000+i, i)
	}
	file := writeFile(t, e.dir, "big.csv", b.String())
	var out, errb bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &errb)
	a.stderrTTY = true
	code := a.main([]string{"--config", e.cfg, "--operator", "tester", "import", file})
	a.close()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	mustContain(t, "progress", errb.String(), "\rimporting: 1000 of 6500 rows", "\rimporting: 6500 of 6500 rows (100%)")
	mustContain(t, "summary", out.String(), "created 6500, updated 0, skipped 0")
}
