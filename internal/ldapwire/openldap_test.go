package ldapwire

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// miniServer answers OpenLDAP's command-line clients with this package's
// encoders, so that libldap itself parses what we write.
func miniServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveMini(t, c)
		}
	}()
	return "ldap://" + ln.Addr().String()
}

func serveMini(t *testing.T, c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	for {
		m, err := ReadMessage(r, 1<<20)
		if err != nil {
			if err != io.EOF {
				t.Errorf("server read: %v", err)
			}
			return
		}
		var out []byte
		switch op := m.Op.(type) {
		case *BindRequest:
			var ctl []Control
			if _, ok := FindControl(m.Controls, OIDPasswordPolicy); ok {
				switch string(op.Password) {
				case "reset":
					ctl = append(ctl, PpolicyResponseControl(PpolicyChangeAfterReset, -1, -1))
				case "grace":
					ctl = append(ctl, PpolicyResponseControl(PpolicyPasswordExpired, -1, 2))
				case "expiring":
					ctl = append(ctl, PpolicyResponseControl(PpolicyNone, 3600, -1))
				}
			}
			res := Result{}
			if string(op.Password) == "wrong" {
				res = Result{Code: 49, DiagnosticMessage: "Invalid credentials"}
			}
			out = AppendBindResponse(nil, m.ID, res, ctl)
		case *ExtendedRequest:
			switch op.OID {
			case OIDWhoAmI:
				out = AppendExtendedResponse(nil, m.ID, Result{}, "", []byte("dn:uid=jchan,ou=people,dc=x"), true, nil)
			case OIDPasswordModify:
				pm, err := DecodePasswordModify(op.Value)
				if err != nil || !pm.HasUserIdentity || !pm.HasOld || !pm.HasNew {
					t.Errorf("password modify %+v %v", pm, err)
				}
				res := Result{}
				if string(pm.NewPassword) == "short" {
					res = Result{Code: 19, DiagnosticMessage: "Password fails quality checking policy"}
				}
				out = AppendExtendedResponse(nil, m.ID, res, "", nil, false, nil)
			default:
				out = AppendExtendedResponse(nil, m.ID, Result{Code: 2, DiagnosticMessage: "unsupported extended operation"}, "", nil, false, nil)
			}
		case *SearchRequest:
			if op.FilterString != "(&(objectClass=person)(uid=CU1234567))" {
				t.Errorf("filter %q", op.FilterString)
			}
			attrs := []Attribute{{Type: "uid", Values: []string{"CU1234567"}}, {Type: "cn", Values: []string{"Chan Tai Man", strings.Repeat("x", 300)}}}
			if op.TypesOnly {
				out = AppendSearchEntryTypesOnly(nil, m.ID, "uid=CU1234567,ou=people,dc=x", attrs, nil)
			} else {
				out = AppendSearchEntry(nil, m.ID, "uid=CU1234567,ou=people,dc=x", attrs, nil)
			}
			out = AppendSearchDone(out, m.ID, Result{}, nil)
		case *CompareRequest:
			out = AppendCompareResponse(nil, m.ID, Result{Code: 6}, nil)
		case *UnbindRequest:
			return
		default:
			out = AppendNoticeOfDisconnection(nil, 2, "unexpected")
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// TestOpenLDAPClients runs ldapwhoami, ldapsearch, ldapcompare and
// ldappasswd against miniServer. Skipped when ldap-utils is not installed.
func TestOpenLDAPClients(t *testing.T) {
	if _, err := exec.LookPath("ldapwhoami"); err != nil {
		t.Skip("ldap-utils not installed")
	}
	url := miniServer(t)
	dn := "uid=jchan,ou=people,dc=x"
	tests := []struct {
		name     string
		args     []string
		wantExit int
		want     []string
	}{
		{"whoami", []string{"ldapwhoami", "-x", "-H", url, "-D", dn, "-w", "good"}, 0, []string{"dn:uid=jchan,ou=people,dc=x"}},
		{"whoami wrong", []string{"ldapwhoami", "-x", "-H", url, "-D", dn, "-w", "wrong"}, 49, []string{"Invalid credentials (49)"}},
		{"ppolicy reset", []string{"ldapwhoami", "-x", "-H", url, "-D", dn, "-w", "reset", "-e", "ppolicy"}, 0, []string{"Password must be changed"}},
		{"ppolicy grace", []string{"ldapwhoami", "-x", "-H", url, "-D", dn, "-w", "grace", "-e", "ppolicy"}, 0, []string{"2 grace logins remain", "Password expired"}},
		{"ppolicy expiring", []string{"ldapwhoami", "-x", "-H", url, "-D", dn, "-w", "expiring", "-e", "ppolicy"}, 0, []string{"Password expires in 3600 seconds"}},
		{"search", []string{"ldapsearch", "-x", "-LLL", "-H", url, "-b", "dc=x", "(&(objectClass=person)(uid=CU1234567))", "uid", "cn"}, 0,
			[]string{"dn: uid=CU1234567,ou=people,dc=x", "uid: CU1234567", "cn: Chan Tai Man"}},
		{"search typesOnly", []string{"ldapsearch", "-x", "-LLL", "-A", "-H", url, "-b", "dc=x", "(&(objectClass=person)(uid=CU1234567))"}, 0,
			[]string{"dn: uid=CU1234567,ou=people,dc=x", "uid:", "cn:"}},
		{"compare", []string{"ldapcompare", "-x", "-H", url, "uid=a,dc=x", "memberOf:cn=julac"}, 6, []string{"TRUE"}},
		{"passwd", []string{"ldappasswd", "-x", "-H", url, "-D", dn, "-w", "good", "-a", "old-PIN-1234", "-s", "new-PIN-5678", dn}, 0, nil},
		{"passwd quality", []string{"ldappasswd", "-x", "-H", url, "-D", dn, "-w", "good", "-a", "old-PIN-1234", "-s", "short", dn}, 1,
			[]string{"Password fails quality checking policy", "(19)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, tc.args[0], tc.args[1:]...)
			cmd.Env = []string{"LDAPNOINIT=1"}
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantExit {
				t.Fatalf("exit %d, want %d\n%s", code, tc.wantExit, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
