package scaffold

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/testutil"
)

// goCmd runs the go tool in dir as a user would in a fresh project: no
// workspace, no flags inherited from the test's environment.
func goCmd(t *testing.T, ctx context.Context, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	return cmd
}

// TestGeneratedProjectBuildsAndPasses makes each Go golden case, then runs
// gofmt, go vet, go build and the project's own go test inside it.
func TestGeneratedProjectBuildsAndPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	for _, tc := range goldenCases {
		if tc.opts.Template != "go" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.opts
			o.Dir = t.TempDir()
			res, err := Create(o)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if out, err := exec.CommandContext(ctx, "gofmt", "-l", res.Dir).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("gofmt -l: %v\n%s", err, out)
			}
			for _, args := range [][]string{{"vet", "./..."}, {"build", "-o", os.DevNull, "."}, {"test", "-count=1", "./..."}} {
				out, err := goCmd(t, ctx, res.Dir, args...).CombinedOutput()
				if err != nil {
					t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
		})
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestGeneratedAppServes builds the default project's binary, starts it
// with PORT set to a free port, and checks /, /healthz and
// /static/style.css on 127.0.0.1, then that SIGTERM stops it cleanly.
func TestGeneratedAppServes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	o := Defaults("myapp")
	o.Dir = t.TempDir()
	res, err := Create(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "myapp")
	if out, err := goCmd(t, ctx, res.Dir, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	port := freePort(t)
	app := exec.Command(bin)
	// Run from elsewhere: the binary must not need its source folder.
	app.Dir = t.TempDir()
	app.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "HOST=")
	logs := &testutil.SyncBuffer{}
	app.Stdout, app.Stderr = logs, logs
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = app.Wait(); close(exited) }()
	t.Cleanup(func() {
		app.Process.Kill()
		<-exited
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 5 * time.Second}

	// Ready when /healthz answers; the process exiting first is a failure.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("app exited before answering: %v\n%s", waitErr, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("app not answering on %s: %v\n%s", base, err, logs.String())
		}
	}

	check := func(path string, header http.Header, wantType string, wantBody ...string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
			t.Errorf("GET %s: Content-Type %q, want %s", path, ct, wantType)
		}
		for _, w := range wantBody {
			if !strings.Contains(string(body), w) {
				t.Errorf("GET %s: body lacks %q:\n%s", path, w, body)
			}
		}
	}
	check("/", nil, "text/html", "Hello, World!", `id="client">127.0.0.1</span>`, `href="/static/style.css"`)
	// The test connects from loopback, as the proxy does: X-Real-IP is shown.
	check("/", http.Header{"X-Real-Ip": {"203.0.113.50"}}, "text/html", `id="client">203.0.113.50</span>`, "X-Real-IP")
	check("/healthz", nil, "text/plain", "ok")
	check("/static/style.css", nil, "text/css", "font-family")

	if err := app.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("after SIGTERM the app exited with %v, want 0\n%s", waitErr, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("app still running 15s after SIGTERM\n%s", logs.String())
	}
	out := logs.String()
	for _, want := range []string{fmt.Sprintf("listening on http://127.0.0.1:%d", port), `GET "/static/style.css" 200`, "shutting down"} {
		if !strings.Contains(out, want) {
			t.Errorf("app log lacks %q:\n%s", want, out)
		}
	}
}
