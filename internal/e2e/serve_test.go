//go:build unix

package e2e

import (
	"github.com/stackctl/stackctl/internal/testutil"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/flasktest"
	"github.com/stackctl/stackctl/internal/nginxtest"
)

// TestFlaskUnderServe is the development loop: `stackctl new --template
// flask`, then `stackctl serve`, which runs the app with python3 (Flask's
// development server) behind the embedded proxy. GET / through the proxy
// says "Hello, World!", the static folder is served by the proxy itself,
// and an edit of app.py is live after serve's reload.
func TestFlaskUnderServe(t *testing.T) {
	flasktest.RequirePython(t)
	appPort := testutil.PortRange(t, 2) // serve's next version takes the port after
	listen := "127.0.0.1:" + itoa(nginxtest.FreePort(t))
	dir := newProject(t, "hello", "--template", "flask", "--port", itoa(appPort))

	serve := start(t, "stackctl serve", dir, nil, stackctl, "serve", "--listen", listen)
	base := "http://" + listen
	// Through the proxy: 502 until the app is up.
	waitReady(t, serve, base+"/healthz", 90*time.Second)

	get(t, base+"/", "", nil).want(t, "GET / through serve", "text/html",
		"<h1>Hello, World!</h1>", `id="client">127.0.0.1</span>`, "reported it (X-Forwarded-For)")
	// Host reaches the app as nginx's $host (lower case, no port), and a
	// client's X-Forwarded-Host changes nothing.
	get(t, base+"/", "Serve.Example.COM:8080", map[string]string{"X-Forwarded-Host": "evil.example"}).want(t,
		"GET / with a Host and a spoofed X-Forwarded-Host through serve", "text/html", `id="url">http://serve.example.com/</span>`)
	r := get(t, base+"/", "", map[string]string{"Accept": "text/plain"})
	r.want(t, "GET / (Accept: text/plain) through serve", "text/plain")
	if r.body != "Hello, World!" {
		t.Errorf("the article's plain route through serve = %q, want \"Hello, World!\"", r.body)
	}
	r = get(t, base+"/static/style.css", "", nil)
	r.want(t, "GET /static/style.css through serve", "text/css", "font-family")
	if cc := r.header.Get("Cache-Control"); cc != "max-age=2592000" {
		t.Errorf("static Cache-Control through serve = %q, want max-age=2592000 (expires 30d), as nginx sends", cc)
	}

	// Edit app.py as an editor would; serve restarts the app.
	src := filepath.Join(dir, "app.py")
	code, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	const before, after = `Response("Hello, World!", mimetype="text/plain")`, `Response("Hello again, after a reload!", mimetype="text/plain")`
	if !strings.Contains(string(code), before) {
		t.Fatalf("app.py lacks %s", before)
	}
	if err := os.WriteFile(src, []byte(strings.Replace(string(code), before, after, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for {
		last = tryGet(base+"/", "text/plain")
		if last == "Hello again, after a reload!" {
			break
		}
		select {
		case <-serve.exited:
			t.Fatalf("stackctl serve exited (%v) during the reload:\n%s", serve.err, serve.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edit of app.py is not live after 90s (last answer %q):\n%s", last, serve.out.String())
		}
	}

	// SIGTERM stops serve and the app it runs.
	if err := syscall.Kill(serve.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-serve.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("stackctl serve still running 20s after SIGTERM:\n%s", serve.out.String())
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+itoa(appPort), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the app still answers on port %d 10s after serve stopped:\n%s", appPort, serve.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tryGet returns the body of GET url with the Accept header given, or the
// error as text: during a reload the proxy answers 502 or the connection
// fails, and the caller tries again.
func tryGet(url, accept string) string {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
