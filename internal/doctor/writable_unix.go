//go:build unix

package doctor

import "syscall"

// writable asks the kernel whether this user may write in dir (access(2)).
func writable(dir string) error {
	return syscall.Access(dir, 0x2) // W_OK
}
