package integration

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // PRAGMA integrity_check on the PIN store

	"github.com/bindery/bindery/internal/slapdtest"
)

// delayProxy is a TCP proxy that holds every chunk for a settable delay
// in both directions: a slow upstream directory.
type delayProxy struct {
	l        net.Listener
	upstream string
	delay    atomic.Int64 // nanoseconds
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func newDelayProxy(t *testing.T, upstream string) *delayProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &delayProxy{l: l, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

func (p *delayProxy) URL() string              { return "ldap://" + p.l.Addr().String() }
func (p *delayProxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

func (p *delayProxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.conns == nil {
			return false
		}
		p.conns[c] = struct{}{}
	} else if p.conns != nil {
		delete(p.conns, c)
	}
	return true
}

func (p *delayProxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			down.Close()
			continue
		}
		if !p.track(down, true) || !p.track(up, true) {
			down.Close()
			up.Close()
			return
		}
		p.wg.Add(2)
		go p.pipe(up, down)
		go p.pipe(down, up)
	}
}

// pipe copies src to dst, sleeping the current delay before each chunk.
func (p *delayProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		dst.Close()
		src.Close()
		p.track(dst, false)
		p.track(src, false)
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.delay.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Close stops the proxy and every connection through it, and waits for
// its goroutines.
func (p *delayProxy) Close() {
	p.l.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	p.wg.Wait()
}

// campusEnv is coreEnv with the campus directory at url (a proxy) and
// extra keys (e.g. [cache]) appended.
func campusEnv(t *testing.T, sl *slapdtest.Server, url, serverExtra, timeout, extra string) *env {
	t.Helper()
	e := newEnv(t, serverExtra, fmt.Sprintf(`
[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[[route]]
name = "campus"
match = '^[a-z][a-z0-9]{1,15}$'
case = "lower"
backend = "campus"

[backend.campus]
type = "ldap"
urls = [%q]
bind_dn = %q
bind_password = %q
base_dn = "ou=people,dc=example,dc=org"
user_filter = "(uid={id})"
timeout = %q

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "%%DIR%%/pins.db"

%s
`, url, sl.AdminDN(), sl.AdminPassword(), timeout, extra))
	e.addPatron(julacID, "Wong Siu Ming", julacPIN, "--category", "julac")
	return e
}

// integrityCheck opens a SQLite file and runs PRAGMA integrity_check.
func integrityCheck(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		t.Fatalf("integrity_check on %s: %v", path, err)
	}
	if res != "ok" {
		t.Fatalf("integrity_check on %s: %s", path, res)
	}
	t.Logf("PRAGMA integrity_check on %s: %s", filepath.Base(path), res)
}

// tmpfs mounts a small tmpfs of size bytes at a new folder under dir and
// unmounts it at cleanup (registered now, so it runs after a bindery
// started later has stopped). It skips when mounting is refused.
func tmpfs(t *testing.T, dir string, size string) string {
	t.Helper()
	mnt := filepath.Join(dir, "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root and a kernel that allows it): %v %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("mount", "-o", "remount,rw", mnt).Run()
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}

func remount(t *testing.T, mnt, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v %s", mnt, mode, err, out)
	}
}

// fillDisk writes a file until the file system is full and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !isNoSpace(err) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	// The last partial page too.
	for _, n := range []int{1024, 256, 64, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	f.Sync()
	return path
}

func isNoSpace(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "no space") || errorsIsErrno(err, syscall.ENOSPC))
}

func errorsIsErrno(err error, n syscall.Errno) bool {
	for err != nil {
		if e, ok := err.(syscall.Errno); ok {
			return e == n
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
