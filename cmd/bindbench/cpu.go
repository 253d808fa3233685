package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server CPU per operation: bindbench reads utime+stime (fields 14 and 15
// of /proc/PID/stat, every thread of the process, in clock ticks) of the
// server's process at the start and at the end of each measured round.
// Linux only; elsewhere the CPU columns stay empty.

// procRoot is where /proc is mounted (a test points it at a fake tree).
var procRoot = "/proc"

// atClkTck is AT_CLKTCK, the auxiliary-vector entry that holds the tick
// rate of the times in /proc/PID/stat (sysconf(_SC_CLK_TCK) reads it).
const atClkTck = 17

var (
	clkTckOnce sync.Once
	clkTck     int64
)

// ticksPerSecond is the unit of utime and stime: AT_CLKTCK from
// /proc/self/auxv, or 100 (USER_HZ on every Linux architecture but alpha
// and ia64) when the vector cannot be read.
func ticksPerSecond() int64 {
	clkTckOnce.Do(func() {
		clkTck = 100
		data, err := os.ReadFile(filepath.Join(procRoot, "self", "auxv"))
		if err != nil {
			return
		}
		if v, ok := auxvValue(data, atClkTck); ok && v > 0 {
			clkTck = int64(v)
		}
	})
	return clkTck
}

// auxvValue finds the value of key in an auxiliary vector (pairs of
// native-endian machine words, ended by AT_NULL); 64-bit words unless the
// data is laid out in 32-bit pairs.
func auxvValue(data []byte, key uint64) (uint64, bool) {
	word := 8
	if strconv.IntSize == 32 {
		word = 4
	}
	get := func(b []byte) uint64 {
		if word == 4 {
			return uint64(binary.NativeEndian.Uint32(b))
		}
		return binary.NativeEndian.Uint64(b)
	}
	for i := 0; i+2*word <= len(data); i += 2 * word {
		k := get(data[i:])
		if k == 0 {
			break
		}
		if k == key {
			return get(data[i+word:]), true
		}
	}
	return 0, false
}

// parseStatTicks returns utime+stime from the text of /proc/PID/stat. The
// second field (the command, in parentheses) may hold spaces and ')', so
// the fields are counted from the last ')'.
func parseStatTicks(line string) (int64, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return 0, errors.New("stat: no ')' after the command")
	}
	fields := strings.Fields(line[end+1:])
	// fields[0] is field 3 (state): utime (14) is fields[11], stime (15) fields[12].
	if len(fields) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command, want at least 13", len(fields))
	}
	utime, err := strconv.ParseInt(fields[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: utime: %w", err)
	}
	stime, err := strconv.ParseInt(fields[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: stime: %w", err)
	}
	return utime + stime, nil
}

// processCPU returns the CPU time (user + system, every thread) that
// process pid has used so far.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatTicks(string(data))
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return time.Duration(ticks) * time.Second / time.Duration(ticksPerSecond()), nil
}

// portOf returns the TCP port of an ldap:// or ldaps:// URL (389 and 636
// when it has none).
func portOf(rawURL string) (int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, err
	}
	p := u.Port()
	if p == "" {
		switch u.Scheme {
		case "ldaps":
			return 636, nil
		default:
			return 389, nil
		}
	}
	return strconv.Atoi(p)
}

// listeningInodes returns the socket inodes of the TCP sockets in LISTEN
// state on port, read from a /proc/net/tcp or tcp6 table.
func listeningInodes(r io.Reader, port int) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" { // 0A: TCP_LISTEN
			continue
		}
		colon := strings.LastIndexByte(f[1], ':')
		if colon < 0 {
			continue
		}
		p, err := strconv.ParseUint(f[1][colon+1:], 16, 16)
		if err != nil || int(p) != port {
			continue
		}
		if f[9] != "0" {
			out = append(out, f[9])
		}
	}
	return out, sc.Err()
}

// listenerPID finds the process that holds a socket listening on port:
// the socket's inode in /proc/net/tcp{,6}, then the process with a file
// descriptor on "socket:[inode]". Only processes whose fds this user may
// read are seen.
func listenerPID(port int) (int, error) {
	want := map[string]bool{}
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(procRoot, "net", table))
		if err != nil {
			continue
		}
		inodes, err := listeningInodes(f, port)
		f.Close()
		if err != nil {
			return 0, err
		}
		for _, in := range inodes {
			want["socket:["+in+"]"] = true
		}
	}
	if len(want) == 0 {
		return 0, fmt.Errorf("no socket listens on port %d", port)
	}
	dirs, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, err
	}
	found := map[int]bool{}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(procRoot, d.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err == nil && want[link] {
				found[pid] = true
				break
			}
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("port %d: the listening process is not readable by this user (give --pid)", port)
	case 1:
		for pid := range found {
			return pid, nil
		}
	}
	pids := make([]string, 0, len(found))
	for pid := range found {
		pids = append(pids, strconv.Itoa(pid))
	}
	return 0, fmt.Errorf("port %d: several processes hold the listening socket (%s); give --pid", port, strings.Join(pids, ", "))
}

// CPUWatch is what bindbench samples for one side: the server's process
// and, optionally, processes behind it (a slapd behind bindery), counted
// apart.
type CPUWatch struct {
	PID  int
	Also []int
}

// cpuSample is the CPU used so far by the server and by the processes behind it.
type cpuSample struct {
	server, also time.Duration
	err          error
}

func (w *CPUWatch) sample() cpuSample {
	if w == nil || w.PID <= 0 {
		return cpuSample{}
	}
	var s cpuSample
	s.server, s.err = processCPU(w.PID)
	for _, pid := range w.Also {
		d, err := processCPU(pid)
		if err != nil && s.err == nil {
			s.err = err
		}
		s.also += d
	}
	return s
}

// CPU is the server CPU of one measurement.
type CPU struct {
	PID       int     `json:"pid"`
	AlsoPIDs  []int   `json:"also_pids,omitempty"`
	Seconds   float64 `json:"seconds"`             // the server process
	AlsoSecs  float64 `json:"also_seconds"`        // the processes behind it
	UsPerOp   float64 `json:"us_per_op"`           // server CPU µs per measured operation
	AlsoPerOp float64 `json:"also_us_per_op"`      // µs per op of the processes behind
	Cores     float64 `json:"cores"`               // server CPU seconds per second of wall time
	Error     string  `json:"error,omitempty"`     // why it could not be read
	TickHz    int64   `json:"clock_ticks_per_sec"` // the resolution of the counters
}

// cpuBetween fills a CPU from two samples around a measurement of ops
// operations that lasted wall.
func cpuBetween(w *CPUWatch, before, after cpuSample, ops uint64, wall time.Duration) *CPU {
	if w == nil || w.PID <= 0 {
		return nil
	}
	c := &CPU{PID: w.PID, AlsoPIDs: w.Also, TickHz: ticksPerSecond()}
	if before.err != nil || after.err != nil {
		err := before.err
		if err == nil {
			err = after.err
		}
		c.Error = err.Error()
		return c
	}
	c.Seconds = (after.server - before.server).Seconds()
	c.AlsoSecs = (after.also - before.also).Seconds()
	c.finish(ops, wall)
	return c
}

func (c *CPU) finish(ops uint64, wall time.Duration) {
	if ops > 0 {
		c.UsPerOp = c.Seconds * 1e6 / float64(ops)
		c.AlsoPerOp = c.AlsoSecs * 1e6 / float64(ops)
	}
	if wall > 0 {
		c.Cores = c.Seconds / wall.Seconds()
	}
}

// resolveWatch decides which process to watch for one side: pid when
// given (> 0), none when pid < 0, else the process listening on the URL's
// port. A failure to find it is returned, the side is then measured
// without CPU.
func resolveWatch(rawURL string, pid int, also []int) (*CPUWatch, error) {
	if pid < 0 {
		return nil, nil
	}
	if pid == 0 {
		port, err := portOf(rawURL)
		if err != nil {
			return nil, fmt.Errorf("cpu: %s: %w", rawURL, err)
		}
		if pid, err = listenerPID(port); err != nil {
			return nil, fmt.Errorf("cpu: %s: %w", rawURL, err)
		}
	}
	return &CPUWatch{PID: pid, Also: also}, nil
}

// parsePIDs reads a comma-separated list of process IDs ("" is none).
func parsePIDs(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a process ID", part)
		}
		out = append(out, n)
	}
	return out, nil
}

// usable reports whether c holds a measurement (read without error).
func (c *CPU) usable() bool { return c != nil && c.Error == "" }

// hasAlso reports whether processes behind the server were counted.
func (c *CPU) hasAlso() bool { return c != nil && len(c.AlsoPIDs) > 0 }
