package proxy

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"time"
)

// errBodyTooLarge is returned by readBody when a chunked body grows past
// client_max_body_size.
var errBodyTooLarge = errors.New("request body too large")

// readBody reads the whole request body into dst, as nginx does before it
// contacts the upstream (proxy_request_buffering on). A chunked body is
// decoded and counted against max (0: no limit); nginx then sends it
// upstream with a Content-Length.
func readBody(br *bufio.Reader, r *request, dst []byte, max int64) ([]byte, error) {
	dst = dst[:0]
	if !r.chunked {
		n := int(r.contentLength)
		if cap(dst) < n {
			dst = make([]byte, n)
		}
		dst = dst[:n]
		_, err := io.ReadFull(br, dst)
		return dst, err
	}
	cr := chunkedReader{br: br}
	for {
		size, err := cr.nextChunk()
		if err != nil {
			return dst, err
		}
		if size == 0 {
			return dst, nil
		}
		if max > 0 && int64(len(dst))+size > max {
			return dst, errBodyTooLarge
		}
		start := len(dst)
		dst = append(dst, make([]byte, size)...)
		if _, err := io.ReadFull(br, dst[start:]); err != nil {
			return dst, err
		}
		if err := cr.endChunk(); err != nil {
			return dst, err
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
	c.dl.setRead(c.nc, time.Now(), s.bodyTimeout)
	var err error
	c.body, err = readBody(c.br, r, c.body, s.maxBodySize)
	switch {
	case err == nil:
		return int64(len(c.body)), nil
	case err == errBodyTooLarge:
		return 0, &statusError{413, "the chunked request body grew past client_max_body_size (" + strconv.FormatInt(s.maxBodySize, 10) + " bytes)"}
	case err == errBadChunk:
		return 0, &statusError{400, "client sent invalid chunked body"}
	case isTimeout(err):
		return 0, &statusError{408, "client timed out sending the request body (client_body_timeout)"}
	default:
		return 0, &statusError{499, "client closed the connection while sending the body: " + err.Error()}
	}
}
