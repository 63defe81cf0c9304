package nginx_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
)

// FuzzRender holds the property of gen-nginx: for any input, Render rejects
// it, or the real nginx accepts what it rendered (nginx -t). The nginx half
// is skipped without nginx. What nginx cannot judge offline is checked for
// shape only: upstreams and listen addresses naming a host (nginx resolves
// them when it loads), and listen addresses that are not this machine's
// (nginx -t binds them). Files nginx opens at load time (logs,
// certificates) are the test's own, never fuzzed paths.
//
// Run it with: go test ./internal/nginx -run '^$' -fuzz FuzzRender -fuzztime 1m
func FuzzRender(f *testing.F) {
	type seed struct {
		name, domains, upstreams, listen, appDir, staticURL, staticDir, expires, size, timeout, failTimeout string
		opts                                                                                                uint8
		maxFails, keepalive                                                                                 int
	}
	seeds := []seed{
		{"myapp", "example.com", "", "80", "/srv/myapp", "/static/", "static", "30d", "1m", "60s", "10s", 0b00001110, 1, 16},
		{"shop-api", "example.com,www.example.com", "127.0.0.1:5001,[::1]:5002,unix:/run/a.sock", "127.0.0.1:8080", "/srv/shop", "/assets/img/", "public/img", "1h30m", "0", "500ms", "2000ms", 0b01011111, 3, 0},
		{"a", "*.example.org", "localhost:5000", "[::1]:80", "/", "/s/", ".", "", "10M", "1d", "1", 0b10100001, 0, 1},
		{"x-1", "a.b.c.d.e", "10.0.0.1:1", "0.0.0.0:65535", "/srv/a/../b", "/a;b/", "s d", "5x", "1k;", "60", "0s", 0xff, -1, 100000},
	}
	for _, s := range seeds {
		f.Add(s.name, s.domains, s.upstreams, s.listen, s.appDir, s.staticURL, s.staticDir, s.expires, s.size, s.timeout, s.failTimeout, s.opts, s.maxFails, s.keepalive)
	}
	// The first two seeds are valid: the nginx half of the property runs.
	mustAccept := map[seed]bool{seeds[0]: true, seeds[1]: true}
	f.Fuzz(func(t *testing.T, name, domains, upstreams, listen, appDir, staticURL, staticDir, expires, size, timeout, failTimeout string, opts uint8, maxFails, keepalive int) {
		c := stack.Default("fuzz", "go")
		c.Name = name
		c.Proxy.ServerNames = split(domains)
		c.Upstream.Servers = split(upstreams)
		c.Nginx.Listen = listen
		c.Nginx.AppDir = appDir
		if staticURL != "" {
			c.Proxy.Static = []stack.Static{{URL: staticURL, Dir: staticDir, Expires: stack.Duration(expires)}}
		}
		c.Proxy.ClientMaxBodySize = stack.Size(size)
		c.Proxy.ReadTimeout = stack.Duration(timeout)
		c.Upstream.FailTimeout = stack.Duration(failTimeout)
		c.Upstream.MaxFails = maxFails
		c.Upstream.Keepalive = keepalive
		c.Nginx.TLS.Enabled = opts&1 != 0
		c.Proxy.WebSocket = opts&2 != 0
		c.Proxy.Gzip = opts&4 != 0
		c.Proxy.SecurityHeaders = opts&8 != 0
		c.Proxy.Redirect = []string{stack.RedirectNone, stack.RedirectWWWToApex, stack.RedirectApexToWWW, "bogus"}[opts>>4&3]
		c.Upstream.Balance = []string{stack.BalanceRoundRobin, stack.BalanceLeastConn, stack.BalanceIPHash, "random"}[opts>>6&3]

		// Files nginx opens are the test's (t.TempDir's name may hold '#',
		// which stack.toml paths may not).
		dir, err := os.MkdirTemp("", "stackctl-fuzz-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		c.Nginx.AccessLog = filepath.Join(dir, "access.log")
		c.Nginx.ErrorLog = filepath.Join(dir, "error.log")
		if c.Nginx.TLS.Enabled {
			c.Nginx.TLS.Cert = filepath.Join(dir, "cert.pem")
			c.Nginx.TLS.Key = filepath.Join(dir, "key.pem")
		}

		out, err := Render(c, Options{NginxVersion: "1.22.1", Source: domains, StackctlVersion: name})
		if mustAccept[seed{name, domains, upstreams, listen, appDir, staticURL, staticDir, expires, size, timeout, failTimeout, opts, maxFails, keepalive}] && err != nil {
			t.Fatalf("seed %s must render: %v", name, err)
		}
		if err != nil {
			var ve *stack.ValidationError
			if out != nil || !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("a rejection must be a *stack.ValidationError and no text: %T %v", err, err)
			}
			return
		}
		checkShape(t, out)
		if !offline(c) {
			return
		}
		bin, err := Binary()
		if err != nil {
			return // property checked for shape only; TestGoldenNginxAccepts reports the missing nginx
		}
		if c.Nginx.TLS.Enabled {
			nginxtest.SelfSignedCert(t, dir, "example.com")
		}
		if err := nginxtest.Test(t, bin, nginxtest.Minimal, out); err != nil {
			t.Fatalf("Render accepted the input but nginx rejects the site: %v\n%s", err, out)
		}
	})
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// offline reports whether nginx -t can judge the site on this machine:
// every upstream is an IP address or a unix socket, and nginx listens on
// an address this machine has.
func offline(c *stack.Config) bool {
	for _, u := range c.Upstream.Servers {
		if strings.HasPrefix(u, "unix:") {
			continue
		}
		l, err := stack.ParseListen(u)
		if err != nil {
			return false
		}
		if _, err := netip.ParseAddr(l.Host); err != nil {
			return false
		}
	}
	l, err := stack.ParseListen(c.Nginx.Listen)
	if err != nil {
		return false
	}
	if l.Host == "" {
		return true
	}
	a, err := netip.ParseAddr(l.Host)
	return err == nil && (a.IsLoopback() || a.IsUnspecified())
}

// checkShape is what can be said of any rendered site without nginx: every
// line is a comment, a block opening or closing, or one directive ending in
// ';', and the braces balance.
func checkShape(t *testing.T, site []byte) {
	t.Helper()
	depth := 0
	for i, line := range strings.Split(string(site), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
			if strings.ContainsAny(l, "\r") {
				t.Fatalf("line %d: a comment holds a carriage return: %q", i+1, line)
			}
		case l == "}":
			depth--
		case strings.HasSuffix(l, "{"):
			if strings.Count(l, "{") != 1 || strings.Contains(l, "}") || strings.Contains(l, ";") {
				t.Fatalf("line %d is not one block opening: %q", i+1, line)
			}
			depth++
		case strings.HasSuffix(l, ";"):
			// Quoted header values hold ';' on purpose; outside quotes a
			// directive has exactly one.
			if strings.Count(unquote(l), ";") != 1 || strings.ContainsAny(unquote(l), "{}#") {
				t.Fatalf("line %d is not one directive: %q", i+1, line)
			}
		default:
			t.Fatalf("line %d is neither a directive nor a block: %q", i+1, line)
		}
		if depth < 0 {
			t.Fatalf("line %d closes a block that is not open", i+1)
		}
	}
	if depth != 0 {
		t.Fatalf("%d blocks left open", depth)
	}
}

// unquote removes "..." and '...' strings (with their contents) from a line.
func unquote(l string) string {
	var b strings.Builder
	var q rune
	for _, r := range l {
		switch {
		case q != 0 && r == q:
			q = 0
		case q != 0:
		case r == '"' || r == '\'':
			q = r
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
