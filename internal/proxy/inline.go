package proxy

import (
	"bytes"
	"errors"
	"time"
)

// Serving requests inside the client connection's read callback (see
// pollReader): the wait for the next request on a keepalive connection then
// costs no read(2) that finds the socket empty. Only requests that need
// nothing more from the client once their head is in (no body, no upgrade)
// are served there; the others, and heads that do not fit the read buffer,
// end the session and are served by the ordinary blocking code, after which
// a new session starts.

// inlineState is where a session's callback left off between invocations.
type inlineState struct {
	phase     int
	s         *settings
	waitStart time.Time
	exit      int
}

const (
	phaseIdle      = iota // between requests
	phaseFirstByte        // waiting for a request's first byte
	phaseHead             // waiting for the rest of its head
)

const (
	exitClose    = iota // close the connection
	exitHandle          // serve c.req outside the session
	exitReadHead        // read the head outside the session, then serve it
)

// serveInline serves requests inside a session until one has to be served
// outside it, which it returns; ok is false when the connection is to be
// closed.
func (c *conn) serveInline() (r *request, s *settings, ok bool) {
	c.in = inlineState{phase: phaseIdle, exit: exitClose}
	err := c.pr.rc.Read(c.stepFn)
	c.pr.leaveSession()
	if err != nil {
		// Closed, client_header_timeout or keepalive_timeout while
		// waiting: nginx closes silently.
		return nil, nil, false
	}
	switch c.in.exit {
	case exitHandle:
		return &c.req, c.in.s, true
	case exitReadHead:
		return c.parseHead(c.in.s)
	}
	return nil, nil, false
}

// step is the session's RawConn.Read callback; it returns false to wait
// until the client connection is readable, true to end the session.
func (c *conn) step(fd uintptr) bool {
	c.pr.enterSession(fd)
	for {
		switch c.in.phase {
		case phaseIdle:
			s, waitStart, ok := c.beginWait()
			if !ok {
				return c.endSession(exitClose)
			}
			c.in.s, c.in.waitStart, c.in.phase = s, waitStart, phaseFirstByte

		case phaseFirstByte:
			if _, err := c.br.Peek(1); err != nil {
				return c.wouldBlock(err)
			}
			if !c.activate(c.in.s, c.in.waitStart) {
				return c.endSession(exitClose)
			}
			c.in.phase = phaseHead

		case phaseHead:
			if !headComplete(c.br.Peek(c.br.Buffered())) {
				if c.br.Buffered() == c.br.Size() {
					c.in.phase = phaseIdle
					return c.endSession(exitReadHead)
				}
				if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
					return c.wouldBlock(err)
				}
				continue
			}
			// The whole head is buffered: parsing it reads nothing.
			r, s, ok := c.parseHead(c.in.s)
			c.in.phase = phaseIdle
			if !ok {
				return c.endSession(exitClose)
			}
			if r.chunked || r.contentLength > 0 || r.upgrade != nil {
				c.in.s = s
				return c.endSession(exitHandle)
			}
			if !c.handle(r, s) {
				return c.endSession(exitClose)
			}
			c.first = false
		}
	}
}

func (c *conn) endSession(exit int) bool {
	c.in.exit = exit
	return true
}

// wouldBlock handles a read error in a session: errWouldBlock waits for
// the client (after sending what is still buffered for it, such as
// pipelined responses); any other error closes the connection.
func (c *conn) wouldBlock(err error) bool {
	if !errors.Is(err, errWouldBlock) {
		return c.endSession(exitClose)
	}
	if c.bw.Buffered() > 0 {
		if c.bw.Flush() != nil {
			return c.endSession(exitClose)
		}
	}
	return false
}

// headComplete reports whether b holds a whole request head as readHead
// reads it: empty lines first are skipped, and the head ends with an empty
// line ("\n" or "\r\n" after a line's "\n"). A request line without an
// HTTP version (HTTP/0.9) is complete by itself: readHead refuses it at
// once, as nginx answers it without waiting for header lines.
func headComplete(b []byte, _ error) bool {
	for {
		switch {
		case len(b) > 0 && b[0] == '\n':
			b = b[1:]
			continue
		case len(b) > 1 && b[0] == '\r' && b[1] == '\n':
			b = b[2:]
			continue
		}
		break
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 && !hasThreeFields(b[:i]) {
		return true
	}
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		b = b[i+1:]
		if len(b) > 0 && b[0] == '\n' || len(b) > 1 && b[0] == '\r' && b[1] == '\n' {
			return true
		}
	}
}
