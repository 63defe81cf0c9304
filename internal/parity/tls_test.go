package parity

import (
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
)

// TestParityTLS compares nginx running the TLS site (nginx.tls.enabled:
// an HTTPS server block on its own port and the plain HTTP block that
// redirects) with the proxy's ServeTLS, which serves both on one port:
// the HTTPS-specific headers (X-Forwarded-Proto https to the app, HSTS on
// every answer of the site, https in redirects) and the plain HTTP
// redirect. Each front's redirect names its HTTPS port, which View writes
// as PORT.
func TestParityTLS(t *testing.T) {
	requireNginx(t)
	s := startSite(t, siteSpec{tls: true, mutate: func(c *stack.Config) {
		c.Nginx.TLS.HSTS = true
		c.Proxy.Redirect = stack.RedirectWWWToApex
	}})
	runCases(t, s, tlsCases())
}

// TestParityTLSPreloadNoSecurityHeaders is the TLS site with
// nginx.tls.hsts_preload and without the security headers: HSTS alone.
func TestParityTLSPreloadNoSecurityHeaders(t *testing.T) {
	requireNginx(t)
	s := startSite(t, siteSpec{tls: true, mutate: func(c *stack.Config) {
		c.Nginx.TLS.HSTS = true
		c.Nginx.TLS.HSTSPreload = true
		c.Proxy.SecurityHeaders = false
	}})
	runCases(t, s, []parityCase{
		{name: "tls/preload/app", status: 200, req: get("/tlsp/app")},
		{name: "tls/preload/404", status: 404, req: get("/static/tlsp-missing.txt")},
	})
}

// TestParityTLSNoHSTS: nginx.tls.hsts = false sends no HSTS, and the app
// still sees https.
func TestParityTLSNoHSTS(t *testing.T) {
	requireNginx(t)
	s := startSite(t, siteSpec{tls: true, mutate: func(c *stack.Config) { c.Nginx.TLS.HSTS = false }})
	runCases(t, s, []parityCase{
		{name: "tls/no_hsts/app", status: 200, req: get("/tlsn/app", "X-Forwarded-Proto: http")},
		{name: "tls/no_hsts/static", status: 200, req: get("/static/notes.txt")},
	})
}

func tlsCases() []parityCase {
	return []parityCase{
		// Over TLS.
		{name: "tls/app_sees_https", status: 200, req: get("/tls/app?q=1")},
		{name: "tls/client_x_forwarded_proto_replaced", status: 200, req: get("/tls/xfp", "X-Forwarded-Proto: http")},
		{name: "tls/post_to_app", status: 200, req: raw("POST /tls/post HTTP/1.1", "Host: example.com", "Content-Length: 5", "", "hello")},
		{name: "tls/static_file", status: 200, req: get("/static/notes.txt")},
		{name: "tls/static_missing_404", status: 404, req: get("/static/tls-missing.txt")},
		{name: "tls/hidden_403", status: 403, req: get("/.git/tls-config")},
		{name: "tls/static_folder_redirect_https", status: 301, req: get("/static/sub?x=1")},
		{name: "tls/www_to_apex_https", status: 301, req: raw("GET /tls/www?a=b HTTP/1.1", "Host: www.example.com")},
		{name: "tls/trace_405", status: 405, req: raw("TRACE /tls/trace HTTP/1.1", "Host: example.com")},
		// Plain HTTP: nginx's port-80 block, the proxy's same port.
		{name: "plain/redirect_to_https", status: 301, run: plainExchange(get("/plain/path?x=1&y=%2F"))},
		{name: "plain/redirect_host_lower_case_no_port", status: 301, run: plainExchange(raw("GET /plain/host HTTP/1.1", "Host: Example.COM:8080"))},
		{name: "plain/redirect_www_to_https_www", status: 301, run: plainExchange(raw("GET /plain/www HTTP/1.1", "Host: www.example.com"))},
		{name: "plain/redirect_static", status: 301, run: plainExchange(get("/static/notes.txt"))},
		{name: "plain/redirect_hidden", status: 301, run: plainExchange(get("/.git/plain-config"))},
		{name: "plain/redirect_head", status: 301, run: plainExchange(raw("HEAD /plain/head HTTP/1.1", "Host: example.com"))},
		{name: "plain/redirect_post", status: 301, run: plainExchange(raw("POST /plain/post HTTP/1.1", "Host: example.com", "Content-Length: 5", "", "hello"))},
		{name: "plain/redirect_http10_no_host", status: 301, run: plainExchange("GET /plain/old HTTP/1.0\r\n\r\n")},
		{name: "plain/trace_405", status: 405, run: plainExchange(raw("TRACE /plain/trace HTTP/1.1", "Host: example.com"))},
	}
}

// plainExchange sends req over plain HTTP to the front's plain address;
// its redirect names the HTTPS port (f.port, written PORT).
func plainExchange(req string) func(t *testing.T, s *site, f front) (string, int) {
	return func(t *testing.T, s *site, f front) (string, int) {
		plain := f
		plain.addr, plain.tls = f.plainAddr, nil
		return exchange(t, plain, req)
	}
}
