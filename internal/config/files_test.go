package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindery/bindery/internal/slapdtest"
)

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	a, err := slapdtest.WriteCerts(filepath.Join(dir))
	if err != nil {
		t.Fatal(err)
	}
	bdir := filepath.Join(dir, "b")
	os.Mkdir(bdir, 0o700)
	b, err := slapdtest.WriteCerts(bdir)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "campus.pw")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	ldap := func(pwFile string) string {
		return "\n[backend.campus]\ntype = \"ldap\"\nurls = [\"ldap://127.0.0.1:1\"]\nbase_dn = \"dc=x\"\nbind_dn = \"cn=x\"\nbind_password_file = \"" + pwFile + "\"\n"
	}
	good := "[server.tls]\ncert_file = \"" + a.CertFile + "\"\nkey_file = \"" + a.KeyFile + "\"\n" +
		"[log]\naudit_file = \"" + filepath.Join(dir, "audit.log") + "\"\n" + ldap(pw)
	withDSN := func(text, dsn string) string {
		return strings.Replace(base, "dsn = \"/tmp/x.db\"", "dsn = \""+dsn+"\"", 1) + text
	}
	if !strings.Contains(base, "dsn = \"/tmp/x.db\"") {
		t.Fatal("the test's base config changed: update withDSN")
	}
	for _, tc := range []struct {
		name, text, dsn string
		want            []string
	}{
		{"all there", good, filepath.Join(dir, "pins.db"), nil},
		{"store file there", good, "file:" + a.CAFile + "?mode=rwc", nil},
		{"missing certificate", strings.Replace(good, a.CertFile, filepath.Join(dir, "none.pem"), 1), filepath.Join(dir, "pins.db"),
			[]string{"server.tls.cert_file: open " + filepath.Join(dir, "none.pem") + ": no such file"}},
		{"key of another certificate", strings.Replace(good, a.KeyFile, b.KeyFile, 1), filepath.Join(dir, "pins.db"),
			[]string{"server.tls: certs:", "private key does not match public key"}},
		{"audit folder missing", strings.Replace(good, filepath.Join(dir, "audit.log"), filepath.Join(dir, "logs", "audit.log"), 1), filepath.Join(dir, "pins.db"),
			[]string{"log.audit_file: folder " + filepath.Join(dir, "logs") + " does not exist"}},
		{"bind password file is a folder", strings.Replace(good, pw, bdir, 1), filepath.Join(dir, "pins.db"),
			[]string{"backend.campus.bind_password_file: " + bdir + " is a folder"}},
		{"dsn folder missing", good, filepath.Join(dir, "lib", "pins.db"),
			[]string{"backend.pins.dsn: folder " + filepath.Join(dir, "lib") + " does not exist"}},
		{"dsn is a folder's file", good, "file:" + dir + "?mode=rwc",
			[]string{"backend.pins.dsn: " + dir + " is a folder"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(withDSN(tc.text, tc.dsn)))
			if err != nil {
				t.Fatal(err)
			}
			probs, _ := cfg.CheckFiles()
			if len(tc.want) == 0 && len(probs) > 0 {
				t.Fatalf("problems: %v", probs)
			}
			for _, w := range tc.want {
				if !strings.Contains(probs.Error(), w) {
					t.Errorf("problems lack %q:\n%v", w, probs)
				}
			}
			if len(tc.want) > 0 && len(probs) != 1 {
				t.Errorf("%d problems, want 1: %v", len(probs), probs)
			}
		})
	}
}
