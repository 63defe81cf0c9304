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

// peekClosed is the RawConn.Control callback of appConn.idleClosed: it
// peeks at the idle socket without blocking and consumes nothing. Nothing
// to read (EAGAIN) means open and quiet; an end of file, a reset or bytes
// nobody asked for mean the connection can no longer carry a request.
func peekClosed(fd uintptr) (closed bool) {
	var b [1]byte
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		return true
	}
}
