//go:build unix

package scaffold

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/flasktest"
	"github.com/stackctl/stackctl/internal/testutil"
)

// pythonEnv is the environment the generated project's Python runs with:
// no bytecode written into the project, and none of the test's own
// Flask or Python settings.
func pythonEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "FLASK_") || strings.HasPrefix(k, "PYTHON") || k == "HOST" || k == "PORT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, append([]string{"PYTHONDONTWRITEBYTECODE=1"}, extra...)...)
}

var ranTests = regexp.MustCompile(`(?m)^Ran (\d+) tests? in `)

// TestGeneratedFlaskProjectPasses makes each Flask golden case and runs
// its own unittest suite with every python3 that has Flask: the one on
// PATH and Debian's (Flask 2.2), since the app must work on both.
func TestGeneratedFlaskProjectPasses(t *testing.T) {
	pythons := flasktest.Pythons(t)
	for _, tc := range goldenCases {
		if tc.opts.Template != "flask" {
			continue
		}
		for _, py := range pythons {
			t.Run(tc.name+"/Flask-"+py.Flask, func(t *testing.T) {
				t.Parallel()
				o := tc.opts
				o.Dir = t.TempDir()
				res, err := Create(o)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, py.Path, "-m", "unittest", "-v")
				cmd.Dir = res.Dir
				cmd.Env = pythonEnv()
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s -m unittest: %v\n%s", py, err, out)
				}
				m := ranTests.FindSubmatch(out)
				if m == nil {
					t.Fatalf("no test summary from unittest:\n%s", out)
				}
				if n, _ := strconv.Atoi(string(m[1])); n < 9 {
					t.Errorf("unittest ran %d tests, want the suite's 9 or more:\n%s", n, out)
				}
			})
		}
	}
}

// pyProcess is a Python process a test started in its own process group,
// killed with its group when the test ends.
type pyProcess struct {
	name    string
	logs    *testutil.SyncBuffer
	exited  chan struct{}
	waitErr error
}

// startPython runs argv in dir with pythonEnv(env...) and returns once it
// started; the process group is killed (and waited for, at most 10s) when
// the test ends.
func startPython(t *testing.T, dir string, env []string, argv ...string) *pyProcess {
	t.Helper()
	p := &pyProcess{name: strings.Join(argv, " "), logs: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = pythonEnv(env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s still running 10s after SIGKILL", p.name)
		}
	})
	return p
}

// waitHealthz polls /healthz on 127.0.0.1:port until it answers, failing
// the test with the process's output when it exits first or 60s pass.
func (p *pyProcess) waitHealthz(t *testing.T, port int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before answering: %v\n%s", p.name, p.waitErr, p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not answering on port %d after 60s: %v\n%s", p.name, port, err, p.logs.String())
		}
	}
}

// TestGeneratedFlaskAppRuns runs the default Flask project the article's
// way, `python3 app.py`, with PORT set, and checks it listens on
// 127.0.0.1 and answers /, /healthz and the stylesheet.
func TestGeneratedFlaskAppRuns(t *testing.T) {
	py := flasktest.RequirePython(t)
	o := flaskDefaults("myapp")
	o.Dir = t.TempDir()
	res, err := Create(o)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	app := startPython(t, res.Dir, []string{"PORT=" + strconv.Itoa(port)}, py.Path, "app.py")
	app.waitHealthz(t, port)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, c := range []struct{ path, accept, wantType, wantBody string }{
		{"/", "", "text/html", `<span class="addr" id="client">127.0.0.1</span>`},
		{"/", "text/plain", "text/plain", "Hello, World!"},
		{"/healthz", "", "text/plain", "ok\n"},
		{"/static/style.css", "", "text/css", "font-family"},
	} {
		req, _ := http.NewRequest("GET", base+c.path, nil)
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", c.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.wantType) || !strings.Contains(string(body), c.wantBody) {
			t.Errorf("GET %s (Accept %q) = %d %s %q; want 200 %s with %q", c.path, c.accept, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.wantType, c.wantBody)
		}
	}
	// Listening on 127.0.0.1 only, as the development server says.
	if !strings.Contains(app.logs.String(), fmt.Sprintf("http://127.0.0.1:%d", port)) {
		t.Errorf("the development server does not say it runs on 127.0.0.1:%d:\n%s", port, app.logs.String())
	}
}

// TestFlaskServeCommandRuns runs the Flask project's app.command, the one
// `stackctl serve` starts, with every python3 that has Flask (Debian's
// Flask 2.2 included), and checks the development server answers in debug
// mode on 127.0.0.1 without Flask's own reloader.
func TestFlaskServeCommandRuns(t *testing.T) {
	pythons := flasktest.Pythons(t)
	o := flaskDefaults("myapp")
	o.Dir = t.TempDir()
	res, err := Create(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, py := range pythons {
		t.Run("Flask-"+py.Flask, func(t *testing.T) {
			port := freePort(t)
			args := strings.Fields(res.Config.App.Command)
			if args[0] != "python3" {
				t.Fatalf("app.command %q does not start with python3", res.Config.App.Command)
			}
			args[0] = py.Path
			for i, a := range args {
				args[i] = strings.NewReplacer("$HOST", "127.0.0.1", "$PORT", strconv.Itoa(port)).Replace(a)
			}
			app := startPython(t, res.Dir, nil, args...)
			app.waitHealthz(t, port)
			out := app.logs.String()
			if !strings.Contains(out, fmt.Sprintf("Running on http://127.0.0.1:%d", port)) || strings.Contains(out, "Restarting with") {
				t.Errorf("want the server on 127.0.0.1:%d without Flask's reloader:\n%s", port, out)
			}
			if !strings.Contains(out, "Debug mode: on") {
				click, _ := exec.Command(py.Path, "-c", "import importlib.metadata as m; print(m.version('click'))").Output()
				if v := strings.TrimSpace(string(click)); v == "8.4.0" {
					// Click 8.4.0 lets `run`'s own --debug default undo the
					// group's --debug (pallets/flask#6025, fixed in 8.4.1).
					t.Logf("debug mode is off under click %s, a known click bug:\n%s", v, out)
				} else {
					t.Errorf("want debug mode on (click %s):\n%s", v, out)
				}
			}
		})
	}
}
