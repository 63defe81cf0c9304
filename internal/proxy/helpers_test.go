package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

// seen is what the echo upstream received: the request line's method and
// URI, the headers in order as spelled, and the body.
type seen struct {
	Method  string      `json:"method"`
	URI     string      `json:"uri"`
	Headers [][2]string `json:"headers"`
	Body    string      `json:"body"`
}

func (s seen) get(name string) []string {
	var out []string
	for _, h := range s.Headers {
		if strings.EqualFold(h[0], name) {
			out = append(out, h[1])
		}
	}
	return out
}

func (s seen) names() []string {
	var out []string
	for _, h := range s.Headers {
		out = append(out, h[0])
	}
	return out
}

// echoUpstream is a raw HTTP/1.1 server that answers every request with a
// JSON description of it (so header order and spelling are visible, which
// net/http would hide). It supports keepalive and counts connections.
type echoUpstream struct {
	ln    net.Listener
	addr  string
	mu    sync.Mutex
	conns int
	reqs  int
}

func startEcho(t *testing.T) *echoUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoUpstream{ln: ln, addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns++
			e.mu.Unlock()
			go e.serve(c)
		}
	}()
	return e
}

func (e *echoUpstream) counts() (conns, reqs int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conns, e.reqs
}

func (e *echoUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return
		}
		s := seen{Method: f[0], URI: f[1], Headers: [][2]string{}}
		cl := 0
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			if l == "" {
				break
			}
			n, v, _ := strings.Cut(l, ":")
			v = strings.TrimSpace(v)
			s.Headers = append(s.Headers, [2]string{n, v})
			if strings.EqualFold(n, "content-length") {
				cl, _ = strconv.Atoi(v)
			}
		}
		body := make([]byte, cl)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		s.Body = string(body)
		e.mu.Lock()
		e.reqs++
		e.mu.Unlock()
		out, _ := json.Marshal(s)
		resp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(out)) + "\r\nServer: echo\r\nDate: x\r\nX-Pad: y\r\nX-Accel-Buffering: no\r\nKeep-Alive: timeout=5\r\nX-Up: 1\r\n\r\n"
		if _, err := c.Write(append([]byte(resp), out...)); err != nil {
			return
		}
	}
}

// testConfig returns a Config for a project in a temporary folder.
func testConfig(t *testing.T) *stack.Config {
	t.Helper()
	dir := t.TempDir()
	// nginx's workers run as nobody: the folders must be readable.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	c := stack.Default("myapp", "go")
	c.Path = filepath.Join(dir, "stack.toml")
	c.Proxy.Static = nil
	c.Proxy.SecurityHeaders = false
	return c
}

// startProxy runs a Proxy on a loopback port and stops it when the test ends.
func startProxy(t *testing.T, c *stack.Config, opts Options) (*Proxy, string) {
	t.Helper()
	p, err := New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return p, ln.Addr().String()
}

// rawExchange sends raw bytes on a new connection and reads one response.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c := sendRaw(t, addr, raw)
	defer c.Close()
	method := "GET"
	if i := strings.IndexByte(raw, ' '); i > 0 {
		method = raw[:i]
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response to %q: %v", raw[:min(len(raw), 60)], err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(body)
}

// sendRaw connects to addr and writes raw; the connection has 10 seconds
// for the rest of the exchange.
func sendRaw(t *testing.T, addr, raw string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// echoed sends raw through the proxy to an echo upstream and returns what
// the upstream saw.
func echoed(t *testing.T, addr, raw string) seen {
	t.Helper()
	resp, body := rawExchange(t, addr, raw)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d for %q: %s", resp.StatusCode, raw, body)
	}
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	return s
}

func mustContain(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%q does not contain %q", got, want)
	}
}

type httpResponse = http.Response

var _ = bytes.Equal
