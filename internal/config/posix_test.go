package config

import (
	"strings"
	"testing"
)

func TestPOSIXSection(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  []string // problems; none = valid
		check func(t *testing.T, c *Config)
	}{
		{name: "off by default, defaults filled", check: func(t *testing.T, c *Config) {
			p := c.POSIX
			if p.Enabled || p.UIDRange[0] != 2000000000 || p.UIDRange[1] != 2099999999 || *p.DefaultGID != 65534 ||
				p.HomeDirectory != "/nonexistent" || p.LoginShell != "/usr/sbin/nologin" || p.StoreName(c) != "pins" {
				t.Fatalf("%+v", p)
			}
		}},
		{name: "on with groups", extra: "[posix]\nenabled = true\nuid_range = [100000, 199999]\nhome_directory = \"/home/{id}\"\n[posix.groups]\njulac = 20001\nstaff = 20002\n",
			check: func(t *testing.T, c *Config) {
				if c.POSIX.Groups["staff"] != 20002 || c.POSIX.UIDRange[0] != 100000 {
					t.Fatalf("%+v", c.POSIX)
				}
			}},
		{name: "bad values", extra: "[posix]\nenabled = true\nuid_range = [10, 5]\ndefault_gid = 0\nlogin_shell = \"bash\"\nhome_directory = \"home\"\nstore = \"nope\"\n[posix.groups]\njulac = 20001\nstaff = 20001\nalumni = -3\n",
			want: []string{"posix.uid_range: [10, 5] must lie within", "posix.default_gid: 0 is not a gidNumber", "posix.login_shell: \"bash\" must be an absolute path",
				"posix.home_directory: \"home\" must be an absolute path", "posix.store: no [backend.nope]", "posix.groups.staff: gidNumber 20001 is also julac's",
				"posix.groups.alumni: -3 is not a gidNumber"}},
		{name: "range of one", extra: "[posix]\nuid_range = [5000]\n", want: []string{"posix.uid_range: give [first, last]"}},
		{name: "unknown key", extra: "[posix]\nenabled = true\nuid_start = 5\n", want: []string{"posix.uid_start: unknown key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base + tc.extra))
			if len(tc.want) > 0 {
				if err == nil {
					t.Fatal("accepted")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}
