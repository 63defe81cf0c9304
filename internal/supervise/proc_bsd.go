//go:build unix && !linux

package supervise

// groupAlive reports whether a process of group pgid still exists.
func groupAlive(pgid int) bool { return groupAliveBySignal(pgid) }
