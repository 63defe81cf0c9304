package proxy

import (
	"reflect"
	"testing"
)

func TestRequestHeadersLikeNginx(t *testing.T) {
	up := startEcho(t)
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{up.addr}})

	s := echoed(t, addr, "GET /a//b/../%2e?x=1&y=%41 HTTP/1.1\r\n"+
		"Host: Example.COM:8080\r\n"+
		"X-Forwarded-For: 1.1.1.1\r\n"+
		"X-Forwarded-For: 2.2.2.2\r\n"+
		"Foo_Bar: dropped\r\n"+
		"Proxy-Connection: keep-alive\r\n"+
		"Trailer: X\r\n"+
		"Connection: keep-alive, X-Hop\r\n"+
		"X-Hop: 1\r\n"+
		"TE: trailers\r\n"+
		"Keep-Alive: 300\r\n"+
		"Upgrade: websocket\r\n"+
		"X-Real-IP: 9.9.9.9\r\n"+
		"X-Forwarded-Proto: https\r\n"+
		"Expect: 100-continue\r\n"+
		"X.Dot: ignored\r\n"+
		"a: 1\r\n"+
		"B: 2\r\n"+
		"A: 3\r\n\r\n")
	if s.URI != "/a//b/../%2e?x=1&y=%41" {
		t.Errorf("URI %q, want it byte for byte", s.URI)
	}
	// What nginx 1.22.1 sends with gen-nginx's location (observed with
	// TestParityWithNginx): the set headers first, then the client's in
	// order, minus the fixed list.
	want := [][2]string{
		{"Host", "example.com"},
		{"X-Real-IP", "127.0.0.1"},
		{"X-Forwarded-For", "1.1.1.1, 2.2.2.2, 127.0.0.1"},
		{"X-Forwarded-Proto", "http"},
		{"Upgrade", "websocket"},
		{"Connection", "upgrade"},
		{"Proxy-Connection", "keep-alive"},
		{"Trailer", "X"},
		{"X-Hop", "1"},
		{"a", "1"},
		{"B", "2"},
		{"A", "3"},
	}
	if !reflect.DeepEqual(s.Headers, want) {
		t.Errorf("upstream saw\n%q\nwant\n%q", s.Headers, want)
	}
}

func TestRequestHostSources(t *testing.T) {
	up := startEcho(t)
	c := testConfig(t)
	c.Proxy.ServerNames = []string{"Site.Example"}
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	for _, tc := range []struct{ raw, host, uri string }{
		{"GET http://Foo.Bar:99/x?q HTTP/1.1\r\nHost: other\r\n\r\n", "foo.bar", "/x?q"},
		{"GET / HTTP/1.0\r\n\r\n", "site.example", "/"},
		{"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "[::1]", "/"},
		{"GET / HTTP/1.1\r\nHost: a.example.\r\n\r\n", "a.example", "/"},
	} {
		s := echoed(t, addr, tc.raw)
		if h := s.get("Host"); len(h) != 1 || h[0] != tc.host || s.URI != tc.uri {
			t.Errorf("%q: upstream saw Host %q URI %q, want %q %q", tc.raw, h, s.URI, tc.host, tc.uri)
		}
	}
}

func TestRequestBodyIsBufferedWithContentLength(t *testing.T) {
	up := startEcho(t)
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{up.addr}})
	s := echoed(t, addr, "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"+
		"Content-Type: text/plain\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer-X: y\r\n\r\n")
	if s.Body != "abcdefg" {
		t.Errorf("body %q", s.Body)
	}
	want := []string{"Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "Content-Length", "Content-Type"}
	if !reflect.DeepEqual(s.names(), want) || s.get("Content-Length")[0] != "7" {
		t.Errorf("headers %q, want names %q with Content-Length 7", s.Headers, want)
	}
	s = echoed(t, addr, "PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	if got := s.get("Content-Length"); len(got) != 1 || got[0] != "0" {
		t.Errorf("Content-Length %q, want nginx's 0", got)
	}
}

func TestWebSocketOffDropsUpgrade(t *testing.T) {
	up := startEcho(t)
	c := testConfig(t)
	c.Proxy.WebSocket = false
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	s := echoed(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if len(s.get("Upgrade")) != 0 || len(s.get("Connection")) != 0 {
		t.Errorf("upstream saw %q", s.Headers)
	}
}

func TestResponseHeaders(t *testing.T) {
	up := startEcho(t)
	c := testConfig(t)
	c.Proxy.SecurityHeaders = true
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	resp, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	h := resp.Header
	if h.Get("Server") != "stackctl" || h.Get("Date") == "x" || h.Get("X-Pad") != "" ||
		h.Get("X-Accel-Buffering") != "" || h.Get("Keep-Alive") != "" || h.Get("X-Up") != "1" {
		t.Errorf("response headers %v", h)
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "SAMEORIGIN",
		"Referrer-Policy":         "no-referrer-when-downgrade",
		"X-XSS-Protection":        "1; mode=block",
		"Content-Security-Policy": "default-src 'self' http: https: ws: wss: data: blob: 'unsafe-inline'; frame-ancestors 'self';",
		"Permissions-Policy":      "interest-cohort=()",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}
