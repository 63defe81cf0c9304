package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestShutdownWaitsForInFlight(t *testing.T) {
	started := make(chan struct{})
	up := slowUpstream(t, started, 300*time.Millisecond)
	p, err := New(testConfig(t), Options{Upstreams: []string{up}})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	addr := ln.Addr().String()

	idle, err := net.Dial("tcp", addr) // an idle keepalive client
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	result := make(chan int, 1)
	go func() {
		resp, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		result <- resp.StatusCode
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the upstream")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(begin); d < 100*time.Millisecond {
		t.Errorf("Shutdown returned after %v, before the in-flight request (300ms) finished", d)
	}
	select {
	case st := <-result:
		if st != 200 {
			t.Errorf("in-flight request got %d", st)
		}
	case <-time.After(5 * time.Second):
		t.Error("in-flight request never answered")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve returned %v, want nil after Shutdown", err)
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Error("idle connection not closed by Shutdown")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func slowUpstream(t *testing.T, started chan struct{}, d time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(d)
		io.WriteString(w, "done")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestPipelinedRequests(t *testing.T) {
	up := startEcho(t)
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{up.addr}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(c)
	for i := 1; i <= 3; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		mustContain(t, string(body), `"uri":"/`+string(rune('0'+i))+`"`)
		if i == 3 && !resp.Close {
			t.Error("Connection: close not honoured")
		}
	}
}

func TestUpdateAppliesLive(t *testing.T) {
	up := startEcho(t)
	c := testConfig(t)
	p, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	raw := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n01234567890123456789"
	if resp, _ := rawExchange(t, addr, raw); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	c2 := *c
	c2.Proxy.ClientMaxBodySize = "10"
	if err := p.Update(&c2); err != nil {
		t.Fatal(err)
	}
	if resp, _ := rawExchange(t, addr, raw); resp.StatusCode != 413 {
		t.Fatalf("after Update: %d, want 413", resp.StatusCode)
	}
	c3 := c2
	c3.Upstream.Balance = "random"
	if err := p.Update(&c3); err == nil {
		t.Error("Update accepted an unknown balance policy")
	}
	if resp, _ := rawExchange(t, addr, raw); resp.StatusCode != 413 {
		t.Error("a rejected Update changed the running settings")
	}
}

func TestUnixSocketUpstream(t *testing.T) {
	sock := t.TempDir() + "/app.sock"
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "via unix "+r.Host)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{"unix:" + sock}})
	resp, body := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: Site.Test\r\n\r\n")
	if resp.StatusCode != 200 || body != "via unix site.test" {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
}

func TestCloseDelimitedUpstreamBecomesChunked(t *testing.T) {
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
			c.Read(make([]byte, 4096))
			io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
			c.Close()
		}
	}()
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{ln.Addr().String()}})
	resp, body := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if body != "until close" || len(resp.TransferEncoding) == 0 || resp.Close {
		t.Errorf("HTTP/1.1 client: %q te=%v close=%v", body, resp.TransferEncoding, resp.Close)
	}
	resp, body = rawExchange(t, addr, "GET / HTTP/1.0\r\n\r\n")
	if body != "until close" || !resp.Close {
		t.Errorf("HTTP/1.0 client: %q close=%v", body, resp.Close)
	}
}
