package filecheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSQLitePath(t *testing.T) {
	for dsn, want := range map[string]string{
		"/var/lib/bindery/pins.db":               "/var/lib/bindery/pins.db",
		"file:/var/lib/bindery/pins.db?mode=rwc": "/var/lib/bindery/pins.db",
		"file:pins.db#frag":                      "pins.db",
		":memory:":                               "",
		"file::memory:?cache=shared":             "",
	} {
		if got := sqlitePath(dsn); got != want {
			t.Errorf("sqlitePath(%q) = %q, want %q", dsn, got, want)
		}
	}
}

func TestChecks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pins.db")
	os.WriteFile(file, []byte("x"), 0o600)
	for _, tc := range []struct {
		name string
		err  error
		want string // "" = no error
	}{
		{"readable file", Readable(file), ""},
		{"missing file", Readable(filepath.Join(dir, "none")), "no such file"},
		{"folder as file", Readable(dir), "is a folder, not a file"},
		{"writable folder", WritableDir(dir), ""},
		{"missing folder", WritableDir(filepath.Join(dir, "none")), "does not exist"},
		{"file as folder", WritableDir(file), "is not a folder"},
		{"new file in a writable folder", WritableFile(filepath.Join(dir, "audit.log")), ""},
		{"new file in a missing folder", WritableFile(filepath.Join(dir, "logs", "audit.log")), "folder " + filepath.Join(dir, "logs") + " does not exist"},
		{"existing store", SQLiteDSN(file), ""},
		{"new store", SQLiteDSN("file:" + filepath.Join(dir, "new.db") + "?mode=rwc"), ""},
		{"store in a missing folder", SQLiteDSN(filepath.Join(dir, "lib", "pins.db")), "does not exist"},
		{"store is a folder", SQLiteDSN(dir), "is a folder"},
		{"memory", SQLiteDSN(":memory:"), ""},
	} {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: %v", tc.name, tc.err)
		case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, tc.err, tc.want)
		}
	}
}
