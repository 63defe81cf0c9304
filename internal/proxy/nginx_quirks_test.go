package proxy

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// Tests for differences from nginx that the parity suite
// (internal/parity) found; each pins what nginx 1.22 does with gen-nginx's
// site.

// whichEcho sends one request and returns the index of the echo upstream
// that got it.
func whichEcho(t *testing.T, addr string, ups []*echoUpstream) int {
	t.Helper()
	before := make([]int, len(ups))
	for i, u := range ups {
		_, before[i] = u.counts()
	}
	echoed(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	for i, u := range ups {
		if _, n := u.counts(); n != before[i] {
			return i
		}
	}
	t.Fatal("no upstream got the request")
	return -1
}

func TestRoundRobinStartsWithTheFirstServer(t *testing.T) {
	for _, policy := range []string{"round_robin", "least_conn"} {
		t.Run(policy, func(t *testing.T) {
			ups := []*echoUpstream{startEcho(t), startEcho(t), startEcho(t)}
			c := testConfig(t)
			c.Upstream.Balance = policy
			_, addr := startProxy(t, c, Options{Upstreams: []string{ups[0].addr, ups[1].addr, ups[2].addr}})
			var got []int
			for range 7 {
				got = append(got, whichEcho(t, addr, ups))
			}
			if want := []int{0, 1, 2, 0, 1, 2, 0}; !equalInts(got, want) {
				t.Errorf("order %v, want %v (nginx: the first server first, in turn)", got, want)
			}
		})
	}
}

func TestFailoverFollowsSmoothWeightedRoundRobin(t *testing.T) {
	a, b := startEcho(t), startEcho(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	c := testConfig(t)
	_, addr := startProxy(t, c, Options{Upstreams: []string{a.addr, dead, b.addr}})
	live := []*echoUpstream{a, b}
	var got []int
	for range 6 {
		// Index in the upstream list: a is 0, b is 2.
		got = append(got, 2*whichEcho(t, addr, live))
	}
	// nginx 1.22 with [a, dead, b], max_fails=1: a; dead fails and b takes
	// the retry; then b again (the weights after the retry), a, b, a.
	if want := []int{0, 2, 2, 0, 2, 0}; !equalInts(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHiddenPathsDenied(t *testing.T) {
	up := startEcho(t)
	c, _ := staticProject(t)
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	for _, p := range []string{"/.env", "/.git/config", "/a/.hidden/b", "/static/.secret", "/.well-known/../.env"} {
		resp, _ := rawExchange(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 403 {
			t.Errorf("%s: %d, want 403 (location ~ /\\.(?!well-known) { deny all; })", p, resp.StatusCode)
		}
	}
	if _, n := up.counts(); n != 0 {
		t.Errorf("the app got %d requests for hidden paths", n)
	}
	echoed(t, addr, "GET /.well-known/security.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	echoed(t, addr, "GET /a.b/c. HTTP/1.1\r\nHost: x\r\n\r\n")
}

func TestErrorPagesLikeNginx(t *testing.T) {
	c, _ := staticProject(t)
	_, addr := startProxy(t, c, Options{Upstreams: []string{"127.0.0.1:1"}})
	resp, _ := rawExchange(t, addr, "GET /static/missing.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "text/html" || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("404: %d %q, Vary %q; want text/html and Vary (gzip_vary on a 404 page)", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Vary"))
	}
	resp, _ = rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 502 || resp.Header.Get("Content-Type") != "text/html" || resp.Header.Get("Vary") != "" {
		t.Errorf("502: %d %q, Vary %q; want text/html and no Vary (only 200, 403 and 404 are gzip-eligible)", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Vary"))
	}
}

func TestVaryOnHeadAndRanges(t *testing.T) {
	up := startEcho(t)
	c, _ := staticProject(t)
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	for _, req := range []string{
		"HEAD /static/app.css HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /static/app.css HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n",
		"HEAD /app HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		resp, _ := rawExchange(t, addr, req)
		if resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("%q: %d without Vary: Accept-Encoding", req, resp.StatusCode)
		}
	}
}

func TestRedirectLikeNginxServerBlock(t *testing.T) {
	up := startEcho(t)
	c := testConfig(t)
	c.Proxy.ServerNames = []string{"example.com"}
	c.Proxy.Redirect = "www-to-apex"
	c.Proxy.SecurityHeaders = true
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	port := addr[strings.LastIndexByte(addr, ':'):]
	resp, _ := rawExchange(t, addr, "POST /form?x=1 HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 3\r\n\r\nabc")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "http://example.com"+port+"/form?x=1" {
		t.Errorf("POST to www: %d %q, want 301 to http://example.com%s/form?x=1", resp.StatusCode, resp.Header.Get("Location"), port)
	}
	if resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("the redirect carries the site's security headers; gen-nginx's redirect block has none")
	}
}

func TestUpstreamHeaderWithUnderscorePassed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				c.Write([]byte("HTTP/1.1 200 OK\r\nX_App_Header: 1\r\nContent-Length: 2\r\n\r\nok"))
			}()
		}
	}()
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{ln.Addr().String()}})
	resp, body := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.Header.Get("X_App_Header") != "1" || body != "ok" {
		t.Errorf("headers %v body %q: nginx passes an app's header with an underscore", resp.Header, body)
	}
}

func TestHTTP09RefusedAtOnce(t *testing.T) {
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{"127.0.0.1:1"}})
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /\r\n"))
	// No header lines follow an HTTP/0.9 request: the answer must not wait
	// for them (client_header_timeout is 60s).
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 400 ") {
		t.Errorf("answer %q, %v; want 400 at once", line, err)
	}
}
