//go:build linux

package supervise

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
	"sync"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
	"github.com/stackctl/stackctl/internal/ui"
)

// testAppBin is the test app (testdata/app), built once for the package.
var testAppBin string

func TestMain(m *testing.M) {
	if os.Getenv(killedParentEnv) != "" {
		runKilledParent()
		return
	}
	dir, err := os.MkdirTemp("", "supervise-app-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	src := filepath.Join(dir, "src")
	if err := copyTestApp(src); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testAppBin = filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-o", testAppBin, ".")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the test app: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// copyTestApp writes the test app's source and a go.mod into dir.
func copyTestApp(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join("testdata", "app", "main.go"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module testapp\n\ngo 1.22\n"), 0o644)
}

// freePorts returns the first of n consecutive free loopback ports (and
// as many again above them, for reloads). It looks below the ephemeral
// range (32768+ on Linux), where the local ends of other connections,
// TIME_WAIT ones included, make a port taken.
func freePorts(t *testing.T, n int) int {
	return testutil.PortRange(t, 2*n+8)
}

// newConfig returns the Config of a project in a new temporary folder that
// runs the prebuilt test app.
func newConfig(t *testing.T) *stack.Config {
	t.Helper()
	dir := t.TempDir()
	c := stack.Default("testapp", "go")
	c.Path = filepath.Join(dir, stack.FileName)
	c.App.Build = ""
	c.App.Command = testAppBin
	c.App.Port = freePorts(t, 2)
	c.App.Env = map[string]string{}
	return c
}

// harness runs a Supervisor for a test.
type harness struct {
	t     *testing.T
	sup   *Supervisor
	out   *testutil.SyncBuffer
	ready chan []string
	mu    sync.Mutex
	addrs []string
	stop  func() error
}

// fastBackoff keeps crash tests quick.
var fastBackoff = Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond, QuickExit: 5 * time.Second, CrashLoop: 4, Retry: 300 * time.Millisecond}

func start(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, out: &testutil.SyncBuffer{}, ready: make(chan []string, 100)}
	mux := ui.NewLogMux(h.out, false)
	opts.Output = func(name string) io.Writer { return mux.Writer(name) }
	opts.OnReady = func(addrs []string) {
		h.mu.Lock()
		h.addrs = addrs
		h.mu.Unlock()
		h.ready <- addrs
	}
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = fastBackoff
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 3 * time.Second
	}
	sup, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.sup = sup
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sup.Run(ctx) }()
	var once sync.Once
	var runErr error
	h.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(20 * time.Second):
				t.Fatalf("Run did not return 20s after its context ended\n%s", h.out)
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("output:\n%s", h.out)
		}
	})
	return h
}

// waitReady waits for an OnReady call whose addresses satisfy ok.
func (h *harness) waitReady(what string, ok func([]string) bool) []string {
	h.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case addrs := <-h.ready:
			if ok(addrs) {
				return addrs
			}
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s\noutput:\n%s", what, h.out)
		}
	}
}

// waitOutput waits until the output holds s.
func (h *harness) waitOutput(s string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(h.out.String(), s) {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %q in the output:\n%s", s, h.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func anyAddrs(addrs []string) bool { return len(addrs) > 0 }

// get fetches http://addr/path and returns the body.
func get(t *testing.T, addr, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// appInfo is what the test app's / says.
type appInfo struct {
	pid, grandchild int
	version         string
}

func info(t *testing.T, addr string) appInfo {
	t.Helper()
	var a appInfo
	body := get(t, addr, "/")
	if _, err := fmt.Sscanf(body, "pid=%d version=%s grandchild=%d", &a.pid, &a.version, &a.grandchild); err != nil {
		t.Fatalf("unexpected answer %q: %v", body, err)
	}
	return a
}

// running reports whether pid is a live process (a zombie has exited).
func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	state, _, ok := parseStat(stat)
	return ok && state != 'Z' && state != 'X'
}

// waitGone waits until none of pids runs.
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for running(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
