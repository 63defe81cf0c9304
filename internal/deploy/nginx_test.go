package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/nginxtest"
)

// testNginx is an nginx running a Debian-like tree under a root, the way
// `deploy --root` drives it: <root>/etc/nginx/nginx.conf, started with
// -p <root>/ -c <that file>.
type testNginx struct {
	root  string
	conf  string
	ready int // port of a server answering 204, to know nginx is up
	cmd   *exec.Cmd
}

// newDebianRoot writes an nginx configuration under root laid out like
// Debian's: sites-available/, sites-enabled/ included from http {}, and
// every file nginx writes kept under root.
func newDebianRoot(t *testing.T) *testNginx {
	t.Helper()
	return newRoot(t, "sites-enabled/*")
}

// newConfDRoot is like newDebianRoot for distributions without
// sites-available/: sites are conf.d/*.conf.
func newConfDRoot(t *testing.T) *testNginx {
	t.Helper()
	return newRoot(t, "conf.d/*.conf")
}

func newRoot(t *testing.T, include string) *testNginx {
	t.Helper()
	root := nginxtest.TempDir(t)
	n := &testNginx{root: root, conf: filepath.Join(root, "etc/nginx/nginx.conf"), ready: nginxtest.FreePort(t)}
	dirs := []string{"run", "var/log/nginx", "var/lib/nginx", "etc/nginx/conf.d"}
	if include == "sites-enabled/*" {
		dirs = append(dirs, "etc/nginx/sites-available", "etc/nginx/sites-enabled")
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mime := "types { text/html html; text/css css; }\n"
	if data, err := os.ReadFile("/etc/nginx/mime.types"); err == nil {
		mime = string(data)
	}
	mustWrite(t, filepath.Join(root, "etc/nginx/mime.types"), mime, 0o644)
	var temps strings.Builder
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s/var/lib/nginx/%s;\n", d, root, d)
	}
	conf := fmt.Sprintf(`pid %[1]s/run/nginx.pid;
error_log %[1]s/var/log/nginx/error.log;
events { worker_connections 128; }
http {
    include %[1]s/etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
%[2]s
    server {
        listen 127.0.0.1:%[3]d;
        return 204;
    }
    include %[1]s/etc/nginx/%[4]s;
}
`, root, temps.String(), n.ready, include)
	mustWrite(t, n.conf, conf, 0o644)
	return n
}

// start runs nginx in the foreground and waits until it answers.
func (n *testNginx) start(t *testing.T) {
	t.Helper()
	bin := nginxtest.Require(t)
	n.cmd = exec.Command(bin, "-p", n.root+"/", "-c", n.conf, "-g", "daemon off;")
	n.cmd.Stdout, n.cmd.Stderr = os.Stderr, os.Stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { n.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-done
		}
	})
	waitFor(t, 30*time.Second, func() error {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(n.ready) + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// waitFor retries f until it returns nil or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get sends GET url with a Host header and returns status and body.
func get(t *testing.T, url, host string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

// unitCommand reads a unit file the way systemd would for the simple
// values deploy writes: ExecStart's words, Environment's assignments and
// WorkingDirectory.
type unitCommand struct {
	argv    []string
	env     []string
	envFile string
	dir     string
}

func parseUnit(t *testing.T, text string) unitCommand {
	t.Helper()
	var u unitCommand
	unescape := strings.NewReplacer(`\"`, `"`, `\\`, `\`, "%%", "%", "$$", "$")
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "ExecStart":
			for _, w := range strings.Fields(v) {
				// A word quoted whole ("shop:create_app()") is that word.
				if q := strings.Trim(w, `"`); len(w) > 2 && w == `"`+q+`"` && !strings.ContainsAny(q, `"\`) {
					w = q
				}
				if strings.ContainsAny(w, `"\`) {
					t.Fatalf("parseUnit handles plain words only, got %q", w)
				}
				u.argv = append(u.argv, unescape.Replace(w))
			}
		case "Environment":
			u.env = append(u.env, unescape.Replace(strings.TrimSuffix(strings.TrimPrefix(v, `"`), `"`)))
		case "EnvironmentFile":
			u.envFile = v
		case "WorkingDirectory":
			u.dir = v
		}
	}
	if len(u.argv) == 0 || u.dir == "" {
		t.Fatalf("unit without ExecStart or WorkingDirectory:\n%s", text)
	}
	return u
}

// startUnit starts what the unit under root runs, as systemd would: the
// ExecStart command (inside the root), in WorkingDirectory, with exactly the
// unit's environment. It returns a function that stops it.
func startUnit(t *testing.T, root, unitPath string) func() {
	t.Helper()
	text, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, string(text))
	if u.envFile != "" {
		data, err := os.ReadFile(filepath.Join(root, u.envFile))
		if err != nil {
			t.Fatal(err)
		}
		env, err := ParseEnvFile(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range sortedKeys(env) {
			u.env = append(u.env, k+"="+env[k])
		}
	}
	// Programs deploy installs are inside the root; others (gunicorn) are
	// the machine's own.
	bin := filepath.Join(root, u.argv[0])
	if _, err := os.Stat(bin); err != nil {
		bin = u.argv[0]
	}
	cmd := exec.Command(bin, u.argv[1:]...)
	cmd.Dir = filepath.Join(root, u.dir)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, u.env...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	// ETXTBSY: a fork in a parallel test can hold the just-written binary
	// open for writing until it execs (golang.org/issue/22315); retry.
	for i := 0; ; i++ {
		err := cmd.Start()
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ETXTBSY) || i == 100 {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		cmd = &exec.Cmd{Path: cmd.Path, Args: cmd.Args, Dir: cmd.Dir, Env: cmd.Env, Stdout: cmd.Stdout, Stderr: cmd.Stderr}
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}
