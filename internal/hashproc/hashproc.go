// Package hashproc runs argon2id in a helper process at a lower CPU
// priority, so that a storm of wrong PINs leaves the CPU to cached binds
// first. See README.md.
package hashproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Options configure a Helper. The zero value works: a helper at nice 10,
// started from /proc/self/exe.
type Options struct {
	// Nice is the helper's nice value, 1 to 19 (0: DefaultNice). The
	// server itself stays at its own.
	Nice int
	// Command starts the helper; nil: this program (/proc/self/exe, the
	// file this process was started from even after an upgrade replaced
	// it), which must call ServeIfHelper first thing in main.
	Command func() *exec.Cmd
	// Timeout is how long a derivation may take in the helper before it is
	// done here instead and the helper is restarted (0: DefaultTimeout).
	Timeout time.Duration
	// Logger gets a warning when the helper exits or cannot start (nil:
	// slog.Default()).
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultNice    = 10
	DefaultTimeout = time.Minute
)

// restartDelay is how long after a failed start or an exit the helper is
// not started again; derivations run in this process meanwhile. A
// variable for tests.
var restartDelay = 5 * time.Second

// Helper hands argon2id derivations to the helper process. Its methods
// are safe for concurrent use.
type Helper struct {
	opts Options

	mu        sync.Mutex
	proc      *process // nil: not running
	notBefore time.Time
	closed    bool

	started, fallbacks atomic.Uint64
}

// Start starts the helper process. When it cannot start, Start returns
// the error and a Helper that derives in this process and tries again
// later, so a caller may log the error and go on.
func Start(opts Options) (*Helper, error) {
	if opts.Nice == 0 {
		opts.Nice = DefaultNice
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Nice < 1 || opts.Nice > 19 {
		return nil, fmt.Errorf("hashproc: nice %d: want 1 to 19", opts.Nice)
	}
	h := &Helper{opts: opts}
	h.mu.Lock()
	defer h.mu.Unlock()
	p, err := h.startLocked()
	if err != nil {
		h.notBefore = time.Now().Add(restartDelay)
		return h, err
	}
	h.proc = p
	return h, nil
}

// Stats are the helper's counts since Start.
type Stats struct {
	// Starts counts helper processes started (1 after a clean start).
	Starts uint64
	// Fallbacks counts derivations done in this process because no helper
	// was running or it failed to answer.
	Fallbacks uint64
	// Running is whether a helper process is up now.
	Running bool
}

// Stats returns the counts.
func (h *Helper) Stats() Stats {
	h.mu.Lock()
	running := h.proc != nil && !h.proc.isDead()
	h.mu.Unlock()
	return Stats{Starts: h.started.Load(), Fallbacks: h.fallbacks.Load(), Running: running}
}

// IDKey is argon2.IDKey, derived in the helper process. When the helper
// is not running or fails, the key is derived in this process (and the
// helper restarted later): a derivation never fails.
func (h *Helper) IDKey(secret, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if p := h.running(); p != nil {
		key, err := p.call(request{secret: secret, salt: salt, time: time, memory: memory, threads: threads, keyLen: keyLen}, h.opts.Timeout)
		if err == nil {
			return key
		}
		h.failed(p, err)
	}
	h.fallbacks.Add(1)
	return argon2.IDKey(secret, salt, time, memory, threads, keyLen)
}

// Close stops the helper: it finishes what it was given and exits; after
// closeGrace it is killed. Later derivations run in this process. A nil
// Helper (none started) closes as a no-op.
func (h *Helper) Close() error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	h.closed = true
	p := h.proc
	h.proc = nil
	h.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.stop(closeGrace)
}

// closeGrace is what Close gives the helper to finish: a few derivations
// of tens of milliseconds. Callers still waiting when it is killed derive
// here; the server's shutdown deadline is not spent on it.
const closeGrace = 300 * time.Millisecond

// running returns the live process, starting one if none runs and the
// restart delay has passed; nil: derive here.
func (h *Helper) running() *process {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	if h.proc != nil && !h.proc.isDead() {
		return h.proc
	}
	if time.Now().Before(h.notBefore) {
		return nil
	}
	p, err := h.startLocked()
	if err != nil {
		h.notBefore = time.Now().Add(restartDelay)
		h.opts.Logger.Warn("hashing helper: cannot start; hashing in the server process", "err", err, "retry_in", restartDelay)
		return nil
	}
	h.proc = p
	return p
}

// failed handles a call that the helper did not answer: the process is
// stopped and not restarted before the restart delay.
func (h *Helper) failed(p *process, err error) {
	h.mu.Lock()
	if h.proc == p {
		h.proc = nil
		h.notBefore = time.Now().Add(restartDelay)
	}
	h.mu.Unlock()
	if p.markDead(err) {
		h.opts.Logger.Warn("hashing helper failed; hashing in the server process until it restarts", "err", err, "retry_in", restartDelay)
		h.restartLater()
	}
	go p.stop(0)
}

// restartLater starts the helper again once the restart delay has passed,
// so that it is warm before the next derivation needs it.
func (h *Helper) restartLater() {
	time.AfterFunc(restartDelay, func() { h.running() })
}

func (h *Helper) startLocked() (*process, error) {
	var cmd *exec.Cmd
	if h.opts.Command != nil {
		cmd = h.opts.Command()
	} else {
		cmd = exec.Command("/proc/self/exe")
		cmd.Args[0] = "bindery-hash-helper" // what ps and top show
	}
	// A clean environment: nothing of the server's (LISTEN_FDS, secrets
	// in variables) reaches the helper.
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%s%d", envVar, envPrefix, h.opts.Nice))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("hashproc: start: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("hashproc: start: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("hashproc: start: %w", err)
	}
	h.started.Add(1)
	p := &process{cmd: cmd, stdin: stdin, pending: map[uint64]chan []byte{}, exited: make(chan struct{})}
	go p.read(bufio.NewReader(stdout), h)
	// The first derivation in a process also maps its fresh work area
	// (up to 0.5 s on the test VM): one at the default parameters now
	// spares the first patron that wait.
	go p.call(request{secret: []byte("warm-up"), salt: []byte("bindery-warm-up!"), time: 1, memory: 19 * 1024, threads: 1, keyLen: 16}, h.opts.Timeout)
	return p, nil
}

// process is one running helper.
type process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	wmu   sync.Mutex // one frame at a time on stdin

	mu      sync.Mutex
	pending map[uint64]chan []byte
	nextID  uint64
	dead    error // why it stopped answering; nil while it answers

	exited chan struct{} // closed when cmd.Wait returned
}

var errExited = errors.New("hashproc: helper exited")

func (p *process) isDead() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead != nil
}

// markDead records why p stopped answering and wakes every waiting call;
// it reports whether this call was the first to do so.
func (p *process) markDead(err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead != nil {
		return false
	}
	p.dead = err
	for id, ch := range p.pending {
		close(ch)
		delete(p.pending, id)
	}
	return true
}

func (p *process) call(req request, timeout time.Duration) ([]byte, error) {
	ch := make(chan []byte, 1)
	p.mu.Lock()
	if p.dead != nil {
		err := p.dead
		p.mu.Unlock()
		return nil, err
	}
	p.nextID++
	req.id = p.nextID
	p.pending[req.id] = ch
	p.mu.Unlock()

	frame := req.encode()
	p.wmu.Lock()
	_, err := p.stdin.Write(frame)
	p.wmu.Unlock()
	clear(frame) // the secret
	if err != nil {
		p.forget(req.id)
		return nil, fmt.Errorf("hashproc: write: %w", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case key, ok := <-ch:
		if !ok {
			return nil, p.reason()
		}
		if len(key) != int(req.keyLen) {
			return nil, fmt.Errorf("hashproc: answer of %d bytes, want %d", len(key), req.keyLen)
		}
		return key, nil
	case <-t.C:
		p.forget(req.id)
		return nil, fmt.Errorf("hashproc: no answer within %v", timeout)
	}
}

func (p *process) forget(id uint64) {
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
}

func (p *process) reason() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead != nil {
		return p.dead
	}
	return errExited
}

// read delivers answers until the helper's output ends.
func (p *process) read(r *bufio.Reader, h *Helper) {
	var err error
	for {
		var id uint64
		var key []byte
		if id, key, err = readResponse(r); err != nil {
			break
		}
		p.mu.Lock()
		ch := p.pending[id]
		delete(p.pending, id)
		p.mu.Unlock()
		if ch != nil {
			ch <- key
		}
	}
	werr := p.cmd.Wait()
	close(p.exited)
	if errors.Is(err, io.EOF) {
		err = errExited
	}
	if werr != nil {
		err = fmt.Errorf("%w (%v)", err, werr)
	}
	if p.markDead(err) {
		h.mu.Lock()
		if h.proc == p {
			h.proc = nil
			h.notBefore = time.Now().Add(restartDelay)
		}
		closed := h.closed
		h.mu.Unlock()
		if !closed {
			h.opts.Logger.Warn("hashing helper exited; hashing in the server process until it restarts", "err", err, "retry_in", restartDelay)
			h.restartLater()
		}
	}
}

// stop closes the helper's input, so it ends once it has answered what it
// was given, and kills it if it has not exited after grace.
func (p *process) stop(grace time.Duration) error {
	p.markDead(errExited)
	p.stdin.Close()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.exited
		return nil
	}
}
