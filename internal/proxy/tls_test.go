package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/localca"
	"github.com/stackctl/stackctl/internal/stack"
)

// startTLSProxy runs ServeTLS on a loopback port with a leaf from a local
// CA made in a temporary folder, and returns the address and a pool
// trusting only that CA.
func startTLSProxy(t *testing.T, c *stack.Config, opts Options) (string, *x509.CertPool) {
	t.Helper()
	ca, err := localca.Open(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Leaf(c.Proxy.ServerNames)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	p, err := New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.ServeTLS(ln, &tls.Config{Certificates: []tls.Certificate{leaf.Certificate}}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeTLS: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("ServeTLS did not return after Shutdown")
		}
	})
	return ln.Addr().String(), pool
}

// tlsExchange sends raw over TLS (server name sni) and reads one response.
func tlsExchange(t *testing.T, addr string, pool *x509.CertPool, sni, raw string) (*http.Response, string) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: sni})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: strings.Fields(raw)[0]})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func tlsConfigFor(t *testing.T) (*stack.Config, *echoUpstream) {
	e := startEcho(t)
	c := testConfig(t)
	c.Proxy.ServerNames = []string{"example.com", "www.example.com"}
	c.Proxy.SecurityHeaders = true
	c.Nginx.TLS.HSTS = true
	return c, e
}

func TestServeTLSAppSeesHTTPSAndHSTS(t *testing.T) {
	c, e := tlsConfigFor(t)
	addr, pool := startTLSProxy(t, c, Options{Upstreams: []string{e.addr}})
	for _, sni := range []string{"localhost", "example.com", "127.0.0.1"} {
		resp, body := tlsExchange(t, addr, pool, sni, "GET /x?y=1 HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-Proto: http\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", sni, resp.StatusCode, body)
		}
		var s seen
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		if got := s.get("X-Forwarded-Proto"); len(got) != 1 || got[0] != "https" {
			t.Errorf("%s: the app saw X-Forwarded-Proto %q, want [https]", sni, got)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
			t.Errorf("%s: Strict-Transport-Security %q", sni, got)
		}
		if resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
			t.Errorf("%s: no security headers: %v", sni, resp.Header)
		}
	}
	// An error page of the site carries HSTS too (add_header ... always).
	resp, _ := tlsExchange(t, addr, pool, "localhost", "GET /.git/config HTTP/1.1\r\nHost: example.com\r\n\r\n")
	if resp.StatusCode != 403 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("403 over TLS: status %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
}

func TestServeTLSHSTSPreloadAndOff(t *testing.T) {
	c, e := tlsConfigFor(t)
	c.Nginx.TLS.HSTSPreload = true
	addr, pool := startTLSProxy(t, c, Options{Upstreams: []string{e.addr}})
	resp, _ := tlsExchange(t, addr, pool, "localhost", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains; preload" {
		t.Errorf("hsts_preload: %q", got)
	}

	c2, e2 := tlsConfigFor(t)
	c2.Nginx.TLS.HSTS = false
	c2.Proxy.SecurityHeaders = false
	addr2, pool2 := startTLSProxy(t, c2, Options{Upstreams: []string{e2.addr}})
	resp, body := tlsExchange(t, addr2, pool2, "localhost", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 0 {
		t.Errorf("hsts = false: %q", got)
	}
	mustContain(t, body, `["X-Forwarded-Proto","https"]`)
}

func TestServeTLSPlainHTTPRedirected(t *testing.T) {
	c, e := tlsConfigFor(t)
	addr, _ := startTLSProxy(t, c, Options{Upstreams: []string{e.addr}})
	_, port, _ := net.SplitHostPort(addr)

	// Two requests on one plain connection: both redirected, kept alive.
	conn := sendRaw(t, addr, "GET /a/b?c=1&d=%2F HTTP/1.1\r\nHost: Example.COM:9999\r\n\r\nHEAD /static/x HTTP/1.1\r\nHost: localhost\r\n\r\n")
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i, want := range []string{"https://example.com:" + port + "/a/b?c=1&d=%2F", "https://localhost:" + port + "/static/x"} {
		method := "GET"
		if i == 1 {
			method = "HEAD"
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 301 || resp.Header.Get("Location") != want {
			t.Errorf("response %d: %d Location %q, want 301 %q", i, resp.StatusCode, resp.Header.Get("Location"), want)
		}
		if resp.Header.Get("Strict-Transport-Security") != "" || resp.Header.Get("X-Frame-Options") != "" {
			t.Errorf("response %d: HSTS or security headers over plain HTTP: %v", i, resp.Header)
		}
		if resp.Close {
			t.Errorf("response %d: connection closed", i)
		}
	}
	if n, _ := e.counts(); n != 0 {
		t.Errorf("the app got %d connections from plain HTTP requests", n)
	}

	// A POST with a body: redirected too (nginx's return 301), then closed.
	resp, _ := rawExchange(t, addr, "POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://localhost:"+port+"/form" {
		t.Errorf("POST: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Over nginx's default client_max_body_size of the plain block: 413.
	resp, _ = rawExchange(t, addr, "POST /big HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\n\r\n")
	if resp.StatusCode != 413 {
		t.Errorf("2 MB POST over plain HTTP: %d, want 413", resp.StatusCode)
	}
	// TRACE is refused before any server block, as nginx does.
	resp, _ = rawExchange(t, addr, "TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if resp.StatusCode != 405 {
		t.Errorf("TRACE over plain HTTP: %d, want 405", resp.StatusCode)
	}
}

func TestServeTLSRedirectsUseHTTPS(t *testing.T) {
	c, e := tlsConfigFor(t)
	c.Proxy.Redirect = stack.RedirectWWWToApex
	static := filepath.Join(c.Dir(), "static", "sub")
	if err := os.MkdirAll(static, 0o755); err != nil {
		t.Fatal(err)
	}
	c.Proxy.Static = []stack.Static{{URL: "/static/", Dir: "static"}}
	addr, pool := startTLSProxy(t, c, Options{Upstreams: []string{e.addr}})
	_, port, _ := net.SplitHostPort(addr)

	resp, _ := tlsExchange(t, addr, pool, "www.example.com", "GET /p?q=1 HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://example.com:"+port+"/p?q=1" {
		t.Errorf("www-to-apex over TLS: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The redirect block includes the TLS settings (HSTS), not the
	// security headers.
	if resp.Header.Get("Strict-Transport-Security") == "" || resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("www-to-apex over TLS: headers %v", resp.Header)
	}
	resp, _ = tlsExchange(t, addr, pool, "localhost", "GET /static/sub?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://example.com:"+port+"/static/sub/?x=1" {
		t.Errorf("folder without slash over TLS: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestServeTLSGoClientTrustingOnlyTheCA(t *testing.T) {
	c, e := tlsConfigFor(t)
	addr, pool := startTLSProxy(t, c, Options{Upstreams: []string{e.addr}})
	_, port, _ := net.SplitHostPort(addr)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	// http:// is redirected to https:// on the same port, and followed.
	resp, err := client.Get("http://localhost:" + port + "/follow")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.Request.URL.String() != "https://localhost:"+port+"/follow" {
		t.Fatalf("status %d, TLS %v, URL %s", resp.StatusCode, resp.TLS != nil, resp.Request.URL)
	}
	mustContain(t, string(body), `["X-Forwarded-Proto","https"]`)

	// A client that does not trust the CA fails its handshake; the proxy
	// serves the next one.
	if _, err := http.Get("https://localhost:" + port + "/"); err == nil {
		t.Error("a client with the system roots accepted the local CA's certificate")
	}
	if resp, err := client.Get("https://127.0.0.1:" + port + "/again"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
}

func TestServeTLSSilentClientHoldsNoOneUp(t *testing.T) {
	c, e := tlsConfigFor(t)
	addr, pool := startTLSProxy(t, c, Options{Upstreams: []string{e.addr}, ClientTimeouts: ClientTimeouts{Header: 500 * time.Millisecond}})
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	resp, _ := tlsExchange(t, addr, pool, "localhost", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if resp.StatusCode != 200 || time.Since(start) > 400*time.Millisecond {
		t.Errorf("status %d after %v behind a silent client", resp.StatusCode, time.Since(start))
	}
	// The silent one is closed after client_header_timeout, unanswered.
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := silent.Read(make([]byte, 1))
	if n != 0 || err == nil || isTimeout(err) {
		t.Errorf("silent client: read %d, %v; want closed", n, err)
	}
}
