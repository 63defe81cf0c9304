package parity

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Response is one HTTP response as read off the wire, unnormalised.
type Response struct {
	// Proto, Status and Reason are the status line's parts ("HTTP/1.1",
	// 200, "OK"). An HTTP/0.9 answer (a body without a status line) has
	// Proto "HTTP/0.9" and Status 0.
	Proto  string
	Status int
	Reason string
	// Headers are the header lines in order, names as sent.
	Headers []Field
	// Trailers are the trailer lines of a chunked body.
	Trailers []Field
	// Chunked tells that the body came chunked.
	Chunked bool
	// Body is the decoded body (chunks joined).
	Body []byte
	// Truncated tells that the connection ended (or the deadline passed)
	// before the body was complete; Body holds what arrived.
	Truncated bool
	// Interim are the 1xx responses that came before this one.
	Interim []*Response
}

// Header returns the first value of the header named name (compared
// case-insensitively), or "".
func (r *Response) Header(name string) string {
	for _, f := range r.Headers {
		if strings.EqualFold(f.Name, name) {
			return string(f.Value)
		}
	}
	return ""
}

// Values returns every value of the header named name, in order.
func (r *Response) Values(name string) []string {
	var out []string
	for _, f := range r.Headers {
		if strings.EqualFold(f.Name, name) {
			out = append(out, string(f.Value))
		}
	}
	return out
}

// Conn is a raw HTTP/1.1 client connection: it writes exactly the bytes it
// is given and parses responses without the normalisation net/http applies.
// Every read has a deadline.
type Conn struct {
	c  net.Conn
	br *bufio.Reader
	// Timeout bounds each read of a response (head and body together).
	Timeout time.Duration
}

// Dial connects to addr with the given timeout, which also becomes the
// Conn's read Timeout.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, br: bufio.NewReader(c), Timeout: timeout}, nil
}

// DialTLS is Dial over TLS with config; the handshake is done before it
// returns.
func DialTLS(addr string, config *tls.Config, timeout time.Duration) (*Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, config)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, br: bufio.NewReader(c), Timeout: timeout}, nil
}

// Write sends p as it is.
func (c *Conn) Write(p []byte) error {
	c.c.SetWriteDeadline(time.Now().Add(c.Timeout))
	_, err := c.c.Write(p)
	return err
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// NetConn returns the underlying connection (for a WebSocket after a 101).
func (c *Conn) NetConn() net.Conn { return c.c }

// Reader returns the buffered reader holding what arrived after the last
// response read (WebSocket frames after a 101).
func (c *Conn) Reader() *bufio.Reader { return c.br }

// ReadResponse reads the next complete response to a request made with
// method, collecting 1xx responses other than 101 into Interim. A body cut
// short by the peer or the deadline is returned with Truncated set and no
// error.
func (c *Conn) ReadResponse(method string) (*Response, error) {
	var interim []*Response
	for {
		r, err := c.ReadHead()
		if err != nil {
			return nil, err
		}
		if r.Status >= 100 && r.Status < 200 && r.Status != 101 {
			interim = append(interim, r)
			continue
		}
		r.Interim = interim
		body := c.Body(r, method)
		r.Body, err = io.ReadAll(body)
		if err != nil {
			r.Truncated = true
		}
		if cb, ok := body.(*chunkedBody); ok {
			r.Trailers = cb.trailers
		}
		return r, nil
	}
}

// ReadHead reads a status line and the header lines, leaving the body
// unread. Input that does not start like a status line is read as an HTTP/0.9
// answer: everything up to the close is the body.
func (c *Conn) ReadHead() (*Response, error) {
	c.c.SetReadDeadline(time.Now().Add(c.Timeout))
	peek, err := c.br.Peek(5)
	if err != nil && len(peek) == 0 {
		return nil, fmt.Errorf("no response: %w", err)
	}
	if string(peek) != "HTTP/"[:len(peek)] || len(peek) < 5 {
		return &Response{Proto: "HTTP/0.9"}, nil
	}
	line, err := readLine(c.br, 1<<16)
	if err != nil {
		return nil, fmt.Errorf("status line: %w", err)
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, reason, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 {
		return nil, fmt.Errorf("status line %q has no status code", line)
	}
	fields, err := readFields(c.br, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("response headers: %w", err)
	}
	return &Response{Proto: proto, Status: status, Reason: reason, Headers: fields}, nil
}

// Body returns a reader of r's body as its framing says: none for HEAD, 1xx,
// 204 and 304; chunked; Content-Length; otherwise up to the close. Reads
// share the Conn's deadline set by ReadHead; call Extend to move it.
func (c *Conn) Body(r *Response, method string) io.Reader {
	switch {
	case r.Proto == "HTTP/0.9":
		return c.br
	case method == "HEAD" || r.Status < 200 || r.Status == 204 || r.Status == 304:
		return strings.NewReader("")
	case strings.EqualFold(strings.TrimSpace(r.Header("Transfer-Encoding")), "chunked"):
		r.Chunked = true
		return &chunkedBody{br: c.br}
	case r.Header("Content-Length") != "":
		n, err := strconv.ParseInt(r.Header("Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return &errReader{fmt.Errorf("content-length %q is not a length", r.Header("Content-Length"))}
		}
		return &exactReader{r: io.LimitReader(c.br, n), left: n}
	}
	return c.br
}

// Extend moves the read deadline to Timeout from now.
func (c *Conn) Extend() { c.c.SetReadDeadline(time.Now().Add(c.Timeout)) }

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// exactReader reports io.ErrUnexpectedEOF when fewer than the promised bytes
// arrive.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if errors.Is(err, io.EOF) && e.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if e.left == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

// chunkedBody decodes a chunked body.
type chunkedBody struct {
	br       *bufio.Reader
	left     int64
	done     bool
	trailers []Field
}

func (cb *chunkedBody) Read(p []byte) (int, error) {
	if cb.done {
		return 0, io.EOF
	}
	if cb.left == 0 {
		line, err := readLine(cb.br, 4096)
		if err != nil {
			return 0, fmt.Errorf("chunk size: %w", err)
		}
		sizeText, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
		if err != nil || size < 0 {
			return 0, fmt.Errorf("chunk size %q is not hexadecimal", line)
		}
		if size == 0 {
			cb.trailers, err = readFields(cb.br, 1<<20)
			cb.done = true
			if err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		cb.left = size
	}
	if int64(len(p)) > cb.left {
		p = p[:cb.left]
	}
	n, err := cb.br.Read(p)
	cb.left -= int64(n)
	if cb.left == 0 && err == nil {
		if end, e := readLine(cb.br, 2); e != nil || end != "" {
			return n, fmt.Errorf("chunk not followed by CRLF")
		}
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Do dials addr, sends req exactly, reads the response to it and closes the
// connection. method tells how to frame the body (HEAD has none); timeout
// bounds the dial and the read.
func Do(addr string, req []byte, method string, timeout time.Duration) (*Response, error) {
	return DoTLS(addr, nil, req, method, timeout)
}

// DoTLS is Do over TLS with config, or plain TCP when config is nil.
func DoTLS(addr string, config *tls.Config, req []byte, method string, timeout time.Duration) (*Response, error) {
	var c *Conn
	var err error
	if config != nil {
		c, err = DialTLS(addr, config, timeout)
	} else {
		c, err = Dial(addr, timeout)
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Write(req); err != nil {
		// The server may answer and close before reading everything
		// (an early 413); read the answer anyway.
		if r, rerr := c.ReadResponse(method); rerr == nil {
			return r, nil
		}
		return nil, err
	}
	return c.ReadResponse(method)
}
