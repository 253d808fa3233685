package activation

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestFromEnvIgnoresOtherProcesses(t *testing.T) {
	for _, env := range [][3]string{{"", "", ""}, {"1", "2", "a:b"}, {"", "1", ""}} {
		s, err := fromEnv(env[0], env[1], env[2], 4242)
		if err != nil || s.Len() != 0 {
			t.Fatalf("%v: %d sockets, %v", env, s.Len(), err)
		}
	}
	if _, err := fromEnv("4242", "many", "", 4242); err == nil {
		t.Fatal("LISTEN_FDS=many accepted")
	}
}

func TestSameAddr(t *testing.T) {
	for _, tc := range []struct {
		sock, conf string
		want       bool
	}{
		{"127.0.0.1:389", "127.0.0.1:389", true},
		{"[::]:389", "0.0.0.0:389", true},
		{"[::]:389", ":389", true},
		{"[::]:389", "127.0.0.1:389", false},
		{"127.0.0.1:389", "127.0.0.1:636", false},
		{"[::ffff:127.0.0.1]:389", "127.0.0.1:389", true},
	} {
		if got := sameAddr(tc.sock, tc.conf); got != tc.want {
			t.Errorf("sameAddr(%q, %q) = %v", tc.sock, tc.conf, got)
		}
	}
}

// TestTakeAsSystemdPasses runs this test binary again as a child with
// two listening sockets on descriptors 3 and 4 and the environment
// systemd sets (LISTEN_PID set by a shell that then execs, as systemd
// sets it between fork and exec).
func TestTakeAsSystemdPasses(t *testing.T) {
	if os.Getenv("ACTIVATION_CHILD") != "" {
		s, err := Take()
		if err != nil {
			t.Fatal(err)
		}
		if os.Getenv("LISTEN_FDS") != "" {
			t.Fatal("LISTEN_FDS still set")
		}
		ldap, ok := s.Listener("ldap", "nowhere:1")
		if !ok {
			t.Fatal("no socket named ldap")
		}
		web, ok := s.Listener("other", os.Getenv("WEB_ADDR"))
		if !ok {
			t.Fatal("no socket at the web address")
		}
		if _, ok := s.Listener("ldap", "x:1"); ok {
			t.Fatal("a socket was handed out twice")
		}
		os.Stdout.WriteString("ldap=" + ldap.Addr().String() + " web=" + web.Addr().String() + "\n")
		return
	}
	var files []*os.File
	var addrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		defer f.Close()
		files = append(files, f)
		addrs = append(addrs, l.Addr().String())
	}
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" -test.run '^TestTakeAsSystemdPasses$' -test.v`, os.Args[0])
	cmd.ExtraFiles = files
	cmd.Env = append(os.Environ(), "ACTIVATION_CHILD=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=ldap:web", "WEB_ADDR="+addrs[1])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if want := "ldap=" + addrs[0] + " web=" + addrs[1]; !strings.Contains(string(out), want) {
		t.Fatalf("child printed:\n%s\nwant %s", out, want)
	}
}
