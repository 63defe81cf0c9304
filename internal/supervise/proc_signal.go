//go:build unix

package supervise

import "syscall"

// groupAliveBySignal reports whether signal 0 reaches some process of the
// group pgid (zombies included).
func groupAliveBySignal(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || err == syscall.EPERM
}
