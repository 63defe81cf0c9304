//go:build unix

package proxy

import (
	"syscall"
	"unsafe"
)

// rawIO reports whether rawRead and rawWrite work here: the poll reader and
// writer use them on a socket's file descriptor.
const rawIO = true

// rawRead and rawWrite are read(2) and write(2) without telling the Go
// scheduler: on a non-blocking socket they never block, and a system call
// the scheduler knows about is one it may hand the P off from (a thread
// wake-up and a context switch) when it lasts over 20µs, which a loopback
// write waking its reader does on a busy machine.
func rawRead(fd int, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

// idleClosed reports whether an idle upstream connection can no longer
// carry a request: the app closed it (end of file, a reset) or sent bytes
// nobody asked for. It peeks without blocking and consumes nothing.
func idleClosed(rc syscall.RawConn) bool {
	closed := true
	rc.Control(func(fd uintptr) {
		var b [1]byte
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				closed = false // nothing to read: still open and quiet
			case err == nil && n > 0:
				// Unexpected bytes after the last response.
			}
			return
		}
	})
	return closed
}
