package proxy

import (
	"strings"
	"testing"
)

func TestRedirects(t *testing.T) {
	up := startEcho(t)
	c := testConfig(t)
	c.Proxy.ServerNames = []string{"example.com"}
	c.Proxy.Redirect = "www-to-apex"
	p, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	resp, _ := rawExchange(t, addr, "GET /a?b=1 HTTP/1.1\r\nHost: WWW.example.com\r\n\r\n")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "http://example.com"+addr[strings.LastIndexByte(addr, ':'):]+"/a?b=1" {
		t.Errorf("www-to-apex: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if s := echoed(t, addr, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"); s.get("Host")[0] != "example.com" {
		t.Errorf("apex not served: %v", s.Headers)
	}

	c.Proxy.Redirect = "apex-to-www"
	if err := p.Update(c); err != nil {
		t.Fatal(err)
	}
	resp, _ = rawExchange(t, addr, "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "http://www.example.com"+addr[strings.LastIndexByte(addr, ':'):]+"/a" {
		t.Errorf("apex-to-www: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Any other host is served, as by nginx's only server block.
	echoed(t, addr, "GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")
}
