//go:build linux

package proxy

import (
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// folderFD is a static folder opened as a directory descriptor, from which
// files are opened with openat2(RESOLVE_BENEATH): the same confinement as
// os.Root (no ".." or symbolic link leads out, absolute links are refused)
// in one system call, where os.Root's Open adds fcntl and epoll calls that
// a regular file does not need. The descriptor is closed by the garbage
// collector once no request uses it.
type folderFD struct{ fd int }

// openFolderFD opens dir, or returns nil (then os.Root serves).
func openFolderFD(dir string) *folderFD {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	d := &folderFD{fd: fd}
	runtime.SetFinalizer(d, func(d *folderFD) { syscall.Close(d.fd) })
	return d
}

// openHow is the kernel's struct open_how.
type openHow struct {
	flags, mode, resolve uint64
}

const (
	sysOpenat2         = 437
	resolveNoMagiclink = 0x02
	resolveBeneath     = 0x08
)

// open opens name (relative, normalised) for reading into sf and reads its
// metadata, with system calls the scheduler is not told about (see pread);
// errFastOpen means the kernel cannot (no openat2: before 5.6,
// or filtered) and os.Root must be used.
func (d *folderFD) open(name string, sf *staticFile) error {
	if strings.IndexByte(name, 0) >= 0 {
		return syscall.ENOENT
	}
	// The NUL-terminated name, on the stack when it is short.
	var short [256]byte
	cname := append(short[:0], name...)
	cname = append(cname, 0)
	// O_NONBLOCK: opening a FIFO left in the folder must not block.
	how := openHow{flags: syscall.O_RDONLY | syscall.O_CLOEXEC | syscall.O_NOCTTY | syscall.O_NONBLOCK, resolve: resolveBeneath | resolveNoMagiclink}
	var fd uintptr
	var errno syscall.Errno
	for {
		fd, _, errno = syscall.RawSyscall6(sysOpenat2, uintptr(d.fd), uintptr(unsafe.Pointer(&cname[0])), uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
		if errno != syscall.EINTR {
			break
		}
	}
	runtime.KeepAlive(d)
	switch errno {
	case 0:
	case syscall.ENOSYS, syscall.EPERM, syscall.EINVAL, syscall.E2BIG:
		return errFastOpen
	default:
		return errno
	}
	var st syscall.Stat_t
	if _, _, errno := syscall.RawSyscall(syscall.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&st)), 0); errno != 0 {
		closeFD(int(fd))
		return errno
	}
	*sf = staticFile{
		fd:      int(fd),
		size:    st.Size,
		mtime:   time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		dir:     st.Mode&syscall.S_IFMT == syscall.S_IFDIR,
		regular: st.Mode&syscall.S_IFMT == syscall.S_IFREG,
	}
	runtime.KeepAlive(cname)
	return nil
}

// pread reads from the descriptor at off. Like rawRead (rawio_unix.go) it
// does not tell the scheduler: a static file is read from the page cache
// in microseconds, as nginx's blocking reads are; the scheduler's system
// call hand-off cost more than the read.
func pread(fd int, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(off), 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}

func closeFD(fd int) { syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0) }
