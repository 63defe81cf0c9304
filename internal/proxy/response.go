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
	resp.buf = resp.buf[:0]
	total := 0
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return errUpstreamTooBig
		}
		return err
	}
	total += len(line)
	line = trimEOL(line)
	// "HTTP/1.x NNN[ reason]"
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return errUpstreamHeader
	}
	http10 := line[7] == '0'
	st := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return errUpstreamHeader
		}
		st = st*10 + int(c-'0')
	}
	if st < 100 || len(line) > 12 && line[12] != ' ' {
		return errUpstreamHeader
	}
	resp.status = st
	resp.buf = append(resp.buf, line[9:]...)
	type span struct{ n, v [2]int }
	var spanBuf [24]span
	spans := spanBuf[:0]
	resp.contentLength = -1
	resp.chunked, resp.close = false, http10
	var connection [2]int
	var sawConn bool
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return errUpstreamTooBig
			}
			return err
		}
		total += len(l)
		if total > upstreamHeaderBuffer {
			return errUpstreamTooBig
		}
		l = trimEOL(l)
		if len(l) == 0 {
			break
		}
		ne, vs, ve, status := splitHeader(l)
		if status == invalidHeader {
			return errUpstreamHeader
		}
		// ignoredHeader (an underscore or another unusual character in
		// the name) only applies to requests: nginx parses an upstream's
		// header lines with underscores allowed and passes the others too.
		off := len(resp.buf)
		resp.buf = append(resp.buf, l...)
		sp := span{[2]int{off, off + ne}, [2]int{off + vs, off + ve}}
		spans = append(spans, sp)
		name, value := l[:ne], l[vs:ve]
		switch len(name) {
		case 10:
			if eqFold(name, "connection") {
				connection, sawConn = sp.v, true
			}
		case 14:
			if eqFold(name, "content-length") {
				n, rest, ok := parseDigits64(value)
				if !ok || len(rest) != 0 || resp.contentLength >= 0 && n != resp.contentLength {
					return errUpstreamHeader
				}
				resp.contentLength = n
			}
		case 17:
			if eqFold(name, "transfer-encoding") {
				if !containsFold(value, "chunked") {
					return errUpstreamHeader
				}
				resp.chunked = true
			}
		}
	}
	resp.statusLine = resp.buf[:len(line)-9]
	resp.headers = resp.headers[:0]
	resp.contentType, resp.contentEnc, resp.etag = nil, nil, nil
	for _, s := range spans {
		h := header{resp.buf[s.n[0]:s.n[1]:s.n[1]], resp.buf[s.v[0]:s.v[1]:s.v[1]]}
		resp.headers = append(resp.headers, h)
		switch {
		case eqFold(h.name, "content-type"):
			resp.contentType = h.value
		case eqFold(h.name, "content-encoding"):
			resp.contentEnc = h.value
		case eqFold(h.name, "etag"):
			resp.etag = h.value
		}
	}
	if sawConn {
		v := resp.buf[connection[0]:connection[1]]
		if containsFold(v, "close") {
			resp.close = true
		} else if http10 && containsFold(v, "keep-alive") {
			resp.close = false
		}
	}
	if resp.chunked {
		resp.contentLength = -1
	}
	return nil
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
