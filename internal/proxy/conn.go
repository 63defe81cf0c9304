package proxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var errTooManyFiles = syscall.EMFILE

// Connection states, for Shutdown: an idle connection (between requests) is
// closed at once, an active one after its response.
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

// conn is one client connection; requests on it are served one at a time.
type conn struct {
	p        *Proxy
	nc       net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	remoteIP string
	clientIP net.IP
	port     *string // portSuffix, once known
	// tls is true on a connection served over TLS (ServeTLS): $scheme is
	// https. toHTTPS is true on a plain HTTP connection to ServeTLS's
	// port, whose every request is redirected to https (the TLS site's
	// port-80 server block).
	tls     bool
	toHTTPS bool
	dl      deadlines
	state   atomic.Int32

	pr     *pollReader
	pw     *pollWriter
	stepFn func(fd uintptr) bool // c.step, bound once
	in     inlineState
	first  bool // no request was read yet
	// linger is true while the client may still be sending a request body
	// the proxy did not read: closing then lingers (lingeringClose).
	linger bool

	head []byte
	req  request
	// A static answer's open file, its body reader and its ETag and
	// Last-Modified values, reused from request to request.
	file       staticFile
	fileBody   io.LimitedReader
	validators []byte

	resp    response
	scratch []byte
	body    requestBody

	// app is the upstream connection the current request uses, for abort.
	app atomic.Pointer[appConn]

	// activePeer is the upstream server counting this request as active
	// (see releasePeer).
	activePeer *peer

	// What the access log reports about the current request.
	status    int
	bodyBytes int64
	upstream  string
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, largeHeaderBuffer) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8192) }}
)

func newConn(p *Proxy, nc net.Conn) *conn {
	c := &conn{p: p, nc: nc}
	switch a := nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		c.clientIP = a.IP
		if v4 := a.IP.To4(); v4 != nil {
			c.clientIP = v4
		}
		c.remoteIP = c.clientIP.String()
	default:
		c.remoteIP = "unix:"
	}
	switch nc := nc.(type) {
	case *net.TCPConn:
		nc.SetNoDelay(true)
	case *tls.Conn:
		c.tls = true
	case *plainConn:
		c.toHTTPS = true
	}
	return c
}

// scheme is nginx's $scheme for the connection.
func (c *conn) scheme() string {
	if c.tls {
		return "https"
	}
	return "http"
}

// abort ends the connection and its request now (Shutdown's grace is
// over). A request served inside the connection's read callback (see
// inline.go) holds the socket: closing it waits until the callback
// returns, so the request's upstream connection is closed first, which
// ends the wait for the app.
func (c *conn) abort() {
	if app := c.app.Load(); app != nil {
		app.nc.Close()
	}
	c.nc.Close()
}

func (c *conn) closeIfIdle() {
	if c.state.CompareAndSwap(stateIdle, stateClosed) {
		c.nc.Close()
	}
}

func (c *conn) serve() {
	c.pr = newPollReader(c.nc, &c.dl)
	c.pw = newPollWriter(c.nc, &c.dl)
	c.stepFn = c.step
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.pr)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(c.pw)
	defer func() {
		c.body.reset()
		c.nc.Close()
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.p.forget(c)
	}()
	c.first = true
	for {
		var r *request
		var s *settings
		var ok bool
		if c.pr.rc != nil {
			r, s, ok = c.serveInline()
		} else {
			r, s, ok = c.readRequest()
		}
		if !ok {
			return
		}
		if !c.handle(r, s) {
			// The answer may still be buffered when the request's unread
			// body is why the connection closes (flushIfIdle saw it).
			if c.bw.Flush() == nil && c.linger {
				c.lingeringClose()
			}
			return
		}
		c.first = false
	}
}

// readRequest waits for the next request on the connection and reads its
// head. ok is false when the connection is to be closed.
func (c *conn) readRequest() (r *request, s *settings, ok bool) {
	s, waitStart, ok := c.beginWait()
	if !ok {
		return nil, nil, false
	}
	if _, err := c.br.Peek(1); err != nil {
		return nil, nil, false // closed or keepalive_timeout: nginx closes silently
	}
	if !c.activate(s, waitStart) {
		return nil, nil, false
	}
	return c.parseHead(s)
}

// beginWait starts waiting for a request: the connection is idle (Shutdown
// may close it) and the read deadline is client_header_timeout for the
// first request, keepalive_timeout for the next ones.
func (c *conn) beginWait() (*settings, time.Time, bool) {
	s := c.p.settings.Load()
	c.state.Store(stateIdle)
	if c.p.closing.Load() {
		return nil, time.Time{}, false
	}
	wait := s.keepaliveTimeout
	if c.first {
		wait = s.headerTimeout
	}
	now := time.Now()
	c.dl.setRead(c.nc, now, wait)
	c.pw.idle = s.clientSendTimeout
	return s, now, true
}

// activate marks the connection busy once a request's first byte arrived.
func (c *conn) activate(s *settings, waitStart time.Time) bool {
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		return false
	}
	start := time.Now()
	// client_header_timeout from the first byte; when the request
	// follows the previous one closely, the idle deadline (at most
	// keepalive_timeout - client_header_timeout later) is kept.
	if !c.first && start.Sub(waitStart) > s.keepaliveTimeout-s.headerTimeout {
		c.dl.setRead(c.nc, start, s.headerTimeout)
	}
	c.req.start = start
	c.status, c.bodyBytes, c.upstream = 0, 0, ""
	return true
}

// parseHead reads the request head; a bad one is answered like nginx does
// (ok is false: the connection closes).
func (c *conn) parseHead(s *settings) (*request, *settings, bool) {
	r := &c.req
	var err error
	c.head, err = readHead(c.br, r, c.head, s.serverName)
	if err != nil {
		var refusal *statusError
		if errors.As(err, &refusal) {
			// nginx answers a bad request head and closes.
			c.writeError(r, s, refusal.status, refusal.reason, false)
			c.logRequest(r)
		}
		// A timeout (client_header_timeout) or a reset: nginx closes
		// without an answer.
		return nil, nil, false
	}
	return r, s, true
}

// handle serves one request and reports whether the connection stays open.
func (c *conn) handle(r *request, s *settings) bool {
	keep := r.keepAlive && !c.p.closing.Load()
	c.linger = hasBody(r) // until readRequestBody has read it
	// nginx refuses TRACE (and, since 1.21.1, CONNECT) itself, before any
	// server block's rules.
	if eqFold(r.method, "trace") || eqFold(r.method, "connect") {
		keep = c.writeError(r, s, 405, "nginx does not allow the "+string(r.method)+" method", keep && !hasBody(r))
	} else if c.toHTTPS {
		keep = c.redirectToHTTPS(r, s, keep)
	} else if loc := redirectTarget(r, s, c.scheme(), c.portSuffix()); loc != "" {
		// The redirect's server block answers at nginx's server rewrite
		// phase, before a location's client_max_body_size is looked at.
		keep = c.writeRedirect(r, s, loc, keep && !hasBody(r))
	} else if s.maxBodySize > 0 && r.contentLength > s.maxBodySize {
		keep = c.writeError(r, s, 413, "the request body is "+strconv.FormatInt(r.contentLength, 10)+
			" bytes, more than client_max_body_size ("+strconv.FormatInt(s.maxBodySize, 10)+" bytes)", false)
	} else if hiddenPath(r.path) {
		keep = c.writeError(r, s, 403, "hidden files and folders ("+r.path+") are never served (the site's location ~ /\\.(?!well-known))", keep && !hasBody(r))
	} else if sd := s.staticFor(r.path); sd != nil {
		keep = c.serveStatic(r, s, sd, keep && !hasBody(r))
	} else {
		keep = c.proxy(r, s, keep)
	}
	c.logRequest(r)
	return keep
}

func hasBody(r *request) bool { return r.chunked || r.contentLength > 0 }

// hiddenPath reports whether gen-nginx's `location ~ /\.(?!well-known)
// { deny all; }` matches the normalised path: a segment starting with a
// dot, other than /.well-known. The regex location wins over the static
// prefix locations and location /.
func hiddenPath(path string) bool {
	for i := 0; i+1 < len(path); i++ {
		if path[i] == '/' && path[i+1] == '.' && !strings.HasPrefix(path[i+1:], ".well-known") {
			return true
		}
	}
	return false
}

// flush writes out the buffered response unless the client already sent
// its next request (pipelining), which then shares the write.
func (c *conn) flushIfIdle() error {
	if c.br.Buffered() > 0 {
		return nil
	}
	return c.bw.Flush()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// nginx's lingering_time and lingering_timeout.
const (
	lingeringTime    = 30 * time.Second
	lingeringTimeout = 5 * time.Second
)

// lingeringClose ends a connection whose client may still be sending a
// body the proxy did not read (its own 413, a redirect or a 403 to an
// upload), like nginx's lingering_close: it stops writing, so the client
// has the answer and its end, then reads and discards what still comes
// for up to lingeringTime, each read waiting at most lingeringTimeout.
// Closing with unread input would make the kernel reset the connection,
// and a client still writing its body would lose the answer.
func (c *conn) lingeringClose() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	// Nothing more to answer: Shutdown may close it at once.
	if !c.state.CompareAndSwap(stateActive, stateIdle) || c.p.closing.Load() {
		return
	}
	end := time.Now().Add(lingeringTime)
	buf := make([]byte, 16<<10)
	for {
		wait := min(time.Until(end), lingeringTimeout)
		if wait <= 0 {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(wait))
		if _, err := c.nc.Read(buf); err != nil {
			return
		}
	}
}
