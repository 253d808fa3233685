package backend_test

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/bindery/bindery"

// TestImportsFollowTheBind keeps the layout the shape of one bind: cmd ->
// internal/config (wiring) -> proxy -> backend <- backend/*. No backend
// imports the front or the wiring, the front imports no concrete backend,
// and the codec imports nothing of bindery's.
func TestImportsFollowTheBind(t *testing.T) {
	root := filepath.Join("..")
	imports := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); name == "testdata" || name == ".git" || name == "node_modules" {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, path)
		imports[filepath.ToSlash(rel)] = pkg.Imports // not test files: tests may drive a whole stack
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 10 {
		t.Fatalf("found only %d packages under %s", len(imports), root)
	}
	for dir, imps := range imports {
		for _, imp := range imps {
			ours, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			switch {
			case under(dir, "backend") && (under(ours, "proxy") || under(ours, "cmd") || ours == "internal/config" || under(ours, "web")):
				t.Errorf("%s imports %s: a backend depends on the front or the wiring", dir, ours)
			case under(dir, "proxy") && under(ours, "backend") && ours != "backend":
				t.Errorf("%s imports %s: the front depends on a concrete backend", dir, ours)
			case dir == "internal/ldapwire":
				t.Errorf("internal/ldapwire imports %s: the codec knows nothing of bindery", ours)
			}
		}
	}
}

// under reports whether the package path p is dir or below it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
