package nginx_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	. "github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCase is one row of the golden matrix: one or more sites that are
// loaded together by nginx.
type goldenCase struct {
	name  string
	sites []*stack.Config
}

// balancerCase is the golden case rendered with Options.Balancer.
const balancerCase = "lb"

func cfg(name string, edit func(c *stack.Config)) *stack.Config {
	c := stack.Default(name, "go")
	c.Proxy.ServerNames = []string{name + ".example.com"}
	if edit != nil {
		edit(c)
	}
	return c
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{"plain", []*stack.Config{cfg("plain", nil)}},
		{"static", []*stack.Config{cfg("static", func(c *stack.Config) {
			c.Proxy.Static = []stack.Static{
				{URL: "/static/", Dir: "static", Expires: "30d"},
				{URL: "/media/files/", Dir: "public/media/", Expires: "1h30m"},
				{URL: "/downloads/", Dir: "dl"},
			}
		})}},
		{"tls-redirect-hsts", []*stack.Config{cfg("tls", func(c *stack.Config) {
			c.Proxy.ServerNames = []string{"example.com", "api.example.com"}
			c.Proxy.Redirect = stack.RedirectWWWToApex
			c.Nginx.TLS.Enabled = true
			c.Nginx.TLS.HSTS = true
		})}},
		{"tls-apex-to-www-own-cert", []*stack.Config{cfg("shop", func(c *stack.Config) {
			c.Proxy.ServerNames = []string{"shop.example.org", "*.shop.example.org"}
			c.Proxy.Redirect = stack.RedirectApexToWWW
			c.Nginx.TLS.Enabled = true
			c.Nginx.TLS.HSTS = false
			c.Nginx.TLS.Cert = "/etc/ssl/stackctl/shop.crt"
			c.Nginx.TLS.Key = "/etc/ssl/stackctl/shop.key"
			c.Nginx.Listen = "127.0.0.1:80"
		})}},
		{"upstreams-least-conn", []*stack.Config{cfg("scale", func(c *stack.Config) {
			c.Upstream.Servers = []string{"127.0.0.1:5001", "127.0.0.1:5002", "[::1]:5003", "unix:/run/scale/app.sock"}
			c.Upstream.Balance = stack.BalanceLeastConn
			c.Upstream.MaxFails = 3
			c.Upstream.FailTimeout = "30s"
			c.Upstream.Keepalive = 64
		})}},
		{"websocket-off", []*stack.Config{cfg("quiet", func(c *stack.Config) {
			c.Proxy.WebSocket = false
			c.Proxy.Gzip = false
			c.Proxy.SecurityHeaders = false
			c.Proxy.ClientMaxBodySize = "0"
			c.Proxy.ConnectTimeout = "500ms"
			c.Proxy.ReadTimeout = "5m"
			c.Upstream.Balance = stack.BalanceIPHash
			c.Upstream.Keepalive = 0
			c.Nginx.Listen = "127.0.0.1:8080"
			c.Nginx.AccessLog = "off"
		})}},
		// The lb host's site as deploy renders it: keep-alive connections to
		// the app hosts' nginx, and the retry settings.
		{balancerCase, []*stack.Config{cfg("lb", func(c *stack.Config) {
			c.Upstream.Servers = []string{"10.0.0.11:80", "10.0.0.12:80"}
			c.Upstream.MaxFails = 3
			c.Upstream.Keepalive = 64
		})}},
		{"two-sites", []*stack.Config{
			cfg("blog", func(c *stack.Config) {
				c.Proxy.Static = []stack.Static{{URL: "/static/", Dir: "static", Expires: "7d"}}
			}),
			cfg("shop-api", func(c *stack.Config) {
				c.App.Port = 6000
				c.Nginx.TLS.Enabled = true
				c.Proxy.Redirect = stack.RedirectApexToWWW
			}),
		}},
	}
}

func goldenPath(caseName string, i, n int) string {
	if n == 1 {
		return filepath.Join("testdata", caseName+".conf")
	}
	return filepath.Join("testdata", caseName+"-"+strconv.Itoa(i+1)+".conf")
}

// render is Render with the options every golden uses.
func render(t *testing.T, c *stack.Config) []byte {
	t.Helper()
	return renderAs(t, c, false)
}

// renderAs is render, as a load balancer's site when balancer is set.
func renderAs(t *testing.T, c *stack.Config, balancer bool) []byte {
	t.Helper()
	out, err := Render(c, Options{NginxVersion: "1.22.1", Source: "/srv/" + c.Name + "/stack.toml", StackctlVersion: "v0.0.0-test", Balancer: balancer})
	if err != nil {
		t.Fatalf("Render(%s): %v", c.Name, err)
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, gc := range goldenCases() {
		t.Run(gc.name, func(t *testing.T) {
			for i, c := range gc.sites {
				got := renderAs(t, c, gc.name == balancerCase)
				path := goldenPath(gc.name, i, len(gc.sites))
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/nginx -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from Render's output (go test ./internal/nginx -update rewrites it):\n%s", path, lineDiff(string(want), string(got)))
				}
			}
		})
	}
}

// TestGoldenNginxAccepts loads every golden file, as written in testdata/,
// into the real nginx with `nginx -t`, both from the minimal wrapper and from
// the distribution's stock nginx.conf. Only the paths of files nginx opens
// at load time (logs, certificates) are moved into the test's folder, so
// that the test neither writes to /var/log nor needs Let's Encrypt files;
// the certificates are generated by the test.
func TestGoldenNginxAccepts(t *testing.T) {
	bin := nginxtest.Require(t)
	for _, gc := range goldenCases() {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel() // each run has its own prefix; nginx -t tolerates a port in use
			var sites [][]byte
			for i := range gc.sites {
				data, err := os.ReadFile(goldenPath(gc.name, i, len(gc.sites)))
				if err != nil {
					t.Fatal(err)
				}
				sites = append(sites, relocate(t, data))
			}
			for _, w := range []struct {
				name string
				wrap nginxtest.Wrapper
			}{{"minimal", nginxtest.Minimal}, {"stock", nginxtest.Stock}} {
				if err := nginxtest.Test(t, bin, w.wrap, sites...); err != nil {
					t.Errorf("%s wrapper: %v", w.name, err)
				}
			}
		})
	}
}

// relocate rewrites the absolute paths of files nginx opens when it loads
// a site — log files and certificates — into a fresh test folder, creating
// a self-signed certificate for each certificate/key pair named. nginx -t
// also binds the listen addresses (a port in use is fine); when the test
// does not run as root, ports 80 and 443 become 1800 and 14430.
func relocate(t *testing.T, site []byte) []byte {
	t.Helper()
	dir := nginxtest.TempDir(t)
	s := string(site)
	var certs []string
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), ";"))
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case "access_log", "error_log":
			if f[1] != "off" {
				s = strings.ReplaceAll(s, " "+f[1]+";", " "+filepath.Join(dir, filepath.Base(f[1]))+";")
			}
		case "ssl_certificate":
			certs = append(certs, f[1])
		}
	}
	for i, c := range certs {
		if !strings.Contains(s, c) {
			continue // already relocated
		}
		certDir := filepath.Join(dir, "tls"+strconv.Itoa(i))
		if err := os.Mkdir(certDir, 0o755); err != nil {
			t.Fatal(err)
		}
		cert := nginxtest.SelfSignedCert(t, certDir, "example.com")
		key := keyFor(s, c)
		s = strings.ReplaceAll(s, " "+c+";", " "+cert.CertFile+";")
		s = strings.ReplaceAll(s, " "+key+";", " "+cert.KeyFile+";")
	}
	if os.Geteuid() != 0 {
		// nginx -t binds the listen addresses; only root may bind 80 and 443.
		s = lowPortRE.ReplaceAllString(s, "${1}1${2}0")
	}
	return []byte(s)
}

var lowPortRE = regexp.MustCompile(`(listen (?:\[::\]:|127\.0\.0\.1:)?)(80|443)\b`)

// keyFor returns the ssl_certificate_key that follows ssl_certificate cert.
func keyFor(site, cert string) string {
	i := strings.Index(site, "ssl_certificate "+cert+";")
	rest := site[i:]
	j := strings.Index(rest, "ssl_certificate_key ")
	rest = rest[j+len("ssl_certificate_key "):]
	return rest[:strings.Index(rest, ";")]
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
		}
	}
	return b.String()
}

func TestHTTP2SyntaxFollowsVersion(t *testing.T) {
	c := cfg("h2", func(c *stack.Config) { c.Nginx.TLS.Enabled = true })
	for _, tc := range []struct {
		version   string
		want, not []string
	}{
		{"1.22.1", []string{"listen 443 ssl http2;", "listen [::]:443 ssl http2;"}, []string{"http2 on;"}},
		{"1.25.0", []string{"listen 443 ssl http2;"}, []string{"http2 on;"}},
		{"1.25.1", []string{"listen 443 ssl;", "listen [::]:443 ssl;", "http2 on;"}, []string{"ssl http2"}},
		{"1.27", []string{"listen 443 ssl;", "http2 on;", "ssl_protocols TLSv1.2 TLSv1.3;"}, []string{"ssl http2"}},
		{"1.12.2", []string{"listen 443 ssl http2;", "ssl_protocols TLSv1.2;"}, []string{"TLSv1.3"}},
	} {
		out, err := Render(c, Options{NginxVersion: tc.version})
		if err != nil {
			t.Fatalf("%s: %v", tc.version, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("nginx %s: want %q in:\n%s", tc.version, w, out)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(string(out), n) {
				t.Errorf("nginx %s: %q must not appear", tc.version, n)
			}
		}
	}
	if _, err := Render(c, Options{NginxVersion: "1.22;"}); err == nil || !strings.Contains(err.Error(), `"1.22;"`) {
		t.Errorf("a bad version must be rejected naming it, got %v", err)
	}
}

func TestWildcardTLSNeedsOwnCertificate(t *testing.T) {
	c := cfg("wild", func(c *stack.Config) {
		c.Proxy.ServerNames = []string{"example.com", "*.example.com"}
		c.Nginx.TLS.Enabled = true
	})
	_, err := Render(c, Options{NginxVersion: "1.22.1"})
	var ve *stack.ValidationError
	if !errors.As(err, &ve) || ve.Errors[0].Field != "proxy.server_names[1]" ||
		!strings.Contains(err.Error(), `"*.example.com"`) || !strings.Contains(err.Error(), "nginx.tls.cert") {
		t.Fatalf("want an error naming the wildcard and nginx.tls.cert, got %v", err)
	}
	c.Nginx.TLS.Cert, c.Nginx.TLS.Key = "/etc/ssl/wild.crt", "/etc/ssl/wild.key"
	if _, err := Render(c, Options{NginxVersion: "1.22.1"}); err != nil {
		t.Fatalf("with its own certificate a wildcard renders: %v", err)
	}
	c.Nginx.TLS.Enabled, c.Nginx.TLS.Cert, c.Nginx.TLS.Key = false, "", ""
	if _, err := Render(c, Options{NginxVersion: "1.22.1"}); err != nil {
		t.Fatalf("without TLS a wildcard renders: %v", err)
	}
}

func TestNamesUniquePerSite(t *testing.T) {
	out := string(render(t, cfg("my-app", nil)))
	for _, w := range []string{
		"upstream stackctl_my_app {",
		"map $http_upgrade $stackctl_my_app_connection_upgrade {",
		"proxy_pass http://stackctl_my_app;",
		"proxy_set_header Connection $stackctl_my_app_connection_upgrade;",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("want %q in:\n%s", w, out)
		}
	}
}

func TestWebSocketOffKeepsConnectionsAlive(t *testing.T) {
	out := string(render(t, cfg("ws", func(c *stack.Config) { c.Proxy.WebSocket = false })))
	if !strings.Contains(out, "proxy_set_header Connection \"\";") {
		t.Errorf(`websocket=false must clear Connection so keepalive works:\n%s`, out)
	}
	for _, n := range []string{"map ", "Upgrade", "connection_upgrade"} {
		if strings.Contains(out, n) {
			t.Errorf("websocket=false must not mention %q:\n%s", n, out)
		}
	}
}

func TestRedirectTargetsKeepNonDefaultPort(t *testing.T) {
	out := string(render(t, cfg("p", func(c *stack.Config) {
		c.Proxy.ServerNames = []string{"www.example.com"}
		c.Proxy.Redirect = stack.RedirectWWWToApex
		c.Nginx.Listen = "8080"
	})))
	for _, w := range []string{"server_name example.com;", "server_name www.example.com;", "return 301 http://example.com:8080$request_uri;"} {
		if !strings.Contains(out, w) {
			t.Errorf("want %q in:\n%s", w, out)
		}
	}
	out2, err := Render(cfg("q", func(c *stack.Config) { c.Nginx.TLS.Enabled = true }), Options{NginxVersion: "1.22.1", HTTPSPort: 8443})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out2), "return 301 https://$host:8443$request_uri;") || !strings.Contains(string(out2), "listen 8443 ssl http2;") {
		t.Errorf("HTTPSPort must be used for listen and the redirect:\n%s", out2)
	}
}

func TestDurationsNginxCannotRead(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(c *stack.Config)
		value string
	}{
		{"upstream.fail_timeout", func(c *stack.Config) { c.Upstream.FailTimeout = "1500ms" }, "1500ms"},
		{"proxy.static[0].expires", func(c *stack.Config) {
			c.Proxy.Static = []stack.Static{{URL: "/s/", Dir: "s", Expires: "250ms"}}
		}, "250ms"},
		{"proxy.read_timeout", func(c *stack.Config) { c.Proxy.ReadTimeout = "100y" }, "100y"},
		{"proxy.static[0].expires", func(c *stack.Config) {
			c.Proxy.Static = []stack.Static{{URL: "/s/", Dir: "s", Expires: "69y"}}
		}, "69y"},
	} {
		_, err := Render(cfg("d", tc.edit), Options{NginxVersion: "1.22.1"})
		if err == nil || !strings.Contains(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), strconv.Quote(tc.value)) {
			t.Errorf("%s=%s: want an error naming field and value, got %v", tc.field, tc.value, err)
		}
	}
	// Whole seconds written with ms are rewritten in a unit nginx reads.
	out := string(render(t, cfg("d", func(c *stack.Config) { c.Upstream.FailTimeout = "2000ms" })))
	if !strings.Contains(out, "fail_timeout=2s;") {
		t.Errorf("want fail_timeout=2s in:\n%s", out)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestListenForms(t *testing.T) {
	for listen, want := range map[string][]string{
		"8080":           {"listen 8080;", "listen [::]:8080;"},
		"0.0.0.0:80":     {"listen 0.0.0.0:80;"},
		"127.0.0.1:8080": {"listen 127.0.0.1:8080;"},
		"[::1]:8080":     {"listen [::1]:8080;"},
		"localhost:81":   {"listen localhost:81;"},
		"*:82":           {"listen 82;", "listen [::]:82;"},
	} {
		out := string(render(t, cfg("l", func(c *stack.Config) { c.Nginx.Listen = listen })))
		var got []string
		for _, line := range strings.Split(out, "\n") {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, "listen ") {
				got = append(got, l)
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("nginx.listen %q: got %q, want %q", listen, got, want)
		}
	}
}

// deploy's HTTP-first stage: TLS is wanted but no certificate exists yet, so
// the plain site must answer certbot's challenge, and nginx must accept it.
func TestACMEChallengeOnPlainHTTP(t *testing.T) {
	dir := nginxtest.TempDir(t)
	c := cfg("acme", func(c *stack.Config) {
		c.Nginx.TLS.ACMEWebroot = dir + "/acme"
		c.Nginx.AccessLog = dir + "/access.log"
		c.Nginx.ErrorLog = dir + "/error.log"
	})
	plain := string(render(t, c))
	if strings.Contains(plain, "acme-challenge") {
		t.Errorf("without ACMEChallenge the plain site must not serve the challenge:\n%s", plain)
	}
	out, err := Render(c, Options{NginxVersion: "1.22.1", ACMEChallenge: true})
	if err != nil {
		t.Fatal(err)
	}
	want := "    location ^~ /.well-known/acme-challenge/ {\n        root " + dir + "/acme;\n        default_type text/plain;\n    }\n"
	if !strings.Contains(string(out), want) {
		t.Errorf("want the challenge location\n%s\nin:\n%s", want, out)
	}
	bin := nginxtest.Require(t)
	if err := nginxtest.Test(t, bin, nginxtest.Minimal, out); err != nil {
		t.Errorf("nginx -t: %v", err)
	}
}

// Behind a load balancer the site trusts X-Forwarded-For/-Proto from the
// balancer's addresses only, and nginx accepts it; an upstream include
// replaces the server list.
func TestTrustedProxiesAndUpstreamInclude(t *testing.T) {
	dir := nginxtest.TempDir(t)
	c := cfg("behind", func(c *stack.Config) {
		c.Nginx.AccessLog = dir + "/access.log"
		c.Nginx.ErrorLog = dir + "/error.log"
	})
	inc := dir + "/upstream.conf"
	servers, err := UpstreamServers(c, []string{"127.0.0.1:15000"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inc, servers, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := Render(c, Options{NginxVersion: "1.22.1", TrustedProxies: []string{"10.0.0.5", "2001:db8::5"}, UpstreamInclude: inc})
	if err != nil {
		t.Fatal(err)
	}
	site := string(out)
	for _, want := range []string{
		"set_real_ip_from 10.0.0.5;", "set_real_ip_from 2001:db8::5;", "real_ip_header X-Forwarded-For;",
		"\"10.0.0.5\" $http_x_forwarded_for;", "default $proxy_add_x_forwarded_for;", "default $scheme;",
		"proxy_set_header X-Forwarded-For $stackctl_behind_x_forwarded_for;",
		"proxy_set_header X-Forwarded-Proto $stackctl_behind_x_forwarded_proto;",
		"    include " + inc + ";",
	} {
		if !strings.Contains(site, want) {
			t.Errorf("site lacks %q:\n%s", want, site)
		}
	}
	if strings.Contains(site, "    server 127.0.0.1") {
		t.Errorf("with an include the upstream lists no server itself:\n%s", site)
	}
	bin := nginxtest.Require(t)
	if err := nginxtest.Test(t, bin, nginxtest.Minimal, out); err != nil {
		t.Errorf("nginx -t: %v", err)
	}
	for _, bad := range []string{"10.0.0.5; include /etc/passwd", "lb1", ""} {
		if _, err := Render(c, Options{NginxVersion: "1.22.1", TrustedProxies: []string{bad}}); err == nil {
			t.Errorf("TrustedProxies %q accepted", bad)
		}
	}
	if _, err := Render(c, Options{NginxVersion: "1.22.1", UpstreamInclude: "/x; include /etc/passwd"}); err == nil {
		t.Errorf("a hostile UpstreamInclude was accepted")
	}
}

// HSTS asks browsers for HTTPS for a year; preload (a request to be put on
// the browsers' built-in list, hard to undo) only when asked for.
func TestHSTSPreloadOnlyWhenAsked(t *testing.T) {
	for _, preload := range []bool{false, true} {
		c := cfg("hsts", func(c *stack.Config) {
			c.Nginx.TLS.Enabled = true
			c.Nginx.TLS.HSTSPreload = preload
		})
		site := string(render(t, c))
		want := `add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;`
		if preload {
			want = `add_header Strict-Transport-Security "max-age=31536000; includeSubDomains; preload" always;`
		}
		if !strings.Contains(site, want) {
			t.Errorf("hsts_preload=%v: want %s in\n%s", preload, want, site)
		}
	}
	c := cfg("hsts", func(c *stack.Config) { c.Nginx.TLS.HSTS = false; c.Nginx.TLS.HSTSPreload = true })
	if _, err := Render(c, Options{NginxVersion: "1.22.1"}); err == nil || !strings.Contains(err.Error(), "nginx.tls.hsts_preload") {
		t.Errorf("preload without hsts: %v", err)
	}
}

// With ReleaseInclude (deploy's slot switch), the static locations alias
// the release variable the included map sets, so they switch with the
// upstream in one reload; nginx accepts the site and the map, and a
// hostile path is refused.
func TestReleaseInclude(t *testing.T) {
	c := cfg("rel", func(c *stack.Config) {
		c.Proxy.Static = []stack.Static{{URL: "/static/", Dir: "static", Expires: "30d"}}
	})
	dir := t.TempDir()
	inc, up := dir+"/release.conf", dir+"/upstream.conf"
	rel, err := ReleaseMap(c, "/srv/rel/releases/20261203T101500Z")
	if err != nil {
		t.Fatal(err)
	}
	servers, _ := UpstreamServers(c, []string{"127.0.0.1:15000"})
	os.WriteFile(inc, rel, 0o644)
	os.WriteFile(up, servers, 0o644)
	out, err := Render(c, Options{NginxVersion: "1.22.1", UpstreamInclude: up, ReleaseInclude: inc})
	if err != nil {
		t.Fatal(err)
	}
	site := string(out)
	for _, want := range []string{"\ninclude " + inc + ";\n", "alias " + ReleaseVar(c) + "/static/;"} {
		if !strings.Contains(site, want) {
			t.Errorf("site lacks %q:\n%s", want, site)
		}
	}
	if !strings.Contains(string(rel), "map $host "+ReleaseVar(c)+" {\n    default \"/srv/rel/releases/20261203T101500Z\";\n}") {
		t.Errorf("release map:\n%s", rel)
	}
	bin := nginxtest.Require(t)
	if err := nginxtest.Test(t, bin, nginxtest.Minimal, out); err != nil {
		t.Errorf("nginx -t: %v", err)
	}
	if _, err := ReleaseMap(c, `/srv/x"; } include /etc/passwd; map $a $b {`); err == nil {
		t.Error("a hostile release folder was accepted")
	}
	if _, err := Render(c, Options{NginxVersion: "1.22.1", ReleaseInclude: "/x; include /etc/passwd"}); err == nil {
		t.Error("a hostile ReleaseInclude was accepted")
	}
}
