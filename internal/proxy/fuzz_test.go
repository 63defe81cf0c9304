package proxy

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzRequestHead feeds arbitrary bytes to the request parser. Whatever it
// accepts must turn into an upstream head that cannot smuggle: one request
// line, header lines that are "name: value" with no CR or LF inside, and
// one blank line at the end.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a?b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://h:1/p HTTP/1.0\r\nX-Forwarded-For: 1.2.3.4\r\nA_B: c\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\nFoo\n\n",
		"\r\n\r\nGET /%2e%2e/ HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 5\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r request
		br := bufio.NewReaderSize(bytes.NewReader(data), largeHeaderBuffer)
		if _, err := readHead(br, &r, nil, "example.com"); err != nil {
			return
		}
		head := appendUpstreamHead(nil, &r, true, "127.0.0.1", "http", r.contentLength)
		if !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			t.Fatalf("head does not end with a blank line: %q", head)
		}
		lines := strings.Split(string(head[:len(head)-4]), "\r\n")
		if f := strings.Split(lines[0], " "); len(f) != 3 || f[2] != "HTTP/1.1" {
			t.Fatalf("request line %q", lines[0])
		}
		for _, l := range lines {
			if strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("line %q holds CR, LF or NUL", l)
			}
		}
		for _, l := range lines[1:] {
			name, _, ok := strings.Cut(l, ": ")
			if !ok && !strings.HasSuffix(l, ":") {
				t.Fatalf("header line %q", l)
			}
			if name == "" || strings.ContainsAny(name, " \t:_") {
				t.Fatalf("header name %q", name)
			}
		}
		if !strings.HasPrefix(r.path, "/") || strings.Contains(r.path, "/../") || strings.HasSuffix(r.path, "/..") {
			t.Fatalf("normalised path %q", r.path)
		}
	})
}
