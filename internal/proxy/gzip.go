package proxy

import (
	"compress/gzip"
	"strconv"
	"sync"

	"github.com/stackctl/stackctl/internal/stack"
)

// gzipTypes are the response types compressed when proxy.gzip is on:
// text/html (always, as nginx) and stack.GzipTypes, which gen-nginx writes
// as gzip_types.
var gzipTypes = append([]string{"text/html"}, stack.GzipTypes...)

// gzipMinLength is nginx's gzip_min_length default.
const gzipMinLength = 20

// gzipLevel is gzip_comp_level (nginxconfig.io's 6).
const gzipLevel = 6

// gzipEligible is the first half of ngx_http_gzip_filter's decision, made
// on the response alone: status 200, 403 or 404, not already encoded, long
// enough when its length is known, one of gzipTypes. An eligible response
// gets "Vary: Accept-Encoding" (gzip_vary on) whether or not it is
// compressed.
func gzipEligible(resp *response) bool {
	if resp.status != 200 && resp.status != 403 && resp.status != 404 {
		return false
	}
	if len(resp.contentEnc) > 0 {
		return false
	}
	if resp.contentLength >= 0 && resp.contentLength < gzipMinLength {
		return false
	}
	return gzipType(resp.contentType)
}

// gzipAccepted is the second half (ngx_http_gzip_ok with gen-nginx's
// gzip_proxied any and the default gzip_http_version 1.1): an HTTP/1.1
// client that accepts gzip.
func gzipAccepted(r *request) bool {
	return r.minor >= 1 && acceptsGzip(r.acceptEncoding)
}

func gzipType(ct []byte) bool {
	n := len(ct)
	for i, c := range ct {
		if c == ';' || c == ' ' {
			n = i
			break
		}
	}
	for _, t := range gzipTypes {
		if eqFold(ct[:n], t) {
			return true
		}
	}
	return false
}

// acceptsGzip is ngx_http_gzip_ok's check: "gzip" among the codings and not
// refused with q=0.
func acceptsGzip(ae []byte) bool {
	for i := 0; i+4 <= len(ae); i++ {
		if !eqFold(ae[i:i+4], "gzip") {
			continue
		}
		if i > 0 && ae[i-1] != ',' && ae[i-1] != ' ' {
			continue
		}
		rest := ae[i+4:]
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		if len(rest) == 0 || rest[0] == ',' {
			return true
		}
		if rest[0] != ';' {
			continue
		}
		rest = rest[1:]
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		if len(rest) >= 2 && (rest[0] == 'q' || rest[0] == 'Q') && rest[1] == '=' {
			q := rest[2:]
			zero := len(q) > 0 && q[0] == '0'
			for j := 1; zero && j < len(q) && q[j] != ','; j++ {
				if q[j] != '.' && q[j] != '0' {
					zero = false
				}
			}
			return !zero
		}
		return true
	}
	return false
}

// appendGzipHeaders adds what nginx's gzip filter adds to a compressed
// response: Content-Encoding and the ETag made weak.
func appendGzipHeaders(b, etag []byte) []byte {
	b = append(b, "Content-Encoding: gzip\r\n"...)
	if len(etag) > 0 {
		b = append(b, "ETag: "...)
		if len(etag) < 2 || etag[0] != 'W' || etag[1] != '/' {
			b = append(b, "W/"...)
		}
		b = append(b, etag...)
		b = append(b, "\r\n"...)
	}
	return b
}

// bodyWriter frames a response body for the client.
type bodyWriter interface {
	Write(p []byte) (int, error)
	flush() error  // push buffered compressed data down (streaming)
	finish() error // write the end of the body
}

// rawWriter writes the body as is (Content-Length or close-delimited).
type rawWriter struct{ c *conn }

func (w rawWriter) Write(p []byte) (int, error) {
	n, err := w.c.bw.Write(p)
	w.c.bodyBytes += int64(n)
	return n, err
}
func (w rawWriter) flush() error  { return nil }
func (w rawWriter) finish() error { return nil }

// chunkWriter writes chunked transfer coding.
type chunkWriter struct{ c *conn }

func (w chunkWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var hdr [20]byte
	h := strconv.AppendInt(hdr[:0], int64(len(p)), 16)
	h = append(h, '\r', '\n')
	w.c.bw.Write(h)
	n, _ := w.c.bw.Write(p)
	_, err := w.c.bw.WriteString("\r\n")
	w.c.bodyBytes += int64(len(h) + n + 2)
	return n, err
}
func (w chunkWriter) flush() error { return nil }
func (w chunkWriter) finish() error {
	_, err := w.c.bw.WriteString("0\r\n\r\n")
	w.c.bodyBytes += 5
	return err
}

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzipLevel)
	return w
}}

// gzipWriter compresses into another bodyWriter.
type gzipWriter struct {
	zw   *gzip.Writer
	next bodyWriter
}

func (w *gzipWriter) Write(p []byte) (int, error) { return w.zw.Write(p) }
func (w *gzipWriter) flush() error                { return w.zw.Flush() }
func (w *gzipWriter) finish() error {
	err := w.zw.Close()
	w.zw.Reset(nil)
	gzipPool.Put(w.zw)
	if err != nil {
		return err
	}
	return w.next.finish()
}

func (c *conn) bodyWriter(chunked, gz bool) bodyWriter {
	var w bodyWriter = rawWriter{c}
	if chunked {
		w = chunkWriter{c}
	}
	if gz {
		zw := gzipPool.Get().(*gzip.Writer)
		zw.Reset(w)
		return &gzipWriter{zw: zw, next: w}
	}
	return w
}
