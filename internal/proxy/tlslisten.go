package proxy

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// ServeTLS is Serve for HTTPS on one port, as the TLS site of gen-nginx
// serves it on two (443 and a port-80 block that redirects): a connection
// whose first byte starts a TLS handshake (0x16) is served over TLS with
// config, with $scheme https (X-Forwarded-Proto: https, HSTS as
// nginx.tls.hsts says, https redirects); any other is plain HTTP, and each
// of its requests is answered with a 301 to the same URI over https.
func (p *Proxy) ServeTLS(ln net.Listener, config *tls.Config) error {
	return p.Serve(newHTTPSListener(ln, config, p.settings.Load().headerTimeout))
}

// tlsHandshakeByte is the first byte of a TLS record carrying a handshake
// (ClientHello): a plain HTTP request never starts with it.
const tlsHandshakeByte = 0x16

// httpsListener accepts connections on ln in the background, reads each
// one's first byte (waiting at most sniffTimeout, client_header_timeout)
// and hands it to Accept as a *tls.Conn or a *plainConn. A client that
// sends nothing never holds up the others.
type httpsListener struct {
	ln           net.Listener
	config       *tls.Config
	sniffTimeout time.Duration

	ready chan net.Conn
	done  chan struct{}
	once  sync.Once
	err   error // why Accept fails, once done is closed

	mu      sync.Mutex
	pending map[net.Conn]struct{} // being sniffed; closed by Close
}

func newHTTPSListener(ln net.Listener, config *tls.Config, sniffTimeout time.Duration) *httpsListener {
	l := &httpsListener{
		ln:           ln,
		config:       config,
		sniffTimeout: sniffTimeout,
		ready:        make(chan net.Conn),
		done:         make(chan struct{}),
		pending:      map[net.Conn]struct{}{},
	}
	go l.acceptLoop()
	return l
}

func (l *httpsListener) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-l.done:
					return
				}
			}
			l.stop(err)
			return
		}
		delay = 0
		l.mu.Lock()
		select {
		case <-l.done:
			l.mu.Unlock()
			nc.Close()
			return
		default:
		}
		l.pending[nc] = struct{}{}
		l.mu.Unlock()
		go l.sniff(nc)
	}
}

// sniff reads nc's first byte and passes the connection on.
func (l *httpsListener) sniff(nc net.Conn) {
	var b [1]byte
	nc.SetReadDeadline(time.Now().Add(l.sniffTimeout))
	_, err := io.ReadFull(nc, b[:])
	nc.SetReadDeadline(time.Time{})
	l.mu.Lock()
	delete(l.pending, nc)
	l.mu.Unlock()
	if err != nil {
		// Nothing sent before client_header_timeout, or closed: nginx
		// closes without an answer.
		nc.Close()
		return
	}
	pc := &plainConn{Conn: nc, first: b[0], hasFirst: true}
	var c net.Conn = pc
	if b[0] == tlsHandshakeByte {
		c = tls.Server(pc, l.config)
	}
	select {
	case l.ready <- c:
	case <-l.done:
		nc.Close()
	}
}

// Accept returns the next sniffed connection.
func (l *httpsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// Close stops accepting and closes the connections still being sniffed.
func (l *httpsListener) Close() error {
	err := l.ln.Close()
	l.stop(net.ErrClosed)
	return err
}

func (l *httpsListener) stop(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		close(l.done)
		for nc := range l.pending {
			nc.Close()
		}
		l.mu.Unlock()
		l.ln.Close()
	})
}

// Addr is the underlying listener's address.
func (l *httpsListener) Addr() net.Addr { return l.ln.Addr() }

// plainConn is an accepted connection whose first byte was read to tell
// TLS from plain HTTP; Read returns that byte first. As the proxy's
// connection, it is plain HTTP on the HTTPS port (redirected); under a
// *tls.Conn it is the TLS connection's transport.
type plainConn struct {
	net.Conn
	first    byte
	hasFirst bool
}

func (c *plainConn) Read(p []byte) (int, error) {
	if c.hasFirst && len(p) > 0 {
		p[0] = c.first
		c.hasFirst = false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite shuts down the writing side (lingering close).
func (c *plainConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("proxy: the connection cannot close its writing side")
}
