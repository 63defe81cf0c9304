package proxy

import (
	"bufio"
	"errors"
)

// upstreamHeaderBuffer is nginx's proxy_buffer_size on amd64 (one 4k page):
// an upstream response head larger than this is a 502 ("upstream sent too
// big header").
const upstreamHeaderBuffer = 4096

// response is an upstream response head.
type response struct {
	status        int
	statusLine    []byte // "200 OK", as the upstream wrote it
	headers       []header
	contentLength int64 // -1 when absent
	chunked       bool
	close         bool // the upstream will close after this response
	contentType   []byte
	contentEnc    []byte
	etag          []byte
	buf           []byte
}

var (
	errUpstreamHeader = errors.New("upstream sent invalid header")
	errUpstreamTooBig = errors.New("upstream sent too big header (over proxy_buffer_size, 4k)")
)

// readResponseHead reads an upstream response head; interim 1xx responses
// other than 101 are skipped.
func readResponseHead(br *bufio.Reader, resp *response) error {
	for {
		if err := readOneResponseHead(br, resp); err != nil {
			return err
		}
		if resp.status >= 200 || resp.status == 101 {
			return nil
		}
	}
}

func readOneResponseHead(br *bufio.Reader, resp *response) error {
	resp.reset()
	total := 0 // bytes of the head so far, against proxy_buffer_size
	line, err := readUpstreamLine(br, &total)
	if err != nil {
		return err
	}
	status, http10, ok := parseStatusLine(line)
	if !ok {
		return errUpstreamHeader
	}
	resp.status, resp.close = status, http10
	resp.buf = append(resp.buf, line[9:]...) // "200 OK"
	resp.statusLine = resp.buf[:len(resp.buf):len(resp.buf)]
	var connection []byte
	for {
		l, err := readUpstreamLine(br, &total)
		if err != nil {
			return err
		}
		if len(l) == 0 {
			break
		}
		h, err := resp.add(l)
		if err != nil {
			return err
		}
		if eqFold(h.name, "connection") {
			connection = h.value
		}
	}
	if containsFold(connection, "close") {
		resp.close = true
	} else if http10 && containsFold(connection, "keep-alive") {
		resp.close = false
	}
	if resp.chunked {
		resp.contentLength = -1
	}
	return nil
}

// reset empties resp for the next head. Its buffer holds any head that
// fits proxy_buffer_size without growing, so slices into it stay valid.
func (resp *response) reset() {
	if cap(resp.buf) < upstreamHeaderBuffer {
		resp.buf = make([]byte, 0, upstreamHeaderBuffer)
	}
	resp.buf, resp.headers = resp.buf[:0], resp.headers[:0]
	resp.contentLength, resp.chunked = -1, false
	resp.contentType, resp.contentEnc, resp.etag = nil, nil, nil
}

// readUpstreamLine reads one line of an upstream response head, without
// its line end; *total counts the head's bytes, which must fit
// proxy_buffer_size.
func readUpstreamLine(br *bufio.Reader, total *int) ([]byte, error) {
	l, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errUpstreamTooBig
	}
	if err != nil {
		return nil, err
	}
	if *total += len(l); *total > upstreamHeaderBuffer {
		return nil, errUpstreamTooBig
	}
	return trimEOL(l), nil
}

// parseStatusLine parses "HTTP/1.x NNN[ reason]".
func parseStatusLine(line []byte) (status int, http10, ok bool) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return 0, false, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 || len(line) > 12 && line[12] != ' ' {
		return 0, false, false
	}
	return status, line[7] == '0', true
}

// add copies header line l into resp and reads what the proxy acts on:
// the body's framing and the values gzip and the head writer use. An
// underscore or another unusual character in the name is fine here:
// nginx parses an upstream's header lines with underscores allowed and
// passes the others too.
func (resp *response) add(l []byte) (header, error) {
	nameEnd, valStart, valEnd, status := splitHeader(l)
	if status == invalidHeader {
		return header{}, errUpstreamHeader
	}
	off := len(resp.buf)
	resp.buf = append(resp.buf, l...)
	b := resp.buf
	h := header{b[off : off+nameEnd : off+nameEnd], b[off+valStart : off+valEnd : off+valEnd]}
	resp.headers = append(resp.headers, h)
	switch n := h.name; {
	case eqFold(n, "content-length"):
		cl, rest, ok := parseDigits64(h.value)
		if !ok || len(rest) != 0 || resp.contentLength >= 0 && cl != resp.contentLength {
			return header{}, errUpstreamHeader
		}
		resp.contentLength = cl
	case eqFold(n, "transfer-encoding"):
		if !containsFold(h.value, "chunked") {
			return header{}, errUpstreamHeader
		}
		resp.chunked = true
	case eqFold(n, "content-type"):
		resp.contentType = h.value
	case eqFold(n, "content-encoding"):
		resp.contentEnc = h.value
	case eqFold(n, "etag"):
		resp.etag = h.value
	}
	return h, nil
}

// hiddenResponseHeader reports whether nginx keeps an upstream response
// header from the client: proxy_hide_header's defaults (Date, Server, X-Pad,
// X-Accel-*), the hop-by-hop headers it handles itself (Connection,
// Keep-Alive, Transfer-Encoding) and the ones it writes in its own place
// (Content-Length, Content-Type).
func hiddenResponseHeader(n []byte) bool {
	switch len(n) {
	case 4:
		return eqFold(n, "date")
	case 5:
		return eqFold(n, "x-pad")
	case 6:
		return eqFold(n, "server")
	case 10:
		return eqFold(n, "connection") || eqFold(n, "keep-alive")
	case 12:
		return eqFold(n, "content-type")
	case 14:
		return eqFold(n, "content-length")
	case 15:
		return eqFold(n, "x-accel-expires") || eqFold(n, "x-accel-charset")
	case 16:
		return eqFold(n, "x-accel-redirect")
	case 17:
		return eqFold(n, "transfer-encoding") || eqFold(n, "x-accel-buffering")
	case 18:
		return eqFold(n, "x-accel-limit-rate")
	}
	return false
}
