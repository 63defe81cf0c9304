//go:build linux

package supervise

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
	"github.com/stackctl/stackctl/internal/ui"
)

// procScript is a process for the tests: it starts a grandchild, writes
// its pid and the grandchild's to .stackctl/$1.pid and $1.child
// (atomically; .stackctl is never watched), prints two lines and its
// environment, then waits. Run as `sh proc.sh NAME`.
const procScript = `cd .stackctl
sleep 600 &
echo $! > "$1.child.tmp" && mv "$1.child.tmp" "$1.child"
echo $$ > "$1.pid.tmp" && mv "$1.pid.tmp" "$1.pid"
echo "line one from $1"
echo "line two from $1: GREETING=$GREETING FROM_DOTENV=$FROM_DOTENV"
exec sleep 600
`

// procHarness runs a Processes for a test.
type procHarness struct {
	t    *testing.T
	g    *Processes
	dir  string
	out  *testutil.SyncBuffer
	stop func()
}

// procConfig returns a project in a new folder with procScript and the
// given [processes] (name → command).
func procConfig(t *testing.T, procs map[string]stack.Process) *stack.Config {
	t.Helper()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"proc.sh":         procScript,
		".env":            "FROM_DOTENV=dotenv\n",
		".stackctl/.keep": "",
	})
	c := stack.Default("testapp", "go")
	c.Path = filepath.Join(dir, stack.FileName)
	c.App.Env = map[string]string{"GREETING": "hello"}
	c.Processes = procs
	return c
}

func proc(command string) stack.Process {
	return stack.Process{Command: command, Count: 1, StopTimeout: "3s"}
}

func startProcesses(t *testing.T, opts ProcessOptions) *procHarness {
	t.Helper()
	h := &procHarness{t: t, dir: opts.Config.Dir(), out: &testutil.SyncBuffer{}}
	mux := ui.NewLogMux(h.out, false)
	opts.Output = func(name string) io.Writer { return mux.Writer(name) }
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = fastBackoff
	}
	if opts.Debounce == 0 {
		opts.Debounce = 50 * time.Millisecond
	}
	g, err := NewProcesses(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.g = g
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		g.Run(ctx)
		close(done)
	}()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("Run did not return 20s after its context ended\n%s", h.out)
			}
		})
	}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("output:\n%s", h.out)
		}
	})
	return h
}

// waitOutput waits until the output matches re and returns the submatches.
func (h *procHarness) waitOutput(re string) []string {
	h.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := rx.FindStringSubmatch(h.out.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %q in the output:\n%s", re, h.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pid reads the pid a process's script wrote to NAME.EXT ("pid" or
// "child"), waiting until it is there and not old.
func (h *procHarness) pid(name, ext string, old int) int {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(h.dir, ".stackctl", name+"."+ext))
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 && pid != old {
			return pid
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no new %s.%s (old %d):\n%s", name, ext, old, h.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two processes: their lines come out prefixed with their names, with the
// app's environment; one killed by SIGKILL is said to have ended and is
// restarted while the other keeps running; Stop leaves no process, the
// scripts' grandchildren included.
func TestProcessesRestartTheOneThatExits(t *testing.T) {
	t.Parallel()
	c := procConfig(t, map[string]stack.Process{
		"worker": proc("sh proc.sh worker"),
		"mailer": proc("sh proc.sh mailer"),
	})
	h := startProcesses(t, ProcessOptions{Config: c})
	worker, mailer := h.pid("worker", "pid", 0), h.pid("mailer", "pid", 0)
	workerChild, mailerChild := h.pid("worker", "child", 0), h.pid("mailer", "child", 0)
	// sh replaced itself with the script: the pid serve started is the
	// script's, so SIGTERM and the parent-death signal reach it.
	h.waitOutput(`(?m)^ *worker \| started with pid ` + strconv.Itoa(worker) + `$`)
	h.waitOutput(`(?m)^ *mailer \| started with pid ` + strconv.Itoa(mailer) + `$`)
	h.waitOutput(`(?m)^ *worker \| line one from worker$`)
	h.waitOutput(`(?m)^ *worker \| line two from worker: GREETING=hello FROM_DOTENV=dotenv$`)
	h.waitOutput(`(?m)^ *mailer \| line two from mailer: GREETING=hello FROM_DOTENV=dotenv$`)

	if err := syscall.Kill(worker, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitOutput(`(?m)^ *worker \| ended: signal: killed; restarting in 0.1s$`)
	worker2 := h.pid("worker", "pid", worker)
	h.waitOutput(`(?m)^ *worker \| started with pid ` + strconv.Itoa(worker2) + `$`)
	// What the killed copy left in its group went with it.
	waitGone(t, worker, workerChild)
	if !running(mailer) || !running(mailerChild) {
		t.Errorf("the mailer (pid %d, child %d) stopped when the worker was killed", mailer, mailerChild)
	}
	if n := strings.Count(h.out.String(), "mailer | started"); n != 1 {
		t.Errorf("the mailer started %d times, want 1", n)
	}
	workerChild2 := h.pid("worker", "child", workerChild)

	h.stop()
	for _, pid := range []int{worker2, workerChild2, mailer, mailerChild} {
		if running(pid) {
			t.Errorf("process %d still runs after Stop", pid)
		}
	}
}

// A process that ignores SIGTERM is killed once its stop_timeout is over;
// the two copies of a process with count 2 are named by number.
func TestProcessesStopTimeoutAndCount(t *testing.T) {
	t.Parallel()
	stubborn := proc(`trap '' TERM; sh proc.sh stubborn`)
	stubborn.StopTimeout = "200ms"
	pair := proc(`echo "copy of pair"; exec sleep 600`)
	pair.Count = 2
	c := procConfig(t, map[string]stack.Process{"stubborn": stubborn, "pair": pair})
	h := startProcesses(t, ProcessOptions{Config: c})
	pid := h.pid("stubborn", "pid", 0)
	h.waitOutput(`(?m)^ *pair\.1 \| copy of pair$`)
	h.waitOutput(`(?m)^ *pair\.2 \| copy of pair$`)
	start := time.Now()
	h.stop()
	if running(pid) {
		t.Errorf("process %d still runs after Stop", pid)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("Stop took %s: SIGTERM should have been ignored for 200ms", took)
	}
	h.waitOutput(`stubborn \| pid \d+ did not stop within 0.2s of SIGTERM \(stop_timeout\); killed it`)
}

// Without FollowApp the group restarts every process when a watched file
// changes, and follows stack.toml: a changed command restarts its process,
// a removed one stops, an added one starts, the others go on.
func TestProcessesWatchAndUpdate(t *testing.T) {
	t.Parallel()
	c := procConfig(t, map[string]stack.Process{
		"worker": proc("sh proc.sh worker"),
		"mailer": proc("sh proc.sh mailer"),
	})
	h := startProcesses(t, ProcessOptions{Config: c})
	worker, mailer := h.pid("worker", "pid", 0), h.pid("mailer", "pid", 0)

	os.WriteFile(filepath.Join(h.dir, "main.go"), []byte("package main\n"), 0o644)
	h.waitOutput(`(?m)^ *worker \| main.go changed; restarting$`)
	worker2, mailer2 := h.pid("worker", "pid", worker), h.pid("mailer", "pid", mailer)
	waitGone(t, worker, mailer)

	next := *c
	next.Processes = map[string]stack.Process{
		"worker": proc("sh proc.sh worker"),
		"mailer": proc("sh proc.sh mailer --changed"),
	}
	h.g.Update(&next)
	h.waitOutput(`(?m)^ *mailer \| stack.toml: its settings changed; restarting$`)
	mailer3 := h.pid("mailer", "pid", mailer2)
	waitGone(t, mailer2)

	third := next
	third.Processes = map[string]stack.Process{
		"mailer": next.Processes["mailer"],
		"sender": proc("sh proc.sh sender"),
	}
	h.g.Update(&third)
	h.waitOutput(`(?m)^ *worker \| no longer in stack.toml's \[processes\]; stopping$`)
	h.waitOutput(`(?m)^ *sender \| added to stack.toml's \[processes\]; starting$`)
	sender := h.pid("sender", "pid", 0)
	waitGone(t, worker2)
	if !running(mailer3) {
		t.Errorf("the mailer (%d) stopped when other processes changed", mailer3)
	}
	h.stop()
	for _, pid := range []int{mailer3, sender} {
		if running(pid) {
			t.Errorf("process %d still runs after Stop", pid)
		}
	}
}

// With FollowApp nothing starts before the first Restart; Only picks the
// processes.
func TestProcessesFollowAppAndOnly(t *testing.T) {
	t.Parallel()
	c := procConfig(t, map[string]stack.Process{
		"worker": proc("sh proc.sh worker"),
		"mailer": proc("sh proc.sh mailer"),
	})
	h := startProcesses(t, ProcessOptions{Config: c, FollowApp: true, Only: []string{"worker"}})
	// Files changing start nothing: the app's supervisor says when.
	os.WriteFile(filepath.Join(h.dir, "main.go"), []byte("package main\n"), 0o644)
	h.g.Restart("the first start")
	worker := h.pid("worker", "pid", 0)
	h.g.Restart("a new version of the app")
	h.waitOutput(`(?m)^ *worker \| a new version of the app; restarting$`)
	h.pid("worker", "pid", worker)
	waitGone(t, worker)
	h.stop()
	out := h.out.String()
	if strings.Contains(out, "mailer") || strings.Contains(out, "the first start") || strings.Count(out, "worker | started") != 2 {
		t.Errorf("want the worker started twice and no mailer:\n%s", out)
	}
}
