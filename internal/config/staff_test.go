package config

import (
	"strings"
	"testing"
	"time"
)

// staffBase adds a campus route to base, so that campus IDs route.
const staffBase = base + `
[[route]]
name = "campus"
match = '^[a-z][a-z0-9]{1,15}$'
case = "lower"
backend = "campus"

[backend.campus]
type = "ldap"
urls = ["ldap://127.0.0.1:1"]
base_dn = "ou=people,dc=example,dc=org"

[http]
listen = "127.0.0.1:9389"
`

func TestStaffSection(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  []string // problems; none = valid
	}{
		{name: "off by default"},
		{name: "roles by ID, category and group", extra: `[staff]
enabled = true
roles = { counter = ["category:staff-circ", "JWong"], viewer = ["group:cn=desk,ou=groups,dc=example,dc=org"], admin = ["mchan"] }
idle_timeout = "10m"
`},
		{name: "bad roles and members", extra: `[staff]
enabled = true
roles = { clerk = ["jwong"], counter = ["CU1234567", "!!", "category:", ""] }
`, want: []string{
			`staff.roles.clerk: not a role (admin, counter, viewer)`,
			`staff.roles.counter[0]: "CU1234567" is a PIN-store ID (route julac): staff log in with their campus login`,
			`staff.roles.counter[1]: "!!" matches no route`,
			`staff.roles.counter[2]: "category:" names no category`,
			`staff.roles.counter[3]: empty`,
		}},
		{name: "nobody in a role", extra: "[staff]\nenabled = true\n", want: []string{"staff.roles: nobody is in a role"}},
		{name: "timeouts", extra: "[staff]\nroles = { viewer = [\"jwong\"] }\nidle_timeout = \"2h\"\nabsolute_timeout = \"1h\"\n",
			want: []string{"staff.absolute_timeout: 1h0m0s is shorter than idle_timeout 2h0m0s"}},
		{name: "plain HTTP on a network address", extra: "[web]\nlisten = \"0.0.0.0:8080\"\n[staff]\nenabled = true\nroles = { viewer = [\"jwong\"] }\n",
			want: []string{"staff.enabled: 0.0.0.0:8080 is not a loopback address and there is no [server.tls]"}},
		{name: "audit backend", extra: "[staff]\naudit_backend = \"campus\"\nroles = { viewer = [\"jwong\"] }\n",
			want: []string{`staff.audit_backend: "campus" is not a pinstore backend`}},
		{name: "unknown key", extra: "[staff]\nenabled = true\nroles = { viewer = [\"jwong\"] }\nsession = \"1h\"\n", want: []string{"staff.session: unknown key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(staffBase + tc.extra))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.StaffAuditBackend() != "pins" {
					t.Errorf("StaffAuditBackend = %q, want the only pinstore", cfg.StaffAuditBackend())
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	if DefaultStaffIdleTimeout != 15*time.Minute {
		t.Errorf("the issue asks for a 15 minute idle timeout by default, have %v", DefaultStaffIdleTimeout)
	}
}
