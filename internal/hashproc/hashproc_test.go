package hashproc

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// The test binary is its own helper: started with envVar set, it serves.
func TestMain(m *testing.M) {
	ServeIfHelper()
	os.Exit(m.Run())
}

func selfCommand() *exec.Cmd { return exec.Command(os.Args[0]) }

// logBuffer collects log lines safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, o Options) (*Helper, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if o.Command == nil {
		o.Command = selfCommand
	}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	h, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h, logs
}

type derivation struct {
	secret, salt         string
	time, memory, keyLen uint32
	threads              uint8
}

var derivations = []derivation{
	{"123456", "saltsaltsaltsalt", 2, 4096, 32, 1},
	{"", "another-salt-16b", 1, 64, 16, 1},
	{"pässwörd\x00with nul", "s4", 3, 256, 64, 4},
}

func (d derivation) want() []byte {
	return argon2.IDKey([]byte(d.secret), []byte(d.salt), d.time, d.memory, d.threads, d.keyLen)
}

func (d derivation) in(h *Helper) []byte {
	return h.IDKey([]byte(d.secret), []byte(d.salt), d.time, d.memory, d.threads, d.keyLen)
}

func TestHelperDerivesWhatTheModuleDerives(t *testing.T) {
	h, _ := start(t, Options{})
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			d := derivations[i%len(derivations)]
			if got := d.in(h); !bytes.Equal(got, d.want()) {
				t.Errorf("%+v: helper %x, module %x", d, got, d.want())
			}
		})
	}
	wg.Wait()
	if s := h.Stats(); s.Starts != 1 || s.Fallbacks != 0 || !s.Running {
		t.Errorf("Stats = %+v, want one start, no fallback, running", s)
	}
}

// niceOf reads each thread's nice value from /proc/PID/task/*/stat.
func niceOf(t *testing.T, pid int) map[int]int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/stat")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	nice := map[int]int{}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		// Fields after the command (which may hold spaces) start at ")".
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		// state is field 3, nice field 19: index 16 after the command.
		n, err := strconv.Atoi(fields[16])
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		tid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		nice[tid] = n
	}
	return nice
}

func TestEveryHelperThreadRunsAtTheNiceValue(t *testing.T) {
	h, _ := start(t, Options{Nice: 13})
	d := derivations[2] // 4 lanes: the helper starts threads for them
	for range 3 {
		d.in(h)
	}
	pid := h.proc.cmd.Process.Pid
	threads := niceOf(t, pid)
	for tid, n := range threads {
		if n != 13 {
			t.Errorf("helper %d thread %d: nice %d, want 13", pid, tid, n)
		}
	}
	if len(threads) < 2 {
		t.Errorf("helper has %d threads; the check needs several", len(threads))
	}
	for tid, n := range niceOf(t, os.Getpid()) {
		if n != 0 {
			t.Errorf("server thread %d: nice %d, want 0 (only the helper is lowered)", tid, n)
		}
	}
}

func TestAKilledHelperCostsNoAnswerAndRestarts(t *testing.T) {
	defer func(d time.Duration) { restartDelay = d }(restartDelay)
	restartDelay = 200 * time.Millisecond
	h, logs := start(t, Options{})
	d := derivations[0]
	d.in(h)
	if err := h.proc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Until the helper is up again, every key is still right.
	deadline := time.Now().Add(10 * time.Second)
	for h.Stats().Starts < 2 {
		if got := d.in(h); !bytes.Equal(got, d.want()) {
			t.Fatalf("after the kill: %x, want %x", got, d.want())
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted: %+v", h.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := d.in(h); !bytes.Equal(got, d.want()) {
		t.Fatalf("after the restart: %x, want %x", got, d.want())
	}
	if s := h.Stats(); s.Fallbacks == 0 || !s.Running {
		t.Errorf("Stats = %+v, want fallbacks while it was down, running again", s)
	}
	if !strings.Contains(logs.String(), "hashing helper exited") {
		t.Errorf("no warning logged: %q", logs.String())
	}
}

func TestAHelperThatCannotStartLeavesHashingInProcess(t *testing.T) {
	h, err := Start(Options{Command: func() *exec.Cmd { return exec.Command("/nonexistent/bindery") }, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("Start of a missing program: no error")
	}
	defer h.Close()
	d := derivations[1]
	if got := d.in(h); !bytes.Equal(got, d.want()) {
		t.Fatalf("got %x, want %x", got, d.want())
	}
	if s := h.Stats(); s.Fallbacks != 1 || s.Running {
		t.Errorf("Stats = %+v, want one fallback, not running", s)
	}
}

func TestAHelperThatDoesNotAnswerIsReplaced(t *testing.T) {
	h, logs := start(t, Options{
		Command: func() *exec.Cmd { return exec.Command("sleep", "60") },
		Timeout: 300 * time.Millisecond,
	})
	p := h.proc
	d := derivations[1]
	if got := d.in(h); !bytes.Equal(got, d.want()) {
		t.Fatalf("got %x, want %x", got, d.want())
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the silent helper was not stopped")
	}
	if !strings.Contains(logs.String(), "no answer within") {
		t.Errorf("no warning logged: %q", logs.String())
	}
}

func TestCloseLetsTheHelperFinishAndExit(t *testing.T) {
	h, _ := start(t, Options{})
	d := derivations[0]
	p := h.proc
	var wg sync.WaitGroup
	got := make([][]byte, 4)
	for i := range got {
		wg.Go(func() { got[i] = d.in(h) })
	}
	time.Sleep(20 * time.Millisecond) // the calls reach the helper
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, k := range got {
		if !bytes.Equal(k, d.want()) {
			t.Errorf("call %d: %x, want %x", i, k, d.want())
		}
	}
	select {
	case <-p.exited:
	default:
		t.Error("the helper still runs after Close")
	}
	if got := d.in(h); !bytes.Equal(got, d.want()) {
		t.Errorf("after Close: %x, want %x", got, d.want())
	}
}

func TestMalformedFramesAreRefused(t *testing.T) {
	good := request{id: 7, time: 1, memory: 64, threads: 1, keyLen: 32, salt: []byte("salt"), secret: []byte("pin")}
	frame := good.encode()
	q, err := readRequest(bufio.NewReader(bytes.NewReader(frame)))
	if err != nil || q.id != 7 || string(q.salt) != "salt" || string(q.secret) != "pin" {
		t.Fatalf("a good frame: %+v, %v", q, err)
	}
	bad := map[string][]byte{
		"cut short":     frame[:len(frame)-1],
		"huge length":   {0xff, 0xff, 0xff, 0xff},
		"tiny length":   {0, 0, 0, 3, 1, 2, 3},
		"salt too long": func() []byte { b := bytes.Clone(frame); b[4+21+3] = 200; return b }(),
		"no threads":    func() []byte { q := good; q.threads = 0; return q.encode() }(),
		"huge memory":   func() []byte { q := good; q.memory = 1 << 31; return q.encode() }(),
		"no key":        func() []byte { q := good; q.keyLen = 0; return q.encode() }(),
	}
	for name, b := range bad {
		if _, err := readRequest(bufio.NewReader(bytes.NewReader(b))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
