package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStatTicks(t *testing.T) {
	// A real line's shape (Linux 6.x, 52 fields), utime 1234 and stime 567;
	// the command holds spaces and a ')' of its own.
	const line = "4242 (bind ery) x) S 1 4242 4242 0 -1 4194560 1019 0 0 0 1234 567 0 0 20 0 9 0 345 1234567 2345 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	got, err := parseStatTicks(line)
	if err != nil || got != 1234+567 {
		t.Fatalf("parseStatTicks = %d, %v; want 1801", got, err)
	}
	for _, bad := range []string{"", "4242 bindery S 1", "4242 (bindery) S 1 2 3", "4242 (b) S 1 4242 4242 0 -1 4194560 1019 0 0 0 x 567 0"} {
		if _, err := parseStatTicks(bad); err == nil {
			t.Errorf("parseStatTicks(%q): no error", bad)
		}
	}
}

func TestAuxvValue(t *testing.T) {
	var data []byte
	for _, kv := range [][2]uint64{{6, 4096}, {atClkTck, 250}, {0, 0}, {atClkTck, 999}} {
		data = binary.NativeEndian.AppendUint64(data, kv[0])
		data = binary.NativeEndian.AppendUint64(data, kv[1])
	}
	if v, ok := auxvValue(data, atClkTck); !ok || v != 250 {
		t.Errorf("auxvValue = %d, %v; want 250 (the value before AT_NULL)", v, ok)
	}
	if _, ok := auxvValue(data[:16], atClkTck); ok {
		t.Error("found a key that is not there")
	}
	// This machine's: Linux reports USER_HZ, 100 on amd64 and arm64.
	if hz := ticksPerSecond(); hz <= 0 {
		t.Errorf("ticksPerSecond = %d", hz)
	}
}

const fakeTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0F35 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0F35 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0185 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0
`

func TestListeningInodes(t *testing.T) {
	got, err := listeningInodes(strings.NewReader(fakeTCP), 3893)
	if err != nil || len(got) != 1 || got[0] != "111" {
		t.Fatalf("port 3893: %v, %v; want [111] (not the established 222)", got, err)
	}
	if got, _ := listeningInodes(strings.NewReader(fakeTCP), 389); len(got) != 1 || got[0] != "333" {
		t.Errorf("port 389: %v", got)
	}
	if got, _ := listeningInodes(strings.NewReader(fakeTCP), 1); len(got) != 0 {
		t.Errorf("port 1: %v", got)
	}
}

// TestListenerPIDFakeProc: a /proc tree with two processes, one of which
// holds the listening socket of port 3893.
func TestListenerPIDFakeProc(t *testing.T) {
	root := t.TempDir()
	old := procRoot
	procRoot = root
	t.Cleanup(func() { procRoot = old })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "net"), 0o755))
	must(os.WriteFile(filepath.Join(root, "net", "tcp"), []byte(fakeTCP), 0o644))
	for pid, sock := range map[string]string{"10": "socket:[222]", "20": "socket:[111]"} {
		fd := filepath.Join(root, pid, "fd")
		must(os.MkdirAll(fd, 0o755))
		must(os.Symlink("/dev/null", filepath.Join(fd, "0")))
		must(os.Symlink(sock, filepath.Join(fd, "3")))
	}
	must(os.WriteFile(filepath.Join(root, "20", "stat"),
		[]byte("20 (bindery) S 1 20 20 0 -1 0 0 0 0 0 300 200 0 0 20 0 9 0 345 1 2 3\n"), 0o644))

	pid, err := listenerPID(3893)
	if err != nil || pid != 20 {
		t.Fatalf("listenerPID = %d, %v; want 20", pid, err)
	}
	if _, err := listenerPID(4000); err == nil {
		t.Error("port 4000: no error")
	}
	w, err := resolveWatch("ldap://127.0.0.1:3893", 0, []int{20})
	if err != nil || w.PID != 20 {
		t.Fatalf("resolveWatch = %+v, %v", w, err)
	}
	s := w.sample()
	want := 500 * time.Second / time.Duration(ticksPerSecond())
	if s.err != nil || s.server != want || s.also != want {
		t.Fatalf("sample = %+v; want %v each", s, want)
	}
	// 1.5 s of server CPU over 10,000 ops in 10 s: 150 µs/op, 0.15 cores.
	c := cpuBetween(w, cpuSample{}, cpuSample{server: 1500 * time.Millisecond, also: 500 * time.Millisecond}, 10000, 10*time.Second)
	if c.UsPerOp != 150 || c.AlsoPerOp != 50 || c.Cores != 0.15 {
		t.Errorf("cpuBetween = %+v", c)
	}
	if c := cpuBetween(&CPUWatch{PID: 99}, cpuSample{}, (&CPUWatch{PID: 99}).sample(), 1, time.Second); c.usable() || c.Error == "" {
		t.Errorf("a missing process: %+v", c)
	}
	if w, err := resolveWatch("ldap://127.0.0.1:3893", -1, nil); w != nil || err != nil {
		t.Errorf("pid -1: %+v, %v", w, err)
	}
}

func TestParsePIDs(t *testing.T) {
	if got, err := parsePIDs(" 12, 34 "); err != nil || len(got) != 2 || got[0] != 12 || got[1] != 34 {
		t.Errorf("parsePIDs = %v, %v", got, err)
	}
	if got, err := parsePIDs(""); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"x", "1,,2", "-3", "0"} {
		if _, err := parsePIDs(bad); err == nil {
			t.Errorf("parsePIDs(%q): no error", bad)
		}
	}
}

func TestPortOf(t *testing.T) {
	for in, want := range map[string]int{"ldap://127.0.0.1:3893": 3893, "ldap://127.0.0.1": 389, "ldaps://h": 636, "ldap://[::1]:10389": 10389} {
		if got, err := portOf(in); err != nil || got != want {
			t.Errorf("portOf(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
