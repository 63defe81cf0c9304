package proxy

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strconv"
)

// errBodyTooLarge is returned by readBody when a chunked body grows past
// client_max_body_size.
var errBodyTooLarge = errors.New("request body too large")

// memoryBodyLimit is how much of a request body is kept in memory; the
// rest goes to an unlinked temporary file, as nginx moves a body larger
// than client_body_buffer_size to client_body_temp_path.
const memoryBodyLimit = 1 << 20

// requestBody is a buffered request body.
type requestBody struct {
	mem  []byte
	file *os.File // nil while the body fits in mem
	n    int64
}

func (b *requestBody) reset() {
	if b.file != nil {
		b.file.Close()
		b.file = nil
	}
	if cap(b.mem) > 64<<10 {
		b.mem = nil // do not keep large buffers on idle connections
	}
	b.mem = b.mem[:0]
	b.n = 0
}

// spoolError is a failure to store a request body in its temporary file
// (a full or read-only disk): nginx answers 500.
type spoolError struct{ err error }

func (e *spoolError) Error() string { return "storing the request body on disk: " + e.err.Error() }
func (e *spoolError) Unwrap() error { return e.err }

func (b *requestBody) Write(p []byte) (int, error) {
	if b.file == nil && len(b.mem)+len(p) > memoryBodyLimit {
		f, err := os.CreateTemp("", "stackctl-body-*")
		if err != nil {
			return 0, &spoolError{err}
		}
		os.Remove(f.Name()) // unlinked: gone when closed, whatever happens
		if _, err := f.Write(b.mem); err != nil {
			f.Close()
			return 0, &spoolError{err}
		}
		b.file = f
	}
	b.n += int64(len(p))
	if b.file != nil {
		n, err := b.file.Write(p)
		if err != nil {
			return n, &spoolError{err}
		}
		return n, nil
	}
	b.mem = append(b.mem, p...)
	return len(p), nil
}

// readBody reads the whole request body into body, as nginx does before
// it contacts the upstream (proxy_request_buffering on). A chunked body is
// decoded and counted against max (0: no limit); nginx then sends it
// upstream with a Content-Length.
func readBody(br *bufio.Reader, r *request, body *requestBody, max int64) error {
	body.reset()
	if !r.chunked {
		_, err := io.CopyN(body, br, r.contentLength)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	cr := chunkedReader{br: br}
	for {
		size, err := cr.nextChunk()
		if err != nil {
			return err
		}
		if size == 0 {
			return nil
		}
		if max > 0 && body.n+size > max {
			return errBodyTooLarge
		}
		if _, err := io.CopyN(body, br, size); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if err := cr.endChunk(); err != nil {
			return err
		}
	}
}

// chunkedReader decodes HTTP/1.1 chunked framing (chunk extensions ignored,
// trailers read and dropped, like nginx).
type chunkedReader struct {
	br        *bufio.Reader
	remaining int64 // bytes left in the current chunk
	done      bool
}

var errBadChunk = errors.New("invalid chunked body")

// nextChunk reads a chunk-size line; 0 means the last chunk, whose trailer
// it consumes.
func (cr *chunkedReader) nextChunk() (int64, error) {
	line, err := cr.br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return 0, errBadChunk
		}
		return 0, err
	}
	line = trimEOL(line)
	var size int64
	i := 0
	for ; i < len(line); i++ {
		v, ok := unhex(line[i])
		if !ok {
			break
		}
		if size > 1<<50 {
			return 0, errBadChunk
		}
		size = size<<4 | int64(v)
	}
	if i == 0 || i < len(line) && line[i] != ';' && line[i] != ' ' && line[i] != '\t' {
		return 0, errBadChunk
	}
	if size == 0 {
		for {
			l, err := cr.br.ReadSlice('\n')
			if err != nil {
				if err == bufio.ErrBufferFull {
					return 0, errBadChunk
				}
				return 0, err
			}
			if len(trimEOL(l)) == 0 {
				break
			}
		}
		cr.done = true
	}
	cr.remaining = size
	return size, nil
}

// endChunk consumes the CRLF after a chunk's data.
func (cr *chunkedReader) endChunk() error {
	b, err := cr.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(trimEOL(b)) != 0 {
		return errBadChunk
	}
	return nil
}

// readRequestBody reads the request body for the proxy, answering 100
// Continue first when the client asked for it, and maps errors to what
// nginx answers: 413 over the limit, 400 for bad framing, 408 (logged, the
// connection just closed) on client_body_timeout.
func (c *conn) readRequestBody(r *request, s *settings) (int64, *statusError) {
	if !r.chunked && r.contentLength < 0 {
		return -1, nil
	}
	if r.expect100 && r.minor >= 1 && (r.chunked || r.contentLength > 0) && c.br.Buffered() == 0 {
		c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err := c.bw.Flush(); err != nil {
			return 0, &statusError{499, "client closed the connection"}
		}
	}
	// client_body_timeout runs between two reads.
	c.pr.idle = s.bodyTimeout
	err := readBody(c.br, r, &c.body, s.maxBodySize)
	c.pr.idle = 0
	switch {
	case err == nil:
		c.linger = false
		return c.body.n, nil
	case err == errBodyTooLarge:
		return 0, &statusError{413, "the chunked request body grew past client_max_body_size (" + strconv.FormatInt(s.maxBodySize, 10) + " bytes)"}
	case err == errBadChunk:
		return 0, &statusError{400, "client sent invalid chunked body"}
	case errors.As(err, new(*spoolError)):
		return 0, &statusError{500, err.Error()}
	case isTimeout(err):
		return 0, &statusError{408, "client timed out sending the request body (client_body_timeout)"}
	default:
		return 0, &statusError{499, "client closed the connection while sending the body: " + err.Error()}
	}
}
