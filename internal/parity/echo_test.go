package parity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func startEcho(t *testing.T, name string) *Echo {
	t.Helper()
	e, err := StartEcho(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func seenOf(t *testing.T, r *Response) *Seen {
	t.Helper()
	var s Seen
	if err := json.Unmarshal(r.Body, &s); err != nil {
		t.Fatalf("body %q is not echo JSON: %v", r.Body, err)
	}
	return &s
}

func TestEchoKeepsRawRequest(t *testing.T) {
	e := startEcho(t, "A")
	body := "hello"
	req := "POST /a//b/../%2F%00?x=1&y=%20\xff HTTP/1.1\r\n" +
		"host: Example.COM:80\r\n" +
		"X_Under: 1\r\n" +
		"Dup: one\r\n" +
		"Other: x\r\n" +
		"Dup: two\r\n" +
		"Content-Length: 5\r\n\r\n" + body
	r, err := Do(e.Addr(), []byte(req), "POST", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || r.Header(EchoServerHeader) != "A" || r.Header(EchoConnRequestHeader) != "1" {
		t.Fatalf("status %d, headers %v", r.Status, r.Headers)
	}
	s := seenOf(t, r)
	if s.Method != "POST" || string(s.Target) != "/a//b/../%2F%00?x=1&y=%20\xff" || s.Proto != "HTTP/1.1" {
		t.Errorf("request line: %q %q %q", s.Method, s.Target, s.Proto)
	}
	want := []Field{{"host", "Example.COM:80"}, {"X_Under", "1"}, {"Dup", "one"}, {"Other", "x"}, {"Dup", "two"}, {"Content-Length", "5"}}
	if fmt.Sprint(s.Headers) != fmt.Sprint(want) {
		t.Errorf("headers\n got %v\nwant %v", s.Headers, want)
	}
	sum := sha256.Sum256([]byte(body))
	if s.BodyLength != 5 || s.BodySHA256 != hex.EncodeToString(sum[:]) || s.Framing != "length" {
		t.Errorf("body: %d %s %s", s.BodyLength, s.BodySHA256, s.Framing)
	}
	if n := e.Count(string(s.Target)); n != 1 {
		t.Errorf("Count(%q) = %d, want 1", s.Target, n)
	}
	if log := e.Log(); len(log) != 1 || log[0].Server != "A" || string(log[0].Target) != string(s.Target) {
		t.Errorf("log: %+v", log)
	}
}

func TestEchoChunkedBodyAndKeepAlive(t *testing.T) {
	e := startEcho(t, "A")
	c, err := Dial(e.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer-One: t\r\n\r\n"
	for i := 1; i <= 2; i++ {
		if err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		r, err := c.ReadResponse("PUT")
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Header(EchoConnRequestHeader); got != fmt.Sprint(i) {
			t.Errorf("request %d on the connection: X-Echo-Conn-Request %q", i, got)
		}
		s := seenOf(t, r)
		sum := sha256.Sum256([]byte("abcde"))
		if s.Framing != "chunked" || s.BodyLength != 5 || s.BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("body: %+v", s)
		}
		if len(s.Trailers) != 1 || s.Trailers[0].Name != "Trailer-One" {
			t.Errorf("trailers: %v", s.Trailers)
		}
	}
	// HTTP/1.0 without keep-alive closes after the answer.
	c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	if _, err := c.ReadResponse("GET"); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if r, err := c.ReadResponse("GET"); err == nil {
		t.Errorf("connection still open after an HTTP/1.0 answer: %d", r.Status)
	}
}

func TestEchoEndpointsThroughNetHTTP(t *testing.T) {
	e := startEcho(t, "A")
	base := "http://" + e.Addr()
	client := &http.Client{Timeout: 5 * time.Second}

	resp, err := client.Get(base + "/big?bytes=100000&type=text/plain")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) != 100000 || string(b) != string(Pattern(100000)) || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("/big: %d bytes, type %q", len(b), resp.Header.Get("Content-Type"))
	}

	resp, err = client.Get(base + "/status?code=503&h=Retry-After:7&h=X-A:b")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" || resp.Header.Get("X-A") != "b" {
		t.Errorf("/status: %d %v", resp.StatusCode, resp.Header)
	}

	start := time.Now()
	resp, err = client.Get(base + "/sleep?ms=200")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("/sleep?ms=200 answered after %v", d)
	}

	resp, err = client.Get(base + "/close")
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(b) != 100 {
		t.Errorf("/close: read %d bytes, err %v; want 100 bytes and an error", len(b), err)
	}
	if _, err := client.Get(base + "/close?before=headers"); err == nil {
		t.Errorf("/close?before=headers answered")
	}
}

func TestEchoStreamWaitsForGate(t *testing.T) {
	e := startEcho(t, "A")
	c, err := Dial(e.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /stream?chunks=3&gate=g1 HTTP/1.1\r\nHost: x\r\n\r\n"))
	r, err := c.ReadHead()
	if err != nil {
		t.Fatal(err)
	}
	body := c.Body(r, "GET")
	first := make([]byte, len("chunk 0\n"))
	if _, err := io.ReadFull(body, first); err != nil || string(first) != "chunk 0\n" {
		t.Fatalf("first chunk: %q %v", first, err)
	}
	// Nothing more may come before the gate opens.
	c.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := body.Read(make([]byte, 16)); err == nil {
		t.Fatalf("read %d bytes before Release", n)
	}
	c.Extend()
	e.Release("g1")
	rest, err := io.ReadAll(body)
	if err != nil || string(rest) != "chunk 1\nchunk 2\n" {
		t.Errorf("rest: %q %v", rest, err)
	}
}

func TestEchoWebSocket(t *testing.T) {
	e := startEcho(t, "A")
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+e.Addr()+"/ws?x=1", http.Header{"X-Test": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, first, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var s Seen
	if err := json.Unmarshal(first, &s); err != nil || string(s.Target) != "/ws?x=1" || len(s.Header("X-Test")) != 1 {
		t.Fatalf("handshake echo %s: %v", first, err)
	}
	for _, msg := range []string{"hello", strings.Repeat("x", 70000)} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil || string(got) != msg {
			t.Fatalf("echo of %d bytes: got %d bytes, %v", len(msg), len(got), err)
		}
	}
}

func TestBytesJSONRoundTrip(t *testing.T) {
	in := Bytes("a\x00\xff\xc3\xa9%2F")
	js, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Bytes
	if err := json.Unmarshal(js, &out); err != nil || out != in {
		t.Errorf("%q -> %s -> %q (%v)", in, js, out, err)
	}
}
