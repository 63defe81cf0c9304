//go:build !unix

package proxy

import "syscall"

// rawIO is false where sockets have no Unix file descriptor: the poll
// reader and writer then use the net.Conn's own Read and Write.
const rawIO = false

func rawRead(fd int, p []byte) (int, syscall.Errno)  { return 0, syscall.EINVAL }
func rawWrite(fd int, p []byte) (int, syscall.Errno) { return 0, syscall.EINVAL }

// peekClosed cannot peek here; a closed idle connection is then found
// when a request is sent on it (and retried only when idempotent).
func peekClosed(fd uintptr) bool { return false }
