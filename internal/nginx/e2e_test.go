package nginx_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
)

// app is a small HTTP app on loopback standing in for the scaffolded one:
// it answers "hello from app <path>" and records what nginx sent it.
type app struct {
	addr string
	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	Path, Host, RemoteAddr string
	Header                 http.Header
}

func startApp(t *testing.T) *app {
	t.Helper()
	a := &app{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return a
}

func (a *app) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.reqs = append(a.reqs, seen{Path: r.URL.RequestURI(), Host: r.Host, RemoteAddr: r.RemoteAddr, Header: r.Header.Clone()})
	a.mu.Unlock()
	if r.URL.Path == "/ws" && strings.EqualFold(r.Header.Get("Upgrade"), "echo") {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString("echo: " + line)
		rw.Flush()
		return
	}
	fmt.Fprintf(w, "hello from app %s", r.URL.Path)
}

func (a *app) requests() []seen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]seen(nil), a.reqs...)
}

// e2eSite renders a site for the app with nginx on a free loopback port,
// static files under a test app_dir, and logs in the test folder.
func e2eSite(t *testing.T, a *app, edit func(c *stack.Config)) (c *stack.Config, appDir string) {
	t.Helper()
	dir := nginxtest.TempDir(t)
	appDir = filepath.Join(dir, "srv")
	if err := os.MkdirAll(filepath.Join(appDir, "static"), 0o755); err != nil {
		t.Fatal(err)
	}
	c = stack.Default("e2e", "go")
	c.Proxy.ServerNames = []string{"e2e.example.com"}
	c.Proxy.Static = []stack.Static{{URL: "/static/", Dir: "static", Expires: "1h"}}
	c.Upstream.Servers = []string{a.addr}
	c.Nginx.Listen = fmt.Sprintf("127.0.0.1:%d", nginxtest.FreePort(t))
	c.Nginx.AppDir = appDir
	c.Nginx.AccessLog = filepath.Join(dir, "access.log")
	c.Nginx.ErrorLog = filepath.Join(dir, "error.log")
	if edit != nil {
		edit(c)
	}
	return c, appDir
}

func get(t *testing.T, client *http.Client, url, host string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestEndToEnd runs the real nginx with a generated site in front of an
// app on loopback and checks what a client and the app see, with the site
// loaded from the minimal wrapper and from the stock nginx.conf.
func TestEndToEnd(t *testing.T) {
	bin := nginxtest.Require(t)
	t.Run("minimal", func(t *testing.T) { endToEnd(t, bin, nginxtest.Minimal) })
	t.Run("stock", func(t *testing.T) { endToEnd(t, bin, nginxtest.Stock) })
}

func endToEnd(t *testing.T, bin string, wrap nginxtest.Wrapper) {
	a := startApp(t)
	c, appDir := e2eSite(t, a, nil)
	if err := os.WriteFile(filepath.Join(appDir, "static", "app.css"), []byte("body{color:red}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(appDir, "static", ".env"), []byte("SECRET=1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(appDir, "secret.txt"), []byte("outside the static folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	site, err := Render(c, Options{NginxVersion: "1.22.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := nginxtest.Start(t, bin, wrap, site)
	srv.WaitListening(t, c.Nginx.Listen)
	base := "http://" + c.Nginx.Listen
	client := &http.Client{Timeout: 10 * time.Second}

	// Proxied to the app, with the article's headers.
	resp, body := get(t, client, base+"/hello?x=1", "E2E.example.com:8080", map[string]string{"X-Forwarded-For": "203.0.113.9"})
	if resp.StatusCode != 200 || body != "hello from app /hello" {
		t.Fatalf("want the app's answer, got %d %q\n%s", resp.StatusCode, body, srv.Logs())
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("security headers missing: %v", resp.Header)
	}
	if strings.Contains(resp.Header.Get("Server"), "/") {
		t.Errorf("server_tokens off must hide the version: Server: %s", resp.Header.Get("Server"))
	}
	reqs := a.requests()
	if len(reqs) != 1 {
		t.Fatalf("the app saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/hello?x=1" || r.Host != "e2e.example.com" {
		t.Errorf("app saw path %q host %q, want /hello?x=1 and e2e.example.com", r.Path, r.Host)
	}
	for k, want := range map[string]string{
		"X-Real-Ip":         "127.0.0.1",
		"X-Forwarded-For":   "203.0.113.9, 127.0.0.1",
		"X-Forwarded-Proto": "http",
		"Connection":        "",
		"Upgrade":           "",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("app saw %s: %q, want %q", k, got, want)
		}
	}

	// keepalive: the next request reuses nginx's connection to the app,
	// which only works because plain requests carry no "Connection: close".
	get(t, client, base+"/again", "e2e.example.com", nil)
	reqs = a.requests()
	if reqs[1].RemoteAddr != reqs[0].RemoteAddr {
		t.Errorf("nginx opened a new upstream connection (%s then %s): keepalive is not working", reqs[0].RemoteAddr, reqs[1].RemoteAddr)
	}

	// Static files come from nginx, with cache headers, never from the app.
	resp, body = get(t, client, base+"/static/app.css", "e2e.example.com", nil)
	if resp.StatusCode != 200 || body != "body{color:red}" {
		t.Fatalf("static file: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "max-age=3600" || resp.Header.Get("Expires") == "" {
		t.Errorf("static file cache headers: Cache-Control %q Expires %q", resp.Header.Get("Cache-Control"), resp.Header.Get("Expires"))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("static Content-Type %q, want text/css", ct)
	}
	if resp.Header.Get("Last-Modified") == "" || resp.Header.Get("ETag") == "" {
		t.Errorf("static file without Last-Modified/ETag: %v", resp.Header)
	}
	for path, want := range map[string]int{
		"/static/missing.css": 404,
		"/static/.env":        403,
		"/static/":            403, // no directory listing
		"/.git/config":        403,
	} {
		resp, body := get(t, client, base+path, "e2e.example.com", nil)
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d %q, want %d", path, resp.StatusCode, body, want)
		}
	}
	if n := len(a.requests()); n != 2 {
		t.Errorf("static and hidden requests reached the app: it saw %d requests, want 2", n)
	}
	// Leaving the static folder with .. (plain or escaped): nginx resolves
	// the URI first, so /static/../secret.txt is /secret.txt, which is the
	// app's (it gets the URI as sent); the file is never read from disk.
	for _, path := range []string{"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/..%2fsecret.txt"} {
		_, body := get(t, client, base+path, "e2e.example.com", nil)
		if strings.Contains(body, "outside the static folder") {
			t.Errorf("GET %s served a file outside the static folder", path)
		}
	}

	reqs = a.requests()
	if last := reqs[len(reqs)-1]; last.Path != "/static/..%2fsecret.txt" {
		t.Errorf("the app must get the URI exactly as sent, got %q", last.Path)
	}

	// A WebSocket-style upgrade passes through with Upgrade/Connection.
	conn, err := net.DialTimeout("tcp", c.Nginx.Listen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: e2e.example.com\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	status, _ := br.ReadString('\n')
	if !strings.HasPrefix(status, "HTTP/1.1 101") {
		t.Fatalf("upgrade: %q", status)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	fmt.Fprintf(conn, "ping\n")
	if l, _ := br.ReadString('\n'); l != "echo: ping\n" {
		t.Errorf("upgraded connection: got %q", l)
	}
	reqs = a.requests()
	if h := reqs[len(reqs)-1].Header; h.Get("Upgrade") != "echo" || h.Get("Connection") != "upgrade" {
		t.Errorf("the app saw Upgrade %q Connection %q, want echo/upgrade", h.Get("Upgrade"), h.Get("Connection"))
	}
}

// TestEndToEndTLS serves the site over https with a self-signed
// certificate, redirects http to https and answers certbot's challenge
// from the webroot.
func TestEndToEndTLS(t *testing.T) {
	bin := nginxtest.Require(t)
	a := startApp(t)
	httpsPort := nginxtest.FreePort(t)
	var webroot string
	c, _ := e2eSite(t, a, func(c *stack.Config) {
		dir := nginxtest.TempDir(t)
		cert := nginxtest.SelfSignedCert(t, dir, "e2e.example.com", "www.e2e.example.com")
		webroot = filepath.Join(dir, "webroot")
		c.Nginx.TLS = stack.TLS{Enabled: true, Cert: cert.CertFile, Key: cert.KeyFile, HSTS: true, ACMEWebroot: webroot}
		c.Proxy.Redirect = stack.RedirectWWWToApex
	})
	if err := os.MkdirAll(filepath.Join(webroot, ".well-known", "acme-challenge"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(webroot, ".well-known", "acme-challenge", "tok3n"), []byte("tok3n.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	site, err := Render(c, Options{NginxVersion: "1.22.1", HTTPSPort: httpsPort})
	if err != nil {
		t.Fatal(err)
	}
	srv := nginxtest.Start(t, bin, nginxtest.Minimal, site)
	httpsAddr := fmt.Sprintf("127.0.0.1:%d", httpsPort)
	srv.WaitListening(t, c.Nginx.Listen, httpsAddr)

	pool, err := certPool(c.Nginx.TLS.Cert)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: noRedirect,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "e2e.example.com"},
			ForceAttemptHTTP2: true,
		},
	}
	resp, body := get(t, client, "https://"+httpsAddr+"/secure", "e2e.example.com", nil)
	if resp.StatusCode != 200 || body != "hello from app /secure" {
		t.Fatalf("https: %d %q\n%s", resp.StatusCode, body, srv.Logs())
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("https answered with %s, want HTTP/2", resp.Proto)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=31536000") {
		t.Errorf("HSTS header %q", hsts)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS state %+v", resp.TLS)
	}
	reqs := a.requests()
	if got := reqs[len(reqs)-1].Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("app saw X-Forwarded-Proto %q, want https", got)
	}

	// www -> apex over https.
	resp, _ = get(t, client, "https://"+httpsAddr+"/p?q=1", "www.e2e.example.com", nil)
	if want := fmt.Sprintf("https://e2e.example.com:%d/p?q=1", httpsPort); resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("www redirect: %d %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// Plain http: redirect to https, except certbot's challenge.
	plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirect}
	resp, _ = get(t, plain, "http://"+c.Nginx.Listen+"/x?y=2", "e2e.example.com", nil)
	if want := fmt.Sprintf("https://e2e.example.com:%d/x?y=2", httpsPort); resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("http redirect: %d %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	resp, body = get(t, plain, "http://"+c.Nginx.Listen+"/.well-known/acme-challenge/tok3n", "www.e2e.example.com", nil)
	if resp.StatusCode != 200 || body != "tok3n.key" {
		t.Errorf("acme challenge: %d %q", resp.StatusCode, body)
	}
}

func certPool(certFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("no certificate in %s", certFile)
	}
	return pool, nil
}
