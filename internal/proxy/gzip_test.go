package proxy

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func gzipReader(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }

func TestGzip(t *testing.T) {
	text := strings.Repeat("hello gzip ", 100)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		case "/json":
			w.Header().Set("Content-Type", "application/json")
		case "/png":
			w.Header().Set("Content-Type", "image/png")
		case "/short":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "tiny")
			return
		case "/encoded":
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Encoding", "br")
		case "/500":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(500)
		}
		w.Header().Set("ETag", `"abc"`)
		io.WriteString(w, text)
	}))
	defer up.Close()
	c := testConfig(t)
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.Listener.Addr().String()}})
	for _, tc := range []struct {
		path, ae, proto string
		gz              bool
	}{
		{"/html", "gzip, deflate, br", "HTTP/1.1", true},
		{"/json", "gzip", "HTTP/1.1", true},
		{"/json", "", "HTTP/1.1", false},
		{"/json", "gzip;q=0", "HTTP/1.1", false},
		{"/json", "gzip", "HTTP/1.0", false},
		{"/png", "gzip", "HTTP/1.1", false},
		{"/short", "gzip", "HTTP/1.1", false},
		{"/encoded", "gzip", "HTTP/1.1", false},
		{"/500", "gzip", "HTTP/1.1", false},
	} {
		raw := "GET " + tc.path + " " + tc.proto + "\r\nHost: x\r\n"
		if tc.ae != "" {
			raw += "Accept-Encoding: " + tc.ae + "\r\n"
		}
		resp, body := rawExchange(t, addr, raw+"\r\n")
		got := resp.Header.Get("Content-Encoding") == "gzip"
		if got != tc.gz {
			t.Errorf("%s %q %s: gzip %v, want %v (%v)", tc.path, tc.ae, tc.proto, got, tc.gz, resp.Header)
			continue
		}
		if !got {
			continue
		}
		if resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("ETag") != `W/"abc"` || resp.Header.Get("Content-Length") != "" {
			t.Errorf("%s: headers %v", tc.path, resp.Header)
		}
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != text {
			t.Errorf("%s: decompressed %d bytes, %v", tc.path, len(plain), err)
		}
	}
	c.Proxy.Gzip = false
	_, addr = startProxy(t, c, Options{Upstreams: []string{up.Listener.Addr().String()}})
	resp, _ := rawExchange(t, addr, "GET /html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip off still compressed")
	}
}
