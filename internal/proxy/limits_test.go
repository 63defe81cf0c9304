package proxy

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRefusedRequestsLikeNginx(t *testing.T) {
	up := startEcho(t)
	c := testConfig(t)
	c.Proxy.ClientMaxBodySize = "10"
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name   string
		raw    string
		status int
	}{
		// Request line up to 8k (with its CRLF) passes; longer is 414.
		{"uri just fits", "GET /" + long(8170) + " HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"uri too long", "GET /" + long(8181) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"header line fits", "GET / HTTP/1.1\r\nHost: x\r\nX: " + long(8185) + "\r\n\r\n", 200},
		{"header line too long", "GET / HTTP/1.1\r\nHost: x\r\nX: " + long(8195) + "\r\n\r\n", 400},
		{"headers fit 4x8k", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: "+long(4000)+"\r\n", 7) + "\r\n", 200},
		{"headers over 4x8k", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: "+long(4000)+"\r\n", 9) + "\r\n", 400},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"duplicate CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 400},
		{"negative CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"unknown TE", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"no Host on 1.1", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		{"empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400},
		{"space in header name", "GET / HTTP/1.1\r\nHost: x\r\nX Y: b\r\n\r\n", 400},
		{"folded header", "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400},
		{"space in URI", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"control char in URI", "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"dotdot above root", "GET /../x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"encoded dotdot above root", "GET /%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"encoded NUL", "GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad escape", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"lower-case method", "get / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"relative URI", "GET x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"body over limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890", 413},
		{"body at limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", 200},
		{"chunked body over limit", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n", 413},
		{"bad chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nFoo\r\n\r\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawExchange(t, addr, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tc.status, body)
			}
			if tc.status != 200 && tc.status != 413 && !resp.Close {
				t.Errorf("connection kept open after %d", tc.status)
			}
			if tc.status == 431 {
				t.Error("nginx never answers 431")
			}
		})
	}
}

func TestExpectContinue(t *testing.T) {
	up := startEcho(t)
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{up.addr}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
	buf := make([]byte, 25)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatalf("got %q, %v; want 100 Continue before the body", buf, err)
	}
	io.WriteString(c, "abc")
	rest, _ := io.ReadAll(io.LimitReader(c, 200))
	mustContain(t, string(rest), "200 OK")
}

func TestSlowlorisHeaderTimeout(t *testing.T) {
	up := startEcho(t)
	p, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{up.addr}})
	s := *p.settings.Load()
	s.headerTimeout = 300 * time.Millisecond
	p.settings.Store(&s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
	// Keep trickling header bytes: the deadline covers the whole head.
	go func() {
		for i := 0; i < 50; i++ {
			if _, err := io.WriteString(c, "X: y\r\n"); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v; want the connection closed without an answer", n, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestUpstreamDown502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	hints := func() []string { return []string{"panic: boom <script>"} }
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{dead}, ErrorHints: hints})
	resp, body := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 502 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mustContain(t, body, "connection refused")
	mustContain(t, body, "panic: boom &lt;script&gt;")
	if resp.Close {
		t.Error("502 closed the client connection; nginx keeps it")
	}
}

func TestReadTimeout504(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }() // reads, never answers
		}
	}()
	c := testConfig(t)
	c.Proxy.ReadTimeout = "200ms"
	_, addr := startProxy(t, c, Options{Upstreams: []string{ln.Addr().String()}})
	start := time.Now()
	resp, body := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 504 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("504 after %v, before read_timeout", d)
	}
	mustContain(t, body, "read_timeout")
}

func TestHoldUntilUpstreamsSet(t *testing.T) {
	up := startEcho(t)
	p, addr := startProxy(t, testConfig(t), Options{HoldTimeout: 5 * time.Second})
	got := make(chan int, 1)
	go func() {
		resp, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		got <- resp.StatusCode
	}()
	select {
	case st := <-got:
		t.Fatalf("answered %d before an upstream was set", st)
	case <-time.After(100 * time.Millisecond):
	}
	p.SetUpstreams([]string{up.addr})
	select {
	case st := <-got:
		if st != 200 {
			t.Fatalf("status %d", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held request not released by SetUpstreams")
	}

	p2, addr2 := startProxy(t, testConfig(t), Options{HoldTimeout: 100 * time.Millisecond})
	_ = p2
	resp, body := rawExchange(t, addr2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 502 {
		t.Fatalf("no upstream: status %d", resp.StatusCode)
	}
	mustContain(t, body, "no upstream")
}

// TestReadTimeoutOnReusedConnection checks that a kept-alive upstream
// connection gets a fresh read_timeout for each request: a deadline left
// from the previous request must not fire early.
func TestReadTimeoutOnReusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for i := 0; ; i++ {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if i > 0 {
				time.Sleep(200 * time.Millisecond)
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	}()
	c := testConfig(t)
	c.Proxy.ReadTimeout = "400ms"
	_, addr := startProxy(t, c, Options{Upstreams: []string{ln.Addr().String()}})
	if resp, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond)
	if resp, body := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatalf("second request on the kept-alive connection: %d %s", resp.StatusCode, body)
	}
}

// TestLargeBodySpillsToFile sends a body larger than the in-memory limit
// with no client_max_body_size, chunked and with a length: the upstream gets
// it whole, with a Content-Length.
func TestLargeBodySpillsToFile(t *testing.T) {
	up := startEcho(t)
	c := testConfig(t)
	c.Proxy.ClientMaxBodySize = "0"
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	body := strings.Repeat("0123456789abcdef", (memoryBodyLimit*3/2)/16)
	s := echoed(t, addr, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	if s.Body != body {
		t.Errorf("Content-Length body: upstream got %d bytes, want %d", len(s.Body), len(body))
	}
	var chunked strings.Builder
	for i := 0; i < len(body); i += 100000 {
		part := body[i:min(i+100000, len(body))]
		chunked.WriteString(strconv.FormatInt(int64(len(part)), 16) + "\r\n" + part + "\r\n")
	}
	chunked.WriteString("0\r\n\r\n")
	s = echoed(t, addr, "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+chunked.String())
	if s.Body != body || s.get("Content-Length")[0] != strconv.Itoa(len(body)) {
		t.Errorf("chunked body: upstream got %d bytes with Content-Length %q", len(s.Body), s.get("Content-Length"))
	}
}

// TestHugeContentLengthDoesNotAllocate: with no body size limit, a client
// announcing a huge body must not make the proxy allocate it up front.
func TestHugeContentLengthDoesNotAllocate(t *testing.T) {
	up := startEcho(t)
	c := testConfig(t)
	c.Proxy.ClientMaxBodySize = "0"
	p, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	s := *p.settings.Load()
	s.bodyTimeout = 200 * time.Millisecond
	p.settings.Store(&s)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999999\r\n\r\nabc")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	// client_body_timeout: nginx closes without an answer (408 logged).
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("read %d bytes, %v; want the connection closed", n, err)
	}
}
