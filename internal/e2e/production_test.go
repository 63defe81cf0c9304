//go:build unix

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/flasktest"
	"github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
)

// front starts the real nginx with the site nginx.Render writes for the
// project in dir: nginx on a free loopback port, nginx.app_dir the project
// itself so the static aliases point at its static/ folder, logs in a test
// folder, the site loaded from the distribution's own nginx.conf. It
// returns the site's base URL and the Config the site was rendered from.
func front(t *testing.T, bin, dir string) (string, *stack.Config) {
	t.Helper()
	c, err := stack.Load(filepath.Join(dir, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	logs := nginxtest.TempDir(t)
	c.Nginx.Listen = "127.0.0.1:" + itoa(nginxtest.FreePort(t))
	c.Nginx.AppDir = dir
	c.Nginx.AccessLog = filepath.Join(logs, "access.log")
	c.Nginx.ErrorLog = filepath.Join(logs, "error.log")
	site, err := nginx.Render(c, nginx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := nginxtest.Start(t, bin, nginxtest.Stock, site)
	srv.WaitListening(t, c.Nginx.Listen)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx logs:\n%s", srv.Logs())
		}
	})
	return "http://" + c.Nginx.Listen, c
}

// checkStatic fetches the template's stylesheet through nginx and checks
// nginx served it from the project's static/ folder: the file's bytes,
// its type, and the caching headers of proxy.static's expires (30d), which
// neither app sends.
func checkStatic(t *testing.T, base, host, dir string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(dir, "static", "style.css"))
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, base+"/static/style.css", host, nil)
	r.want(t, "GET /static/style.css through nginx", "text/css")
	if r.body != string(want) {
		t.Errorf("GET /static/style.css through nginx: body differs from static/style.css:\n%s", r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "max-age=2592000" {
		t.Errorf("static Cache-Control = %q, want max-age=2592000 (expires 30d)", cc)
	}
	if exp, err := time.Parse(time.RFC1123, r.header.Get("Expires")); err != nil || time.Until(exp) < 29*24*time.Hour {
		t.Errorf("static Expires = %q (%v), want 30 days ahead", r.header.Get("Expires"), err)
	}
	if r.header.Get("ETag") == "" || r.header.Get("Last-Modified") == "" {
		t.Errorf("static ETag %q, Last-Modified %q: want both", r.header.Get("ETag"), r.header.Get("Last-Modified"))
	}
	if r := get(t, base+"/static/missing.css", host, nil); r.status != 404 {
		t.Errorf("GET /static/missing.css through nginx = %d, want 404", r.status)
	}
}

// TestFlaskBehindNginx is the article's production stack: `stackctl new
// --template flask`, the app under Debian's gunicorn on loopback, and the
// real nginx with the generated site in front of it.
func TestFlaskBehindNginx(t *testing.T) {
	ngx := nginxtest.Require(t)
	gunicorn := flasktest.RequireGunicorn(t)
	port := nginxtest.FreePort(t)
	const host = "flask.example.com"
	dir := newProject(t, "hello", "--template", "flask", "--port", itoa(port), "--domain", host)

	app := start(t, "gunicorn", dir, nil, gunicorn, "-w", "2", "-b", "127.0.0.1:"+itoa(port), "wsgi:app")
	waitReady(t, app, "http://127.0.0.1:"+itoa(port)+"/healthz", 60*time.Second)
	base, _ := front(t, ngx, dir)

	get(t, base+"/", host, nil).want(t, "GET / through nginx", "text/html",
		"<h1>Hello, World!</h1>",
		// ProxyFix took the client from X-Forwarded-For: nginx's own
		// entry, the test's loopback address.
		`id="client">127.0.0.1</span>`, "reported it (X-Forwarded-For)",
		`id="url">http://`+host+`/</span>`)

	r := get(t, base+"/", host, map[string]string{"Accept": "text/plain"})
	r.want(t, "GET / (Accept: text/plain) through nginx", "text/plain")
	if r.body != "Hello, World!" {
		t.Errorf("the article's plain route through nginx = %q, want \"Hello, World!\"", r.body)
	}

	// What a client sends to fool the app: an address ahead of nginx's in
	// X-Forwarded-For, another scheme, another host. ProxyFix trusts one
	// hop of each it reads, and never X-Forwarded-Host, which nginx passes
	// on unchanged.
	spoof := map[string]string{
		"X-Forwarded-For":   "10.6.6.6",
		"X-Real-IP":         "10.6.6.7",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "evil.example",
	}
	r = get(t, base+"/", host, spoof)
	r.want(t, "GET / with spoofed X-Forwarded-* through nginx", "text/html",
		`id="client">127.0.0.1</span>`, `id="url">http://`+host+`/</span>`)
	for _, bad := range []string{"10.6.6.6", "10.6.6.7", "evil.example", "https://"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("a client's spoofed header reached the page (%q):\n%s", bad, r.body)
		}
	}

	get(t, base+"/healthz", host, nil).want(t, "GET /healthz through nginx", "text/plain", "ok")
	checkStatic(t, base, host, dir)
}

// TestGoBehindNginx is the same stack with the default Go app: `stackctl
// new`, `go build`, the binary on loopback with PORT, nginx in front.
func TestGoBehindNginx(t *testing.T) {
	ngx := nginxtest.Require(t)
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH")
	}
	port := nginxtest.FreePort(t)
	const host = "go.example.com"
	dir := newProject(t, "hello", "--port", itoa(port), "--domain", host)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	binary := filepath.Join(t.TempDir(), "hello")
	build := exec.CommandContext(ctx, gobin, "build", "-o", binary, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in the new project: %v\n%s", err, out)
	}

	app := start(t, "the Go app", dir, []string{"PORT=" + itoa(port)}, binary)
	waitReady(t, app, "http://127.0.0.1:"+itoa(port)+"/healthz", 60*time.Second)
	base, _ := front(t, ngx, dir)

	get(t, base+"/", host, nil).want(t, "GET / through nginx", "text/html",
		"<h1>Hello, World!</h1>",
		// The app believes X-Real-IP from its loopback peer, nginx.
		`id="client">127.0.0.1</span>`, "reported it (X-Real-IP)")

	// nginx replaces a client's X-Real-IP with the address it sees.
	r := get(t, base+"/", host, map[string]string{"X-Real-IP": "10.6.6.7", "X-Forwarded-For": "10.6.6.6"})
	r.want(t, "GET / with a spoofed X-Real-IP through nginx", "text/html", `id="client">127.0.0.1</span>`)
	if strings.Contains(r.body, "10.6.6.") {
		t.Errorf("a client's spoofed address reached the page:\n%s", r.body)
	}

	get(t, base+"/healthz", host, nil).want(t, "GET /healthz through nginx", "text/plain", "ok")
	checkStatic(t, base, host, dir)
	if out := app.out.String(); !strings.Contains(out, `127.0.0.1 GET "/" 200`) {
		t.Errorf("the app did not log the proxied request with the client's address:\n%s", out)
	}
}
