package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// owner is one struct field that declares a key: "pkg.Type.Field".
type owner string

// keyOwners maps each key path of t (a struct type) to the fields that
// declare it, following nested tables, arrays of tables and embedded
// structs. The keys of a map field are its user's names (an attribute
// mapping): they are recorded as "path.*", owned by the map's field.
func keyOwners(t reflect.Type, prefix string, into map[string][]owner) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			keyOwners(f.Type, prefix, into)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := prefix + name
		o := owner(t.PkgPath() + "." + t.Name() + "." + f.Name)
		into[path] = append(into[path], o)
		if f.Type.Kind() == reflect.Map {
			into[path+".*"] = append(into[path+".*"], o)
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() != "time" {
			keyOwners(ft, path+".", into)
		}
	}
}

// ownersOf resolves a key of a configuration file: backend tables by
// their type, through the registry.
func ownersOf(key toml.Key, types map[string]string) []owner {
	top := map[string][]owner{}
	keyOwners(reflect.TypeOf(document{}), "", top)
	if key[0] != "backend" {
		return top[leafPath(key, top)]
	}
	if len(key) == 2 {
		return top["backend"]
	}
	if key[2] == "type" {
		return []owner{"internal/config.Backend.Type"}
	}
	t, ok := backendTypes[types[key[1]]]
	if !ok {
		return nil
	}
	table := map[string][]owner{}
	keyOwners(reflect.TypeOf(t.newConfig()).Elem(), "", table)
	return table[leafPath(key[2:], table)]
}

// leafPath is key as declared: itself, or "map.*" for a name in a map.
func leafPath(key toml.Key, declared map[string][]owner) string {
	if p := strings.Join(key, "."); declared[p] != nil {
		return p
	}
	return strings.Join(key[:len(key)-1], ".") + ".*"
}

// TestEveryKeyHasOneOwner reads the example configurations and proves
// that each key in them is declared by exactly one struct field in the
// tree, and that no other toml-tagged field anywhere in the tree declares
// a key the configuration does not reach (a second declaration).
func TestEveryKeyHasOneOwner(t *testing.T) {
	files := []string{"../../configs/example.toml", "../../configs/demo.toml",
		"../../configs/cluster.toml", "../../deploy/examples/bindery.toml", "../../deploy/debian/bindery.toml"}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		md, err := toml.Decode(string(data), &doc)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		types := map[string]string{}
		if bs, ok := doc["backend"].(map[string]any); ok {
			for name, b := range bs {
				types[name], _ = b.(map[string]any)["type"].(string)
			}
		}
		for _, k := range md.Keys() {
			if os := ownersOf(k, types); len(os) != 1 {
				t.Errorf("%s: key %s has %d owners %v, want exactly one", f, k, len(os), os)
			}
		}
	}

	// Every field of the tree tagged toml:"..." must be one the file reaches.
	reached := map[owner]bool{}
	all := map[string][]owner{}
	keyOwners(reflect.TypeOf(document{}), "", all)
	for typ, bt := range backendTypes {
		keyOwners(reflect.TypeOf(bt.newConfig()).Elem(), "backend.*("+typ+").", all)
	}
	for _, os := range all {
		for _, o := range os {
			reached[o] = true
		}
	}
	for _, decl := range taggedFields(t, "../..") {
		if !reached[decl] {
			t.Errorf("%s declares a toml key that no configuration table reaches: a second declaration?", decl)
		}
	}
}

// taggedFields lists the fields with a toml tag in every non-test Go file
// under root, named as keyOwners names them (anonymous structs by file).
func taggedFields(t *testing.T, root string) []owner {
	t.Helper()
	mod := modulePath(t, root)
	var out []owner
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := mod + "/" + filepath.ToSlash(rel)
		ast.Inspect(file, func(n ast.Node) bool {
			name := ""
			var st *ast.StructType
			switch n := n.(type) {
			case *ast.TypeSpec:
				st, _ = n.Type.(*ast.StructType)
				name = n.Name.Name
			case *ast.StructType:
				st = n
				name = "anonymous struct at " + fset.Position(n.Pos()).String()
			}
			if st == nil {
				return true
			}
			for _, f := range st.Fields.List {
				if f.Tag == nil {
					continue
				}
				tag, _ := strconv.Unquote(f.Tag.Value)
				key, _, _ := strings.Cut(reflect.StructTag(tag).Get("toml"), ",")
				if key == "" || key == "-" {
					continue
				}
				for _, id := range f.Names {
					out = append(out, owner(pkg+"."+name+"."+id.Name))
				}
			}
			_, isSpec := n.(*ast.TypeSpec)
			return !isSpec // a named struct's own node is visited through its spec only
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func modulePath(t *testing.T, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if m, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(m)
		}
	}
	t.Fatal("no module line in go.mod")
	return ""
}
