//go:build unix && !linux

package supervise

import "syscall"

// dieWithParent does nothing here: only Linux has a parent-death signal,
// so a serve killed by SIGKILL leaves its app running.
func dieWithParent(*syscall.SysProcAttr) {}

// groupAlive reports whether a process of group pgid still exists.
func groupAlive(pgid int) bool { return groupAliveBySignal(pgid) }
