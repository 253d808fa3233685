//go:build !linux

package hashpool

// lowerThreadPriority is not available here: the workers keep the
// process's priority.
func lowerThreadPriority(int) error { return nil }
