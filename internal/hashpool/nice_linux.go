package hashpool

import "syscall"

// lowerThreadPriority raises the nice value of the calling thread by n
// (Linux applies setpriority with a thread ID to that thread alone).
func lowerThreadPriority(n int) error {
	tid := syscall.Gettid()
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return err
	}
	// The raw syscall returns 20 - nice.
	return syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(20-cur+n, 19))
}
