package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// statFields reads a /proc .../stat file and returns its fields after the
// command (which may hold spaces): [0] is field 3 (state), [1] field 4
// (ppid), [16] field 19 (nice). nil when the process or thread has ended.
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
}

// hashHelpers lists the PIDs of parent's children named bindery-hash-helper.
func hashHelpers(t *testing.T, parent int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, f := range stats {
		if fields := statFields(f); len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.HasPrefix(string(cmdline), "bindery-hash-helper\x00") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// threadNices is the nice value of each thread of pid.
func threadNices(t *testing.T, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	var nices []int
	for _, f := range stats {
		if fields := statFields(f); len(fields) > 16 {
			n, _ := strconv.Atoi(fields[16])
			nices = append(nices, n)
		}
	}
	return nices
}

func waitHelper(t *testing.T, parent int, not int) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, pid := range hashHelpers(t, parent) {
			if pid != not {
				return pid
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no hashing helper under bindery %d (other than %d)", parent, not)
	return 0
}

// TestHashingHelper: argon2id runs in a child process whose every thread
// is at [hashing] nice while bindery stays at 0; killing the helper costs
// no patron a wrong answer (the server hashes itself until the helper is
// back, within seconds); SIGTERM takes the helper down with the server.
func TestHashingHelper(t *testing.T) {
	requireClients(t)
	httpAddr := freeAddr(t)
	e := pinEnv(t, "", fmt.Sprintf("\n[http]\nlisten = %q\n\n[hashing]\nnice = 12\n", httpAddr))
	ids := []string{"CU7500001", "CU7500002", "CU7500003", "CU7500004"}
	for _, id := range ids {
		e.addPatron(id, "Helper Check", "Helper-PIN-2026")
	}
	e.start()
	server := e.proc.Process.Pid
	helper := waitHelper(t, server, 0)
	for _, n := range threadNices(t, helper) {
		if n != 12 {
			t.Fatalf("helper %d has a thread at nice %d, want 12: %v", helper, n, threadNices(t, helper))
		}
	}
	for _, n := range threadNices(t, server) {
		if n != 0 {
			t.Fatalf("bindery itself has a thread at nice %d: %v", n, threadNices(t, server))
		}
	}
	if _, code := whoami(t, e, personDN(ids[0]), "Helper-PIN-2026"); code != 0 {
		t.Fatalf("right PIN through the helper: exit %d", code)
	}
	if _, code := whoami(t, e, personDN(ids[1]), "Wrong-PIN-2026"); code != 49 {
		t.Fatalf("wrong PIN through the helper: exit %d", code)
	}

	if err := syscall.Kill(helper, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitLog(t, e, "hashing helper exited")
	// Uncached binds while the helper is down: the server hashes itself.
	if _, code := whoami(t, e, personDN(ids[2]), "Helper-PIN-2026"); code != 0 {
		t.Fatalf("right PIN with the helper down: exit %d", code)
	}
	if _, code := whoami(t, e, personDN(ids[3]), "Wrong-PIN-2026"); code != 49 {
		t.Fatalf("wrong PIN with the helper down: exit %d", code)
	}
	again := waitHelper(t, server, helper)
	if f := metric(t, httpAddr, "bindery_hash_helper_fallbacks_total"); f < 2 {
		t.Errorf("bindery_hash_helper_fallbacks_total %v, want 2 or more", f)
	}
	if s := metric(t, httpAddr, "bindery_hash_helper_starts_total"); s != 2 {
		t.Errorf("bindery_hash_helper_starts_total %v, want 2", s)
	}
	if r := metric(t, httpAddr, "bindery_hash_helper_running"); r != 1 {
		t.Errorf("bindery_hash_helper_running %v, want 1", r)
	}
	if _, code := whoami(t, e, personDN(ids[3]), "Helper-PIN-2026"); code != 0 {
		t.Fatalf("right PIN through the restarted helper: exit %d", code)
	}

	e.stop()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(again, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("helper %d still runs after bindery stopped", again)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("error lines:\n%s", e.logs.String())
	}
}
