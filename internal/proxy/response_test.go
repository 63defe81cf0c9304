package proxy

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

// TestReadResponseHead pins how an upstream's response head is read: the
// framing and keepalive the proxy acts on, and the heads nginx calls
// invalid (502) or too big for proxy_buffer_size (502).
func TestReadResponseHead(t *testing.T) {
	big := "X-Big: " + strings.Repeat("b", upstreamHeaderBuffer) + "\r\n"
	for _, tc := range []struct {
		name, head string
		err        error
		status     int
		length     int64
		chunked    bool
		close      bool
		ctype      string
		headers    int
	}{
		{name: "length", head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
			status: 200, length: 5, ctype: "text/plain", headers: 2},
		{name: "chunked wins over length", head: "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			status: 201, length: -1, chunked: true, headers: 2},
		{name: "no reason, no length", head: "HTTP/1.1 404\r\n\r\n", status: 404, length: -1},
		{name: "interim answers skipped", head: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
			status: 204, length: -1},
		{name: "101 is final", head: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
			status: 101, length: -1, headers: 2},
		{name: "HTTP/1.0 closes", head: "HTTP/1.0 200 OK\r\n\r\n", status: 200, length: -1, close: true},
		{name: "HTTP/1.0 keep-alive", head: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
			status: 200, length: 0, headers: 2},
		{name: "Connection: close", head: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
			status: 200, length: 0, close: true, headers: 2},
		{name: "underscore passed", head: "HTTP/1.1 200 OK\r\nX_Under: 1\r\n\r\n", status: 200, length: -1, headers: 1},
		{name: "same length twice", head: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
			status: 200, length: 1, headers: 2},
		{name: "two lengths", head: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", err: errUpstreamHeader},
		{name: "bad length", head: "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", err: errUpstreamHeader},
		{name: "unknown transfer coding", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", err: errUpstreamHeader},
		{name: "bad status line", head: "HTTP/1.1 2000 OK\r\n\r\n", err: errUpstreamHeader},
		{name: "not HTTP", head: "ICY 200 OK\r\n\r\n", err: errUpstreamHeader},
		{name: "status under 100", head: "HTTP/1.1 099 Odd\r\n\r\n", err: errUpstreamHeader},
		{name: "space in a name", head: "HTTP/1.1 200 OK\r\nX Y: 1\r\n\r\n", err: errUpstreamHeader},
		{name: "over proxy_buffer_size", head: "HTTP/1.1 200 OK\r\n" + big + "\r\n", err: errUpstreamTooBig},
		{name: "many lines over proxy_buffer_size", head: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 100)+"\r\n", 40) + "\r\n", err: errUpstreamTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp response
			err := readResponseHead(bufio.NewReaderSize(strings.NewReader(tc.head), upstreamHeaderBuffer), &resp)
			if tc.err != nil || err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if resp.status != tc.status || resp.contentLength != tc.length || resp.chunked != tc.chunked ||
				resp.close != tc.close || string(resp.contentType) != tc.ctype || len(resp.headers) != tc.headers {
				t.Errorf("got status %d length %d chunked %v close %v type %q headers %d",
					resp.status, resp.contentLength, resp.chunked, resp.close, resp.contentType, len(resp.headers))
			}
			final := tc.head[strings.LastIndex(tc.head, "HTTP/1."):]
			if want := final[9:strings.Index(final, "\r\n")]; string(resp.statusLine) != want {
				t.Errorf("status line %q, want %q", resp.statusLine, want)
			}
		})
	}
}
