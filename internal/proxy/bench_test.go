package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

// BenchmarkProxyHello measures the hot path end to end: a keepalive client
// sending the hello request through the proxy to a keepalive app on
// loopback, one request at a time.
func BenchmarkProxyHello(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Hello from myapp!\n")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	c := stack.Default("bench", "go")
	p, err := New(c, Options{Upstreams: []string{ln.Addr().String()}})
	if err != nil {
		b.Fatal(err)
	}
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	go p.Serve(pl)
	defer p.Shutdown(b.Context())
	conn, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	req := []byte("GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkReadHead measures parsing a typical browser request head.
func BenchmarkReadHead(b *testing.B) {
	raw := "GET /static/app.css?v=3 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
		"Accept: text/css,*/*;q=0.1\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.5\r\n" +
		"Connection: keep-alive\r\nReferer: https://example.com/\r\nCookie: session=abcdef0123456789\r\n\r\n"
	sr := strings.NewReader(raw)
	br := bufio.NewReaderSize(sr, largeHeaderBuffer)
	var r request
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		sr.Reset(raw)
		br.Reset(sr)
		var err error
		if buf, err = readHead(br, &r, buf, "example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendUpstreamHead measures building the upstream request head.
func BenchmarkAppendUpstreamHead(b *testing.B) {
	raw := "GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: wrk\r\nX-Forwarded-For: 10.0.0.1\r\nAccept: */*\r\n\r\n"
	var r request
	if _, err := readHead(bufio.NewReader(strings.NewReader(raw)), &r, nil, ""); err != nil {
		b.Fatal(err)
	}
	var out []byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		out = appendUpstreamHead(out[:0], &r, true, "127.0.0.1", "http", -1)
	}
}

// benchmarkStatic measures a static file of size bytes served from a
// [[proxy.static]] folder to a keepalive client, one request at a time.
func benchmarkStatic(b *testing.B, size int) {
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "static"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "static", "file.css"), []byte(strings.Repeat("a", size)), 0o644); err != nil {
		b.Fatal(err)
	}
	c := stack.Default("bench", "go")
	c.Path = filepath.Join(dir, "stack.toml")
	c.Proxy.Static = []stack.Static{{URL: "/static/", Dir: "static"}}
	p, err := New(c, Options{Upstreams: []string{"127.0.0.1:1"}})
	if err != nil {
		b.Fatal(err)
	}
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	go p.Serve(pl)
	defer p.Shutdown(b.Context())
	conn, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 64<<10)
	req := []byte("GET /static/file.css HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != int64(size) {
			b.Fatal(resp.Status, n)
		}
	}
}

// BenchmarkStaticSmall is the 321-byte stylesheet of bench/.
func BenchmarkStaticSmall(b *testing.B) { benchmarkStatic(b, 321) }

// BenchmarkStaticLarge is bench/'s 1 MB file.
func BenchmarkStaticLarge(b *testing.B) { benchmarkStatic(b, 1<<20) }
