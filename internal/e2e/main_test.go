//go:build unix

package e2e

import (
	"context"
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
	"github.com/stackctl/stackctl/internal/testutil"
)

// stackctl is the binary under test, built once by TestMain.
var stackctl string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "stackctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	stackctl = filepath.Join(dir, "stackctl")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The module root is two levels up from internal/e2e.
	build := exec.CommandContext(ctx, "go", "build", "-o", stackctl, ".")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building stackctl: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// newProject runs `stackctl new NAME --yes` with args in a fresh folder
// nginx's workers can read, and returns the project's folder.
func newProject(t *testing.T, name string, args ...string) string {
	t.Helper()
	parent := nginxtest.TempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stackctl, append([]string{"new", name, "--yes", "--no-color", "--dir", parent}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stackctl new %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	dir := filepath.Join(parent, name)
	if _, err := os.Stat(filepath.Join(dir, "stack.toml")); err != nil {
		t.Fatalf("stackctl new wrote no stack.toml: %v\n%s", err, out)
	}
	return dir
}

// proc is a process a test started, in its own process group.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *testutil.SyncBuffer
	exited chan struct{}
	err    error
}

// start runs argv in dir with env added to a clean copy of the test's
// environment, in its own process group. When the test ends the process
// gets SIGTERM, and its group SIGKILL after 10s or once it has exited.
func start(t *testing.T, name, dir string, env []string, argv ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop ends the process and its group. SIGTERM goes to the process
// alone, as a service manager sends it: gunicorn's master then stops its
// workers, serve its app. Whatever is left of the group gets SIGKILL.
func (p *proc) stop(t *testing.T) {
	pgid := p.cmd.Process.Pid
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Logf("%s still running 10s after SIGTERM; killing its process group:\n%s", p.name, p.out.String())
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s still running 10s after SIGKILL", p.name)
		}
	}
	// Children left behind in the group (workers) go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// cleanEnv is the test's environment without what would change how the
// apps run: Flask's and Python's settings, HOST and PORT.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FLASK_") || strings.HasPrefix(k, "PYTHON") || k == "HOST" || k == "PORT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PYTHONDONTWRITEBYTECODE=1")
}

// client is the HTTP client of every request: a timeout on each.
var client = &http.Client{Timeout: 15 * time.Second}

// waitReady polls url until it answers 200, failing the test with p's
// output when p exits first or within is over.
func waitReady(t *testing.T, p *proc, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited (%v) before %s answered:\n%s", p.name, p.err, url, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s: GET %s: %v\n%s", p.name, within, url, err, p.out.String())
		}
	}
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   string
}

// get sends GET url with the Host and other headers given.
func get(t *testing.T, url, host string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// want fails the test unless r is a 200 of the content type with every
// string in its body.
func (r response) want(t *testing.T, what, contentType string, body ...string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Errorf("%s: status %d, want 200\n%s", what, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, contentType) {
		t.Errorf("%s: Content-Type %q, want %s", what, ct, contentType)
	}
	for _, b := range body {
		if !strings.Contains(r.body, b) {
			t.Errorf("%s: body lacks %q:\n%s", what, b, r.body)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
