package proxy

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// whichUpstream returns the address of the echo upstream that answered.
func countBy(t *testing.T, addr string, n int, ups map[string]*echoUpstream) map[string]int {
	t.Helper()
	before := map[string]int{}
	for a, u := range ups {
		_, r := u.counts()
		before[a] = r
	}
	for i := 0; i < n; i++ {
		resp, body := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	out := map[string]int{}
	for a, u := range ups {
		_, r := u.counts()
		out[a] = r - before[a]
	}
	return out
}

func TestRoundRobinAndFailover(t *testing.T) {
	a, b := startEcho(t), startEcho(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	c := testConfig(t)
	c.Upstream.MaxFails = 1
	c.Upstream.FailTimeout = "10s"
	p, addr := startProxy(t, c, Options{Upstreams: []string{a.addr, b.addr}})
	got := countBy(t, addr, 10, map[string]*echoUpstream{a.addr: a, b.addr: b})
	if got[a.addr] != 5 || got[b.addr] != 5 {
		t.Errorf("round robin spread %v", got)
	}

	// A refused connection is retried on the next server: no request fails,
	// and the dead server is skipped afterwards (fail_timeout).
	p.SetUpstreams([]string{dead, a.addr, b.addr})
	got = countBy(t, addr, 12, map[string]*echoUpstream{a.addr: a, b.addr: b})
	if got[a.addr]+got[b.addr] != 12 {
		t.Errorf("spread %v", got)
	}
	var server *peer
	for _, x := range p.pool.peers {
		if x.addr == dead {
			server = x
		}
	}
	server.mu.Lock()
	fails := server.fails
	server.mu.Unlock()
	if fails != 1 {
		t.Errorf("dead server failures %d, want 1 (tried once, then skipped for fail_timeout)", fails)
	}
}

func TestAllUpstreamsDown(t *testing.T) {
	var dead []string
	for i := 0; i < 2; i++ {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		dead = append(dead, ln.Addr().String())
		ln.Close()
	}
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: dead})
	for i := 0; i < 3; i++ {
		resp, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 502 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func TestNonIdempotentNotRetriedAfterSend(t *testing.T) {
	// An upstream that reads the request and closes without answering.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	hits := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			c.SetReadDeadline(time.Now().Add(time.Second))
			c.Read(buf)
			hits <- struct{}{}
			c.Close()
		}
	}()
	good := startEcho(t)
	c := testConfig(t)
	c.Upstream.MaxFails = 0
	_, addr := startProxy(t, c, Options{Upstreams: []string{ln.Addr().String(), good.addr}})
	// Requests alternate; a POST that lands on the bad server gets 502,
	// a GET is retried on the good one.
	var posts502, gets502 int
	for i := 0; i < 4; i++ {
		resp, _ := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na")
		if resp.StatusCode == 502 {
			posts502++
		}
		resp, _ = rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode == 502 {
			gets502++
		}
	}
	if posts502 == 0 || gets502 != 0 {
		t.Errorf("POST 502s %d (want some), GET 502s %d (want 0)", posts502, gets502)
	}
}

func TestIPHashIsSticky(t *testing.T) {
	a, b := startEcho(t), startEcho(t)
	c := testConfig(t)
	c.Upstream.Balance = "ip_hash"
	_, addr := startProxy(t, c, Options{Upstreams: []string{a.addr, b.addr}})
	got := countBy(t, addr, 6, map[string]*echoUpstream{a.addr: a, b.addr: b})
	if !(got[a.addr] == 6 || got[b.addr] == 6) {
		t.Errorf("ip_hash spread one client over %v", got)
	}
}

func TestUpstreamKeepalive(t *testing.T) {
	up := startEcho(t)
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{up.addr}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 5; i++ {
		s := echoed(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if len(s.get("Connection")) != 0 {
			t.Fatalf("plain request sent Connection %q: breaks upstream keepalive", s.get("Connection"))
		}
	}
	conns, reqs := up.counts()
	if reqs != 5 || conns != 1 {
		t.Errorf("%d upstream connections for %d requests, want 1", conns, reqs)
	}
	_ = json.Valid
}

func TestLeastConnPrefersIdleServer(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busySrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "busy")
	})}
	go busySrv.Serve(ln)
	defer busySrv.Close()
	fast := startEcho(t)
	c := testConfig(t)
	c.Upstream.Balance = "least_conn"
	_, addr := startProxy(t, c, Options{Upstreams: []string{ln.Addr().String(), fast.addr}})
	// Keep sending until one request is held by the busy server; while it
	// is, every request goes to the server with no active request.
	held := make(chan struct{})
	go func() {
		defer close(held)
		for {
			resp, body := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp.StatusCode != 200 || body == "busy" {
				return
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("busy upstream never reached")
	}
	_, before := fast.counts()
	for i := 0; i < 5; i++ {
		echoed(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	_, after := fast.counts()
	close(release)
	<-held
	if after-before != 5 {
		t.Errorf("idle server got %d of 5 requests while the other was busy", after-before)
	}
}
