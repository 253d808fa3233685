// Package activation takes the listening sockets that systemd passes to
// a socket-activated service (sd_listen_fds(3)): LISTEN_PID names this
// process, LISTEN_FDS counts the descriptors from 3 on, LISTEN_FDNAMES
// names them (a socket unit's FileDescriptorName=). The sockets outlive
// the process, so connections that arrive while bindery restarts wait in
// the kernel's queue instead of being refused. See the README beside it.
package activation

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// firstFD is SD_LISTEN_FDS_START.
const firstFD = 3

// Sockets are the listening sockets passed to this process.
type Sockets struct {
	mu    sync.Mutex
	socks []socket
}

type socket struct {
	name  string
	l     net.Listener
	taken bool
}

// Take reads the environment once and returns the sockets passed to this
// process (none when LISTEN_PID names another one, or is unset). It
// unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES so that child
// processes do not take them too, and marks the descriptors close-on-exec.
func Take() (*Sockets, error) {
	defer os.Unsetenv("LISTEN_PID")
	defer os.Unsetenv("LISTEN_FDS")
	defer os.Unsetenv("LISTEN_FDNAMES")
	return fromEnv(os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES"), os.Getpid())
}

func fromEnv(pidS, fdsS, namesS string, pid int) (*Sockets, error) {
	s := &Sockets{}
	if pidS == "" || fdsS == "" {
		return s, nil
	}
	if p, err := strconv.Atoi(pidS); err != nil || p != pid {
		return s, nil // meant for another process
	}
	n, err := strconv.Atoi(fdsS)
	if err != nil || n < 0 || n > 1024 {
		return nil, fmt.Errorf("activation: LISTEN_FDS=%q is not a count", fdsS)
	}
	names := strings.Split(namesS, ":")
	for i := range n {
		fd := firstFD + i
		syscall.CloseOnExec(fd)
		name := "unknown"
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		f := os.NewFile(uintptr(fd), name)
		l, err := net.FileListener(f)
		f.Close() // FileListener made its own descriptor
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("activation: descriptor %d (%s) is not a listening stream socket: %w", fd, name, err)
		}
		s.socks = append(s.socks, socket{name: name, l: l})
	}
	return s, nil
}

// Len is the number of sockets passed.
func (s *Sockets) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.socks)
}

// Listener returns the passed socket for one of bindery's listeners: the
// one listening on addr (the configured host:port; a wildcard host
// matches a wildcard socket of the same port), else the one named name
// (a socket unit's FileDescriptorName=). ok is false when none was
// passed: the caller listens itself. Each socket is handed out once.
func (s *Sockets) Listener(name, addr string) (net.Listener, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.socks {
		if sk := &s.socks[i]; !sk.taken && sameAddr(sk.l.Addr().String(), addr) {
			sk.taken = true
			return sk.l, true
		}
	}
	for i := range s.socks {
		if sk := &s.socks[i]; !sk.taken && sk.name == name {
			sk.taken = true
			return sk.l, true
		}
	}
	return nil, false
}

// sameAddr compares a socket's address with a configured one.
func sameAddr(sock, conf string) bool {
	if sock == conf {
		return true
	}
	sh, sp, err1 := net.SplitHostPort(sock)
	ch, cp, err2 := net.SplitHostPort(conf)
	if err1 != nil || err2 != nil || sp != cp {
		return false
	}
	return wildcard(sh) && wildcard(ch) || sameIP(sh, ch)
}

func wildcard(h string) bool {
	if h == "" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsUnspecified()
}

func sameIP(a, b string) bool {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	return err1 == nil && err2 == nil && x.Unmap() == y.Unmap()
}

// Unused closes the sockets nobody took and returns their names and
// addresses, for a warning.
func (s *Sockets) Unused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for i := range s.socks {
		if sk := &s.socks[i]; !sk.taken {
			out = append(out, sk.name+"="+sk.l.Addr().String())
			sk.l.Close()
			sk.taken = true
		}
	}
	return out
}

// Close closes every socket not handed out.
func (s *Sockets) Close() {
	s.Unused()
}
