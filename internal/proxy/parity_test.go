package proxy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nginxSite is the server block gen-nginx writes for a project, with
// loopback ports: the reference the proxy is compared with.
const nginxSite = `
worker_processes 1;
daemon off;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  map $http_upgrade $stackctl_connection_upgrade { default upgrade; '' ''; }
  upstream stackctl_app { server %[2]s; keepalive 16; }
  server {
    listen 127.0.0.1:%[3]s;
    server_name site.example;
    server_tokens off;
    client_max_body_size 10;
%[5]s
    location /static/ { alias %[4]s/; expires 30d; }
    location / {
      proxy_pass http://stackctl_app;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $stackctl_connection_upgrade;
    }
  }
}
`

// startNginx runs the real nginx with nginxSite, or skips the test when
// nginx is not installed (fails under STACKCTL_REQUIRE_NGINX=1).
func startNginx(t *testing.T, upstream, staticDir, extra string) string {
	t.Helper()
	bin := "/usr/sbin/nginx"
	if _, err := os.Stat(bin); err != nil {
		if p, err := exec.LookPath("nginx"); err == nil {
			bin = p
		} else {
			if os.Getenv("STACKCTL_REQUIRE_NGINX") == "1" {
				t.Fatal("nginx is required (STACKCTL_REQUIRE_NGINX=1) but not installed: apt-get install nginx")
			}
			t.Skip("nginx not installed; the parity tests need it: apt-get install nginx")
		}
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	conf := filepath.Join(dir, "nginx.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(nginxSite, dir, upstream, port, staticDir, extra)), 0o644)
	cmd := exec.Command(bin, "-p", dir, "-c", conf)
	out, _ := os.Create(filepath.Join(dir, "stderr"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	addr := "127.0.0.1:" + port
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			e, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s %s", b, e)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not start listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestParityWithNginx sends the same raw requests to real nginx and to the
// proxy, both in front of the same echo upstream, and compares the status
// and exactly what the upstream received.
func TestParityWithNginx(t *testing.T) {
	up := startEcho(t)
	c, staticDir := staticProject(t)
	c.Proxy.ServerNames = []string{"site.example"}
	c.Proxy.ClientMaxBodySize = "10"
	c.Proxy.Gzip = false
	ngx := startNginx(t, up.addr, staticDir, "")
	_, px := startProxy(t, c, Options{Upstreams: []string{up.addr}})

	long := strings.Repeat("a", 8170)
	requests := []string{
		"GET /a//b/../%2e?x=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nFoo_Bar: x\r\nProxy-Connection: keep-alive\r\nTrailer: X\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nTE: trailers\r\nKeep-Alive: 300\r\nX-Real-IP: 9.9.9.9\r\nX-Forwarded-Proto: https\r\nA: 1\r\nb: 2\r\nA: 3\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: a\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789",
		"GET http://Foo.Bar:99/x HTTP/1.1\r\nHost: other\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /" + long + "aaaaaaaaaaa HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("b", 8195) + "\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: "+strings.Repeat("c", 4000)+"\r\n", 7) + "\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: "+strings.Repeat("c", 4000)+"\r\n", 9) + "\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX Y: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX.Y: b\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nFoo\r\n\r\n",
		"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /../x HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
		"get / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab",
		"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /static/../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /static/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /static/app.css HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET //static//app.css HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /static/app.css HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\n",
		"GET /static/app.css HTTP/1.1\r\nHost: x\r\nRange: bytes=999-\r\n\r\n",
		"GET /static/nope HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /static/sub/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /static/sub HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /static/withindex/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /static/app.css HTTP/1.1\r\nHost: x\r\n\r\n",
	}
	fi, err := os.Stat(filepath.Join(staticDir, "app.css"))
	if err != nil {
		t.Fatal(err)
	}
	etag := fmt.Sprintf("\"%x-%x\"", fi.ModTime().Unix(), fi.Size())
	lastMod := fi.ModTime().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")
	requests = append(requests,
		"GET /static/app.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: "+etag+"\r\n\r\n",
		"GET /static/app.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/"+etag+"\r\n\r\n",
		"GET /static/app.css HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: "+lastMod+"\r\n\r\n",
		"GET /static/app.css HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n",
		"GET /static/app.css HTTP/1.1\r\nHost: x\r\nRange: bytes=-5\r\n\r\n",
		"GET /static/app.css HTTP/1.1\r\nHost: x\r\nRange: bytes=2-\r\n\r\n",
	)
	// Static headers compared by value.
	compare := []string{"Content-Type", "Content-Length", "Last-Modified", "ETag", "Cache-Control", "Accept-Ranges", "Content-Range", "Transfer-Encoding", "Connection"}
	for _, raw := range requests {
		name := raw[:strings.Index(raw, "\r\n")]
		if i := strings.Index(raw, "\r\nIf-"); i > 0 {
			name += " " + raw[i+2:strings.Index(raw[i+2:], ":")+i+2]
		}
		if i := strings.Index(raw, "\r\nRange: "); i > 0 {
			name += " " + raw[i+2:strings.Index(raw[i+2:], "\r\n")+i+2]
		}
		if len(name) > 60 {
			name = name[:60] + "…"
		}
		t.Run(name, func(t *testing.T) {
			nr, nb := rawExchange(t, ngx, raw)
			pr, pb := rawExchange(t, px, raw)
			if nr.StatusCode != pr.StatusCode {
				t.Fatalf("status: nginx %d, proxy %d (%.300s)", nr.StatusCode, pr.StatusCode, pb)
			}
			if nr.StatusCode == 200 && strings.HasPrefix(nb, "{") {
				if nb != pb {
					t.Errorf("upstream saw\nnginx %s\nproxy %s", nb, pb)
				}
				return
			}
			if nr.Close != pr.Close {
				t.Errorf("connection close: nginx %v, proxy %v", nr.Close, pr.Close)
			}
			if strings.Contains(raw, "/static/") && nr.StatusCode < 400 {
				if nr.StatusCode == 301 {
					nl := strings.Replace(nr.Header.Get("Location"), portOf(ngx), "PORT", 1)
					pl := strings.Replace(pr.Header.Get("Location"), portOf(px), "PORT", 1)
					if nl != pl {
						t.Errorf("Location: nginx %q, proxy %q", nl, pl)
					}
					return // the redirect's HTML body differs (nginx's own page)
				}
				for _, h := range compare {
					nv, pv := nr.Header.Values(h), pr.Header.Values(h)
					if !reflect.DeepEqual(nv, pv) {
						t.Errorf("%s: nginx %q, proxy %q", h, nv, pv)
					}
				}
				if nr.StatusCode == 200 && nb != pb {
					t.Errorf("body: nginx %q, proxy %q", nb, pb)
				}
			}
		})
	}
}

// fixedUpstream answers every request with the raw response resp.
func fixedUpstream(t *testing.T, resp string) string {
	t.Helper()
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
				c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 8192)
				n, _ := c.Read(buf)
				if n > 0 {
					c.Write([]byte(resp))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestParityResponseHeaders compares the response headers a client gets
// from nginx and from the proxy for upstream responses with hop-by-hop,
// hidden and repeated headers, and each body framing.
func TestParityResponseHeaders(t *testing.T) {
	for _, tc := range []struct{ name, resp string }{
		{"hidden and repeated", "HTTP/1.1 200 Fine\r\nServer: app\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nX-Pad: avoid browser bug\r\n" +
			"X-Accel-Buffering: no\r\nX-Accel-Expires: 0\r\nKeep-Alive: timeout=5\r\nConnection: close, X-Foo\r\nX-Foo: bar\r\n" +
			"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nUpgrade: h2c\r\nTrailer: X-T\r\nProxy-Connection: keep-alive\r\nVary: Cookie\r\n" +
			"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"},
		{"chunked", "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nLocation: /x\r\n\r\n" +
			"2\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n"},
		{"close delimited", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close"},
		{"no content", "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"},
		{"no reason", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := fixedUpstream(t, tc.resp)
			c := testConfig(t)
			c.Proxy.Gzip = false
			ngx := startNginx(t, up, c.Dir(), "")
			_, px := startProxy(t, c, Options{Upstreams: []string{up}})
			for _, raw := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.0\r\n\r\n"} {
				nr, nb := rawExchange(t, ngx, raw)
				pr, pb := rawExchange(t, px, raw)
				if nr.Status != pr.Status || nb != pb || nr.Close != pr.Close ||
					!reflect.DeepEqual(nr.TransferEncoding, pr.TransferEncoding) || nr.ContentLength != pr.ContentLength {
					t.Errorf("%q:\nnginx %q %q close=%v te=%v cl=%d\nproxy %q %q close=%v te=%v cl=%d", raw,
						nr.Status, nb, nr.Close, nr.TransferEncoding, nr.ContentLength,
						pr.Status, pb, pr.Close, pr.TransferEncoding, pr.ContentLength)
				}
				nh, ph := nr.Header.Clone(), pr.Header.Clone()
				for _, h := range []string{"Date", "Server"} {
					nh.Del(h)
					ph.Del(h)
				}
				if !reflect.DeepEqual(nh, ph) {
					t.Errorf("%q headers:\nnginx %v\nproxy %v", raw, nh, ph)
				}
			}
		})
	}
}

// gzipDirectives is what the proxy's gzip reproduces (see gzip.go); the
// nginx renderer writes the same inside the server block.
const gzipDirectives = `
    gzip on;
    gzip_vary on;
    gzip_proxied any;
    gzip_comp_level 6;
    gzip_types text/plain text/css text/xml text/javascript application/json application/javascript application/xml application/rss+xml application/atom+xml image/svg+xml;
`

func TestParityGzip(t *testing.T) {
	text := strings.Repeat("compress me ", 50)
	for _, tc := range []struct{ name, ctype, extra, ae, proto string }{
		{"html", "text/html", "", "gzip", "1.1"},
		{"json", "application/json", "", "gzip, br", "1.1"},
		{"json with etag", "application/json", "ETag: \"v1\"\r\n", "gzip", "1.1"},
		{"png", "image/png", "", "gzip", "1.1"},
		{"refused", "text/plain", "", "gzip;q=0", "1.1"},
		{"http/1.0", "text/plain", "", "gzip", "1.0"},
		{"already encoded", "text/plain", "Content-Encoding: br\r\n", "gzip", "1.1"},
		{"via a proxy", "text/plain", "", "gzip", "1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := fixedUpstream(t, "HTTP/1.1 200 OK\r\nContent-Type: "+tc.ctype+"\r\n"+tc.extra+
				"Content-Length: "+fmt.Sprint(len(text))+"\r\n\r\n"+text)
			c := testConfig(t)
			c.Proxy.Gzip = true
			ngx := startNginx(t, up, c.Dir(), gzipDirectives)
			_, px := startProxy(t, c, Options{Upstreams: []string{up}})
			raw := "GET / HTTP/" + tc.proto + "\r\nHost: x\r\nAccept-Encoding: " + tc.ae + "\r\n"
			if tc.name == "via a proxy" {
				raw += "Via: 1.1 cache\r\n"
			}
			raw += "\r\n"
			nr, _ := rawExchange(t, ngx, raw)
			pr, _ := rawExchange(t, px, raw)
			for _, h := range []string{"Content-Encoding", "Vary", "ETag", "Content-Length", "Transfer-Encoding"} {
				nv, pv := nr.Header.Values(h), pr.Header.Values(h)
				if h == "Transfer-Encoding" {
					nv, pv = nr.TransferEncoding, pr.TransferEncoding
				}
				if !reflect.DeepEqual(nv, pv) {
					t.Errorf("%s: nginx %q, proxy %q", h, nv, pv)
				}
			}
		})
	}
}

func TestParityUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	c := testConfig(t)
	ngx := startNginx(t, dead, c.Dir(), "")
	_, px := startProxy(t, c, Options{Upstreams: []string{dead}})
	for _, raw := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"} {
		nr, _ := rawExchange(t, ngx, raw)
		pr, _ := rawExchange(t, px, raw)
		if nr.StatusCode != 502 || pr.StatusCode != 502 || nr.Close != pr.Close {
			t.Errorf("%q: nginx %d close=%v, proxy %d close=%v", raw, nr.StatusCode, nr.Close, pr.StatusCode, pr.Close)
		}
	}
}

// TestParityHeadOrder compares the order of the fields nginx's header
// filter writes itself (Content-Type, Content-Length, Last-Modified,
// Location, Transfer-Encoding, Connection) for each kind of response the
// proxy writes: static files (plain, gzip, 304, a folder's 301), its own
// pages and relayed answers (fixed length, chunked with a Location).
func TestParityHeadOrder(t *testing.T) {
	for _, tc := range []struct{ name, upstream, raw string }{
		{"static", "", "GET /static/app.css HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"static gzip", "", "GET /static/app.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"},
		{"static 304", "", "GET /static/app.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n"},
		{"folder redirect", "", "GET /static/sub HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"error page", "", "GET /static/nope HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"relayed", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\nok", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"relayed chunked", "HTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := "127.0.0.1:1"
			if tc.upstream != "" {
				up = fixedUpstream(t, tc.upstream)
			}
			c, staticDir := staticProject(t)
			c.Proxy.Gzip = true
			ngx := startNginx(t, up, staticDir, gzipDirectives)
			_, px := startProxy(t, c, Options{Upstreams: []string{up}})
			want, got := fixedFieldOrder(t, ngx, tc.raw), fixedFieldOrder(t, px, tc.raw)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("order of the header filter's fields:\nnginx %q\nproxy %q", want, got)
			}
		})
	}
}

// fixedFieldOrder sends raw to addr and returns the names of the header
// filter's own fields in the response head, in order.
func fixedFieldOrder(t *testing.T, addr, raw string) []string {
	t.Helper()
	c := sendRaw(t, addr, raw)
	defer c.Close()
	var head []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(head), "\r\n\r\n") {
		n, err := c.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil {
			t.Fatalf("reading the response head to %q: %v (%q)", raw, err, head)
		}
	}
	fixed := map[string]bool{"content-type": true, "content-length": true, "last-modified": true,
		"location": true, "transfer-encoding": true, "connection": true}
	var names []string
	for _, line := range strings.Split(string(head[:strings.Index(string(head), "\r\n\r\n")]), "\r\n")[1:] {
		name, _, _ := strings.Cut(line, ":")
		if fixed[strings.ToLower(name)] {
			names = append(names, name)
		}
	}
	return names
}
