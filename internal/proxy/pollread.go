package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// pollReader is the reader under a connection's bufio.Reader. It exists to
// save the read(2) that can only find the socket empty.
//
// Go's net.Conn.Read always tries read(2) first and waits for the netpoller
// only on EAGAIN; and every Read starts by clearing the readiness the
// netpoller noted since the previous one, so that first try cannot be
// skipped safely between two Reads. On a keepalive connection the wait is
// the common case (the client has not sent its next request yet, the app
// has not answered yet), so a proxy paid one useless system call per side
// and request, which nginx (reading only after epoll said so) does not.
//
// pollReader reads through syscall.RawConn instead, where readiness is kept
// for as long as one RawConn.Read lasts, and uses that in two ways:
//
//   - queueWrite: the next Read writes the given bytes (the request to an
//     upstream) and then waits for readiness before it reads: an answer
//     cannot be there before the question, and nothing arriving after the
//     wait began is missed.
//   - sessions (conn.serveInline): the client connection's requests are
//     served inside one RawConn.Read callback, where Read never waits but
//     returns errWouldBlock; after a read(2) that did not fill its buffer
//     the socket was empty, anything arriving later raises a new readiness
//     event, so the next read waits for it instead of trying at once.
//
// Deadlines work as with net.Conn.Read: the netpoller enforces them while
// waiting. A pollReader is used by one goroutine at a time.
type pollReader struct {
	nc net.Conn
	rc syscall.RawConn // nil: plain nc.Read (a conn without a file descriptor)

	readFn func(fd uintptr) bool // r.read, bound once

	// The current Read's buffer and result, for readFn.
	p    []byte
	n    int
	err  error
	werr error

	queued []byte // written by the next Read before it waits

	// idle, when set, is the longest wait for data (client_body_timeout,
	// proxy_read_timeout): each Read moves the read deadline in dl to idle
	// from now, so the limit runs between two reads, as nginx counts it.
	idle time.Duration
	dl   *deadlines

	// Session state: inside a RawConn.Read callback on the fd.
	inSession bool
	fd        int
	mustWait  bool // the socket was found empty: wait for readiness
}

// errWouldBlock is what a Read inside a session returns instead of
// waiting; the session's callback returns false to wait for readiness.
var errWouldBlock = errors.New("proxy: read would block")

func newPollReader(nc net.Conn, dl *deadlines) *pollReader {
	r := &pollReader{nc: nc, dl: dl}
	if sc, ok := nc.(syscall.Conn); ok && rawIO {
		if rc, err := sc.SyscallConn(); err == nil {
			r.rc = rc
			r.readFn = r.read
		}
	}
	return r
}

// queueWrite makes the next Read write b first (b must stay unchanged until
// then). Errors of that write are returned by the Read.
func (r *pollReader) queueWrite(b []byte) {
	r.queued = b
}

func (r *pollReader) Read(p []byte) (int, error) {
	if r.inSession {
		return r.sessionRead(p)
	}
	if r.idle > 0 {
		r.dl.setRead(r.nc, time.Now(), r.idle)
	}
	if r.rc == nil {
		if q := r.queued; q != nil {
			r.queued = nil
			if _, err := r.nc.Write(q); err != nil {
				return 0, err
			}
		}
		return r.nc.Read(p)
	}
	if len(p) == 0 && r.queued == nil {
		return 0, nil
	}
	r.p, r.n, r.err, r.werr = p, 0, nil, nil
	err := r.rc.Read(r.readFn)
	n, rerr, werr := r.n, r.err, r.werr
	r.p, r.err, r.werr, r.queued = nil, nil, nil, nil
	switch {
	case werr != nil:
		return 0, werr
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// read is the RawConn callback of Read: false means "wait until readable".
func (r *pollReader) read(fd uintptr) bool {
	if q := r.queued; q != nil {
		r.queued = nil
		if err := writeAll(int(fd), r.nc, q); err != nil {
			r.werr = err
			return true
		}
		return false
	}
	for {
		n, err := rawRead(int(fd), r.p)
		switch err {
		case 0:
			r.n = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.err = err
		return true
	}
}

// enterSession is called at the start of every invocation of a session's
// RawConn.Read callback: the first one, or after readiness was signalled,
// so the next read(2) is worth trying.
func (r *pollReader) enterSession(fd uintptr) {
	r.inSession, r.fd, r.mustWait = true, int(fd), false
}

// leaveSession is called when the callback returns.
func (r *pollReader) leaveSession() {
	r.inSession = false
}

func (r *pollReader) sessionRead(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.mustWait {
		return 0, errWouldBlock
	}
	for {
		n, err := rawRead(r.fd, p)
		switch err {
		case 0:
			if n == 0 {
				return 0, io.EOF
			}
			// Less than asked: the socket is empty now; whatever comes
			// next raises a readiness event.
			r.mustWait = n < len(p)
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			r.mustWait = true
			return 0, errWouldBlock
		}
		return 0, os.NewSyscallError("read", err)
	}
}

// pollWriter writes a socket like net.Conn's Write, with rawWrite.
type pollWriter struct {
	nc      net.Conn
	rc      syscall.RawConn // nil: plain nc.Write
	writeFn func(fd uintptr) bool

	// idle, when set, is send_timeout: the write deadline in dl moves to
	// idle from now at each Write and whenever a blocked Write made
	// progress, so a slow but steady reader is never cut off.
	idle time.Duration
	dl   *deadlines

	p     []byte
	n     int
	armed int // w.n when the deadline was last moved
	err   error
}

func newPollWriter(nc net.Conn, dl *deadlines) *pollWriter {
	w := &pollWriter{nc: nc, dl: dl}
	if sc, ok := nc.(syscall.Conn); ok && rawIO {
		if rc, err := sc.SyscallConn(); err == nil {
			w.rc = rc
			w.writeFn = w.write
		}
	}
	return w
}

func (w *pollWriter) Write(p []byte) (int, error) {
	if w.idle > 0 {
		w.dl.setWrite(w.nc, time.Now(), w.idle)
	}
	if w.rc == nil || len(p) == 0 {
		return w.writeConn(p)
	}
	w.p, w.n, w.armed, w.err = p, 0, 0, nil
	err := w.rc.Write(w.writeFn)
	n, werr := w.n, w.err
	w.p, w.err = nil, nil
	if err == nil && werr != nil {
		err = os.NewSyscallError("write", werr)
	}
	return n, err
}

// write is the RawConn callback of Write: false means "wait until writable".
func (w *pollWriter) write(fd uintptr) bool {
	for w.n < len(w.p) {
		n, err := rawWrite(int(fd), w.p[w.n:])
		switch err {
		case 0:
			w.n += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			if w.idle > 0 && w.n > w.armed {
				// Progress since the deadline was set: the wait that
				// follows gets a whole send_timeout.
				w.armed = w.n
				w.dl.setWrite(w.nc, time.Now(), w.idle)
			}
			return false
		default:
			w.err = err
			return true
		}
	}
	return true
}

// writeConn writes through nc (no raw I/O), in pieces when a deadline
// applies, so that it runs between two writes rather than over all of p.
func (w *pollWriter) writeConn(p []byte) (int, error) {
	if w.idle <= 0 {
		return w.nc.Write(p)
	}
	const piece = 64 << 10
	n := 0
	for n < len(p) {
		k, err := w.nc.Write(p[n:min(n+piece, len(p))])
		n += k
		if err != nil {
			return n, err
		}
		w.dl.setWrite(w.nc, time.Now(), w.idle)
	}
	return n, nil
}

// writeAll writes b to the socket fd of nc from inside a read callback: with
// rawWrite while the socket takes it, and through nc (which can wait for
// room) for the rest.
func writeAll(fd int, nc net.Conn, b []byte) error {
	for len(b) > 0 {
		n, err := rawWrite(fd, b)
		switch err {
		case 0:
			b = b[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			_, werr := nc.Write(b)
			return werr
		default:
			return &net.OpError{Op: "write", Net: nc.LocalAddr().Network(), Source: nc.LocalAddr(), Addr: nc.RemoteAddr(), Err: os.NewSyscallError("write", err)}
		}
	}
	return nil
}
