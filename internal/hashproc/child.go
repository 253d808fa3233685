package hashproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/argon2"
)

// envVar marks a process started as a helper; its value is envPrefix and
// the nice value.
const (
	envVar    = "BINDERY_INTERNAL_HASH_HELPER"
	envPrefix = "v1-nice-"
)

// ServeIfHelper returns at once in a normal process. In a process started
// by Helper it lowers its priority, derives keys for the server until its
// input ends, and exits: call it first thing in main.
func ServeIfHelper() {
	v, ok := os.LookupEnv(envVar)
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimPrefix(v, envPrefix))
	if !strings.HasPrefix(v, envPrefix) || err != nil {
		fmt.Fprintf(os.Stderr, "bindery hashing helper: %s=%q: not started by this version of bindery\n", envVar, v)
		os.Exit(2)
	}
	if err := lowerPriority(n); err != nil {
		// Hashing still works, only without yielding the CPU to binds.
		fmt.Fprintln(os.Stderr, "bindery hashing helper: lowering the priority:", err)
	}
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bindery hashing helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// lowerPriority sets every thread of this process to nice n. Threads
// started later inherit it from the thread that starts them, so every
// thread of the helper stays at n. The list is read twice, to catch a
// thread started while the first pass ran.
func lowerPriority(n int) error {
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("thread %d: %w", tid, err)
			}
		}
	}
	return nil
}

// idleRelease is how long the helper waits with nothing to do before it
// returns its dead work areas to the system.
const idleRelease = time.Second

// serve answers requests from in on out until in ends, then waits for the
// derivations under way. At most GOMAXPROCS run at once (the server's pool
// bounds them already; this bounds the memory if it did not).
//
// Every derivation leaves 19 MiB of garbage and nothing else lives here,
// so a collection costs next to nothing: the collector runs at a quarter
// of the default heap growth, and once the helper has been idle for
// idleRelease the memory goes back to the system.
func serve(in io.Reader, out io.Writer) error {
	debug.SetGCPercent(25)
	r := bufio.NewReader(in)
	var wmu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	var werr error
	var busy atomic.Int64
	release := time.AfterFunc(time.Hour, func() {
		if busy.Load() == 0 {
			debug.FreeOSMemory()
		}
	})
	defer release.Stop()
	defer wg.Wait()
	for {
		req, err := readRequest(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		slots <- struct{}{}
		busy.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := argon2.IDKey(req.secret, req.salt, req.time, req.memory, req.threads, req.keyLen)
			clear(req.secret)
			<-slots
			if busy.Add(-1) == 0 {
				release.Reset(idleRelease)
			}
			wmu.Lock()
			defer wmu.Unlock()
			if werr == nil {
				werr = writeResponse(out, req.id, key)
			}
		}()
	}
}
