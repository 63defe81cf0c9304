package parity

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/proxy"
	"github.com/stackctl/stackctl/internal/stack"
)

// timeout bounds every dial and read of a case; a case that waits this long
// has failed (a front that never answers), so it is generous for slow machines.
const timeout = 10 * time.Second

// fixtureTime is the modification time of every static fixture, so
// Last-Modified and ETag are the same on every run.
var fixtureTime = time.Date(2024, 3, 5, 6, 7, 8, 0, time.UTC)

// front is one of the two servers under comparison.
type front struct {
	name string // "nginx" or "proxy"
	addr string // "127.0.0.1:port"
	port string
	// On a TLS site: tls is the client's configuration for addr (which
	// speaks HTTPS), and plainAddr where plain HTTP is answered (nginx's
	// port-80 server block on a port of its own; the proxy's same port).
	tls       *tls.Config
	plainAddr string
}

// site is one stack.Config served by both fronts in front of the same echo
// upstreams.
type site struct {
	cfg    *stack.Config
	dir    string  // the project folder
	echos  []*Echo // the live upstreams, in upstream.servers order
	nginx  front
	proxy  front
	fronts []front // nginx, proxy
}

// siteSpec describes a site: how many upstreams and which are down, and
// changes to the default Config.
type siteSpec struct {
	// upstreams lists the upstream servers: "echo" for a live Echo, "down"
	// for a loopback port nobody listens on. Empty means one "echo".
	upstreams []string
	// mutate changes the Config after the harness filled it in.
	mutate func(c *stack.Config)
	// proxy, when set, starts this instead of the embedded proxy on ln
	// (the harness's own test puts a deliberately wrong proxy there).
	proxy func(t *testing.T, c *stack.Config, ln net.Listener)
	// shortClientTimeouts sets nginx's client_header_timeout,
	// client_body_timeout and send_timeout to clientTimeout, and the
	// proxy's ClientTimeouts to the same, so a "later than send_timeout"
	// case takes a second, not a minute.
	shortClientTimeouts bool
	// tls serves the site with nginx.tls.enabled (a self-signed
	// certificate for example.com): nginx on an HTTPS port plus its plain
	// HTTP port, the proxy with ServeTLS on one port.
	tls bool
}

// clientTimeout is the client-side timeout of sites with
// shortClientTimeouts.
const clientTimeout = time.Second

// staticFiles are the fixtures under static/ (and a stack.toml beside it,
// which traversal cases try to reach).
var staticFiles = map[string]string{
	"style.css":            "body { color: #333; }\n" + strings.Repeat("p { margin: 0; }\n", 40),
	"app.js":               "console.log('parity');\n",
	"page.html":            "<!doctype html><title>parity</title><p>static page</p>\n",
	"data.json":            `{"static": true}` + "\n",
	"notes.txt":            "0123456789abcdefghijklmnopqrstuvwxyz\n",
	"image.png":            "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89",
	"icon.svg":             `<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>` + "\n",
	"font.woff2":           "wOF2\x00\x01\x00\x00",
	"archive.xyz":          "unknown type\n",
	"empty.txt":            "",
	"with space.txt":       "a file name with a space\n",
	"sub/inner.txt":        "inside a folder\n",
	".secret":              "hidden file\n",
	"withindex/index.html": "<p>index of withindex</p>\n",
}

// startSite starts the upstreams, writes the project (stack.toml, static
// fixtures) and starts nginx with nginx.Render's output and the embedded
// proxy, both from the same Config.
func startSite(t *testing.T, spec siteSpec) *site {
	t.Helper()
	// nginx's workers run as another user: the project must be readable
	// by them.
	dir := nginxtest.TempDir(t)
	for name, content := range staticFiles {
		p := filepath.Join(dir, "static", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, fixtureTime, fixtureTime); err != nil {
			t.Fatal(err)
		}
	}

	// Symbolic links: one to a file inside the folder, one leaving it.
	for link, target := range map[string]string{"link-in.txt": "notes.txt", "link-out.toml": "../" + stack.FileName} {
		if err := os.Symlink(target, filepath.Join(dir, "static", link)); err != nil {
			t.Fatal(err)
		}
	}

	s := &site{dir: dir}
	upstreams := spec.upstreams
	if len(upstreams) == 0 {
		upstreams = []string{"echo"}
	}
	var servers []string
	for i, u := range upstreams {
		switch u {
		case "echo":
			e, err := StartEcho(string(rune('A' + i)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close() })
			s.echos = append(s.echos, e)
			servers = append(servers, e.Addr())
		case "down":
			servers = append(servers, "127.0.0.1:"+strconv.Itoa(freePort(t)))
		default:
			t.Fatalf("upstream kind %q", u)
		}
	}

	c := stack.Default("parity", "go")
	c.Path = filepath.Join(dir, stack.FileName)
	c.Upstream.Servers = servers
	c.Proxy.Static = []stack.Static{
		{URL: "/static/", Dir: "static", Expires: "30d"},
		{URL: "/assets/", Dir: "static/sub"},
	}
	c.Nginx.AppDir = dir
	c.Nginx.Listen = "127.0.0.1:" + strconv.Itoa(freePort(t))
	// The proxy's listener is opened here, so its port cannot be taken
	// between choosing it and serving on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c.Serve.Listen = ln.Addr().String()
	c.Nginx.AccessLog = filepath.Join(dir, "nginx.access.log")
	c.Nginx.ErrorLog = filepath.Join(dir, "nginx.error.log")
	var cert nginxtest.Cert
	httpsPort := 0
	if spec.tls {
		cert = nginxtest.SelfSignedCert(t, dir, "example.com", "www.example.com", "localhost")
		c.Nginx.TLS.Enabled = true
		c.Nginx.TLS.Cert, c.Nginx.TLS.Key = cert.CertFile, cert.KeyFile
		c.Nginx.TLS.ACMEWebroot = filepath.Join(dir, "acme")
		httpsPort = freePort(t)
	}
	if spec.mutate != nil {
		spec.mutate(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the site's Config: %v", err)
	}
	if err := c.Save(c.Path); err != nil {
		t.Fatal(err)
	}
	s.cfg = c

	var ct proxy.ClientTimeouts
	if spec.shortClientTimeouts {
		ct = proxy.ClientTimeouts{Header: clientTimeout, Body: clientTimeout, Send: clientTimeout}
	}
	startNginx(t, c, ct, httpsPort)
	switch {
	case spec.proxy != nil:
		spec.proxy(t, c, ln)
	case spec.tls:
		pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		startProxyTLS(t, c, ln, ct, &tls.Config{Certificates: []tls.Certificate{pair}})
	default:
		startProxy(t, c, ln, ct)
	}
	s.nginx = newFront("nginx", c.Nginx.Listen)
	s.proxy = newFront("proxy", c.Serve.Listen)
	if spec.tls {
		client := &tls.Config{RootCAs: cert.Pool, ServerName: "example.com"}
		s.nginx = newFront("nginx", "127.0.0.1:"+strconv.Itoa(httpsPort))
		s.nginx.tls, s.nginx.plainAddr = client, c.Nginx.Listen
		s.proxy.tls, s.proxy.plainAddr = client, c.Serve.Listen
	}
	s.fronts = []front{s.nginx, s.proxy}
	if t.Failed() {
		t.FailNow()
	}
	return s
}

// errorLogAbout returns the lines of the site's nginx error log about
// requests for target (every line when target is ""), to explain a failure
// (an upstream marked failed, a timeout).
func (s *site) errorLogAbout(target string) string {
	b, err := os.ReadFile(s.cfg.Nginx.ErrorLog)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if target == "" || strings.Contains(l, " "+target+" HTTP/") {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return "(nothing)"
	}
	return strings.Join(out, "\n")
}

func newFront(name, addr string) front {
	_, port, _ := net.SplitHostPort(addr)
	return front{name: name, addr: addr, port: port}
}

// parityCase is one named request (or exchange) sent to both fronts.
type parityCase struct {
	name string
	// status is what nginx must answer: it pins that the case tests what
	// its name says (a case where both fronts fail the same way for an
	// unrelated reason does not pass).
	status int
	// req is the raw request; use raw() to build one.
	req string
	// run, when set instead of req, performs the exchange with one front and
	// returns the text to compare and the final status.
	run func(t *testing.T, s *site, f front) (view string, status int)
	// serial cases run alone (they depend on the order of requests at the
	// upstreams).
	serial bool
	// anyRetries leaves out how many requests the upstream got: both fronts
	// retry a request once when a kept-alive upstream connection fails, so
	// the count depends on which connection each front happened to pick.
	anyRetries bool
	// differs marks an intentional difference listed in DIFFERENCES.md:
	// the proxy's view must then start with this line (its status line),
	// which pins what the proxy does instead, and the diff is only logged.
	differs string
}

// raw builds a request from its lines: the request line, header lines, then
// the body after an empty string, or none. Lines end in CRLF.
func raw(lines ...string) string {
	var head []string
	body := ""
	for i, l := range lines {
		if l == "" {
			body = strings.Join(lines[i+1:], "\r\n")
			break
		}
		head = append(head, l)
	}
	return strings.Join(head, "\r\n") + "\r\n\r\n" + body
}

// get is a GET of target with Host: example.com and the extra header lines.
func get(target string, headers ...string) string {
	return raw(append([]string{"GET " + target + " HTTP/1.1", "Host: example.com"}, headers...)...)
}

// targetOf is the request-target of a raw request ("" for none).
func targetOf(req string) string {
	line, _, _ := strings.Cut(req, "\r\n")
	parts := strings.Split(line, " ")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// methodOf is the first word of a raw request.
func methodOf(req string) string {
	m, _, _ := strings.Cut(req, " ")
	return m
}

// exchange sends req to f and returns its normalised view and status.
func exchange(t *testing.T, f front, req string) (string, int) {
	t.Helper()
	r, err := DoTLS(f.addr, f.tls, []byte(req), methodOf(req), timeout)
	if err != nil {
		return fmt.Sprintf("no response: %v\n", err), -1
	}
	return View(r, ViewOptions{Method: methodOf(req), FrontPort: f.port}), r.Status
}

// runCases runs every case as a subtest against both fronts of s and
// compares their views.
func runCases(t *testing.T, s *site, cases []parityCase) {
	t.Helper()
	seen := map[string]bool{}
	targets := map[string]int{}
	for _, c := range cases {
		targets[targetOf(c.req)]++
	}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("case %q is listed twice", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			if !c.serial {
				t.Parallel()
			}
			views, status := compare(t, s, c, targets[targetOf(c.req)] == 1)
			if status != c.status {
				t.Errorf("nginx answered %d, the case expects %d:\n%s", status, c.status, views[0])
			}
			// Whole views as context: a failure shows both sides.
			d := DiffContext(s.fronts[0].name, views[0], s.fronts[1].name, views[1], 1000)
			switch {
			case c.differs != "":
				first, _, _ := strings.Cut(views[1], "\n")
				if d == "" {
					t.Errorf("listed as an intentional difference, but both fronts now agree: remove it from DIFFERENCES.md and the case")
				} else if first != c.differs {
					t.Errorf("an intentional difference (DIFFERENCES.md): the proxy should answer %q, it answered:\n%s", c.differs, views[1])
				} else {
					t.Logf("intentional difference (DIFFERENCES.md):\n%s", d)
				}
			case d != "":
				t.Errorf("the fronts differ:\n%s\nnginx's error log about %s:\n%s", d, targetOf(c.req), s.errorLogAbout(targetOf(c.req)))
			case testing.Verbose():
				t.Logf("both fronts:\n%s", views[0])
			}
		})
	}
}

// compare runs case c against each front of s, one after the other, and
// returns their views and nginx's status. uniqueTarget says that no other
// case of the site asks for c's target, so the Echo's log can tell how many
// requests each front forwarded.
func compare(t *testing.T, s *site, c parityCase, uniqueTarget bool) (views []string, nginxStatus int) {
	t.Helper()
	views = make([]string, len(s.fronts))
	statuses := make([]int, len(s.fronts))
	target := targetOf(c.req)
	count := func() int { return -1 }
	if c.req != "" && !c.anyRetries && uniqueTarget && len(s.echos) == 1 {
		count = func() int { return s.echos[0].Count(target) }
	}
	for i, f := range s.fronts {
		before := count()
		if c.run != nil {
			views[i], statuses[i] = c.run(t, s, f)
		} else {
			views[i], statuses[i] = exchange(t, f, c.req)
		}
		if before >= 0 {
			views[i] += fmt.Sprintf("requests the upstream got for this target: %d\n", count()-before)
		}
	}
	return views, statuses[0]
}
