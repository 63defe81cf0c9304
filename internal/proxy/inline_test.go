package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHeadComplete(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"GET / HTTP/1.1\r\n", false},
		{"GET / HTTP/1.1\r\n\r\n", true},
		{"GET / HTTP/1.1\n\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r", false},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2", true},
		{"GET / HTTP/1.1\r\nHost: x\r\r\n", false}, // "\r" is not an empty line
		{"\r\n\r\n", false},                        // empty lines before the request line are skipped
		{"\r\n\nGET / HTTP/1.1\r\n\r\n", true},
		{"\r\n\nGET / HTTP/1.1\r\n", false},
		{"GET /\r\n", true}, // HTTP/0.9: no header lines follow
		{"GET /", false},
	} {
		if got := headComplete([]byte(tc.in), nil); got != tc.want {
			t.Errorf("headComplete(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestKeepaliveConnectionMixesRequests sends, on one connection, requests
// served inside the read callback and requests that end it (a body, a head
// larger than the read buffer), a head split over several writes, and a
// pipelined request whose head is incomplete: the answer to the request
// before it must not wait for it.
func TestKeepaliveConnectionMixesRequests(t *testing.T) {
	up := startEcho(t)
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{up.addr}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(c, s); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(uri, body string) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response for %s: %v", uri, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, string(b), `"uri":"`+uri+`"`)
		mustContain(t, string(b), `"body":"`+body+`"`)
	}

	send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	expect("/a", "")
	send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	expect("/b", "hello")
	for _, part := range []string{"GET /c HT", "TP/1.1\r\nHo", "st: x\r\n", "\r\n"} {
		send(part)
		time.Sleep(20 * time.Millisecond)
	}
	expect("/c", "")
	big := strings.Repeat("v", 5000)
	send("GET /d HTTP/1.1\r\nHost: x\r\nX-One: " + big + "\r\nX-Two: " + big + "\r\n\r\n")
	expect("/d", "")
	send("GET /e HTTP/1.1\r\nHost: x\r\n\r\nGET /f HTTP/1.1\r\nHo")
	expect("/e", "")
	send("st: x\r\n\r\n")
	expect("/f", "")
	send("GET /g HTTP/1.1\r\nHost: x\r\n\r\n")
	expect("/g", "")
}

// TestStaleUpstreamConnectionRetried checks that a kept-alive upstream
// connection the app closed while it was idle costs no request: the
// request written to it fails and is sent again on a new connection.
func TestStaleUpstreamConnectionRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				body := "uri=" + req.RequestURI
				// Keep-alive framing, then close: the proxy's pooled
				// connection is stale.
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
				c.Close()
				served <- struct{}{}
			}()
		}
	}()
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{ln.Addr().String()}})
	for i := 0; i < 4; i++ {
		uri := "/r" + strconv.Itoa(i)
		resp, body := rawExchange(t, addr, "GET "+uri+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 200 || body != "uri="+uri {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		<-served
	}
}
