//go:build linux

package cmd

// Tests that look at processes through /proc.

import (
	"bytes"
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

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
	"github.com/stackctl/stackctl/internal/ui"
	"github.com/stackctl/stackctl/scaffold"
)

// serve on a scaffold-like Go app: build, run, GET through the proxy,
// stack.toml edits (a broken one kept out, a good one restarting the app),
// and Ctrl-C leaving no process behind.
func TestServeGoAppEndToEnd(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "serveapp", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module myapp\n\ngo 1.22\n"), 0o644)
	port := testutil.PortRange(t, 6)
	c := stack.Default("myapp", "go")
	c.App.Port = port
	c.App.Env = map[string]string{"GREETING": "hello"}
	c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(port+5)
	cfgPath := writeStack(t, dir, c)

	s := startServe(t, &ServeOptions{Config: cfgPath, HoldTimeout: time.Minute})
	m := s.waitFor(`  proxy \| listening on (http://127\.0\.0\.1:\d+) -> app on 127\.0\.0\.1:` + strconv.Itoa(port) + "\n")
	url := m[1]
	// A request sent while the app builds is held until it is ready.
	held := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/")
		if err != nil {
			held <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		held <- strconv.Itoa(resp.StatusCode) + " " + string(b)
	}()
	s.waitFor(`    app \| building…`)
	s.waitFor(`    app \| ready in \d+(\.\d+)?m?s \(GET /healthz 200\)`)
	if got := <-held; !strings.HasPrefix(got, "200 hello from pid ") {
		t.Errorf("request held during the build: %q", got)
	}
	code, body := httpGet(t, url+"/")
	if code != 200 || !strings.HasPrefix(body, "hello from pid ") || !strings.Contains(body, "X-Forwarded-For=127.0.0.1") {
		t.Fatalf("GET / through serve: %d %q", code, body)
	}
	var pid int
	fmt.Sscanf(strings.TrimPrefix(body, "hello from pid "), "%d", &pid)

	// A broken stack.toml is reported and changes nothing.
	good, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, append(append([]byte(nil), good...), "\n[app]\nport = \"x\"\n"...), 0o644)
	s.waitFor(`is not valid; keeping the running config`)
	if _, body := httpGet(t, url+"/"); !strings.HasPrefix(body, "hello from pid "+strconv.Itoa(pid)) {
		t.Errorf("after a broken stack.toml: %q", body)
	}
	// A new app.env restarts the app with it.
	c.App.Env["GREETING"] = "bonjour"
	writeStack(t, dir, c)
	s.waitFor(`app \| now serving the new version`)
	if _, body := httpGet(t, url+"/"); !strings.HasPrefix(body, "bonjour from pid ") {
		t.Errorf("after changing app.env: %q", body)
	}
	_, body = httpGet(t, url+"/")
	var pid2 int
	fmt.Sscanf(strings.TrimPrefix(body, "bonjour from pid "), "%d", &pid2)

	if err := s.stop(); err != nil {
		t.Fatalf("serve returned %v after Ctrl-C", err)
	}
	for _, p := range []int{pid, pid2} {
		if err := exec.Command("kill", "-0", strconv.Itoa(p)).Run(); err == nil {
			if stat, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat"); !bytes.Contains(stat, []byte(") Z ")) {
				t.Errorf("app process %d still runs after serve stopped", p)
			}
		}
	}
}

// appProcesses lists the processes running the binary at exe.
func appProcesses(t *testing.T, exe string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && strings.TrimSuffix(target, " (deleted)") == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

// What `stackctl new` makes, served: the page through the proxy (which the
// app sees as its one trusted proxy), the static folder served by the proxy,
// a live reload of an edited template, and Ctrl-C leaving no app behind.
func TestServeScaffoldedGoApp(t *testing.T) {
	dir := t.TempDir()
	port := testutil.PortRange(t, 6)
	o := scaffold.Defaults("myapp")
	o.Dir = dir
	o.Port = port
	o.Listen = "127.0.0.1:" + strconv.Itoa(port+5)
	res, err := scaffold.Create(o)
	if err != nil {
		t.Fatal(err)
	}
	project := filepath.Join(dir, "myapp")
	s := startServe(t, &ServeOptions{Config: filepath.Join(project, stack.FileName), HoldTimeout: time.Minute})
	url := s.waitFor(`  proxy \| listening on (http://127\.0\.0\.1:\d+) -> app on 127\.0\.0\.1:` + strconv.Itoa(port) + "\n")[1]
	s.waitFor(`    app \| ready in \S+ \(GET /healthz 200\)`)
	code, body := httpGet(t, url+"/")
	if code != 200 || !strings.Contains(body, "Hello, World!") || !strings.Contains(body, "as the proxy in front of myapp reported it (X-Real-IP)") {
		t.Fatalf("GET / through serve: %d\n%s", code, body)
	}
	if len(res.Config.Proxy.Static) > 0 {
		code, css := httpGet(t, url+"/static/style.css")
		if code != 200 || len(css) == 0 {
			t.Errorf("GET /static/style.css: %d %q", code, css)
		}
	}
	exe := filepath.Join(project, ".stackctl", "app")
	if len(appProcesses(t, exe)) == 0 {
		t.Fatalf("no process runs %s", exe)
	}

	page := filepath.Join(project, "templates", "index.html")
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(page, []byte(strings.Replace(string(html), "Hello, World!", "Hello, reload!", 1)), 0o644)
	s.waitFor(`app \| now serving the new version`)
	if _, body := httpGet(t, url+"/"); !strings.Contains(body, "Hello, reload!") {
		t.Errorf("after editing the page: %s", body)
	}

	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range appProcesses(t, exe) {
		stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if !bytes.Contains(stat, []byte(") Z ")) {
			t.Errorf("app process %d still runs after serve stopped", pid)
		}
	}
}

// With replicas, a copy that dies costs no request: the proxy retries the
// other one, serve takes the dead one out and starts it again.
func TestServeReplicaCrashCostsNoRequest(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "serveapp")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/serveapp").CombinedOutput(); err != nil {
		t.Fatalf("building the test app: %v\n%s", err, out)
	}
	port := testutil.PortRange(t, 6)
	c := stack.Default("myapp", "go")
	c.App.Port = port
	c.App.Build = ""
	c.App.Command = bin
	c.App.Replicas = 2
	c.App.Env = map[string]string{"GREETING": "hi"}
	c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(port+5)
	cfgPath := writeStack(t, t.TempDir(), c)
	s := startServe(t, &ServeOptions{Config: cfgPath, Quiet: true})
	url := s.waitFor(`listening on (http://\S+)`)[1]
	s.waitFor(`app\.1 \| ready in`)
	s.waitFor(`app\.2 \| ready in`)

	pidOf := func(body string) int {
		var pid int
		fmt.Sscanf(strings.TrimPrefix(body, "hi from pid "), "%d", &pid)
		return pid
	}
	// Find both replicas' processes.
	pids := map[int]bool{}
	for i := 0; len(pids) < 2 && i < 100; i++ {
		_, body := httpGet(t, url+"/")
		pids[pidOf(body)] = true
	}
	if len(pids) != 2 {
		t.Fatalf("round robin reached %d processes, want 2", len(pids))
	}
	var victim int
	for p := range pids {
		victim = p
		break
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Once it is dead (not mid-response), every request still succeeds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(victim) + "/stat")
		if err != nil || bytes.Contains(stat, []byte(") Z ")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d survived SIGKILL", victim)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 200 {
		code, body := httpGet(t, url+"/")
		if code != 200 || pidOf(body) == victim {
			t.Fatalf("request %d after a replica died: %d %q", i, code, body)
		}
	}
	s.waitFor(`app\.\d \| ended: signal: killed; restarting in`)
	s.waitFor(`(?s)ended: signal: killed.*app\.\d \| ready in`)
}

// serveProcScript is a process for serve's tests: it writes its pid to
// .stackctl/$1.pid (never watched), says hello and waits.
const serveProcScript = `echo $$ > ".stackctl/$1.pid.tmp" && mv ".stackctl/$1.pid.tmp" ".stackctl/$1.pid"
echo "hello from $1"
exec sleep 600
`

// procProject writes a project that runs the prebuilt test app with a
// worker and a mailer in [processes], and returns its stack.toml and the
// app's greeting prefix.
func procProject(t *testing.T, appBin string) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{"proc.sh": serveProcScript, ".stackctl/.keep": ""})
	port := testutil.PortRange(t, 6)
	c := stack.Default("myapp", "go")
	c.App.Port = port
	c.App.Build = ""
	c.App.Command = appBin
	c.App.Env = map[string]string{"GREETING": "hi"}
	c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(port+5)
	c.Processes = map[string]stack.Process{
		"worker": {Command: "sh proc.sh worker", Count: 1, StopTimeout: "5s"},
		"mailer": {Command: "sh proc.sh mailer", Count: 1, StopTimeout: "5s"},
	}
	return dir, writeStack(t, dir, c)
}

// procPID waits for the pid a process of procProject wrote, other than old.
func procPID(t *testing.T, dir, name string, old int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(dir, ".stackctl", name+".pid"))
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 && pid != old {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new pid from %s (old %d)", name, old)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie has exited).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !bytes.Contains(stat, []byte(") Z "))
}

// waitDead waits until none of pids runs.
func waitDead(t *testing.T, what string, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: process %d still runs", what, pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// startServeBinary runs `stackctl serve` as a process of its own, as from
// a terminal; stop sends it SIGINT.
func startServeBinary(t *testing.T, bin string, args ...string) (*serving, *exec.Cmd) {
	t.Helper()
	s := &serving{t: t, out: &testutil.SyncBuffer{}, done: make(chan error, 1)}
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	s.cancel = func() { cmd.Process.Signal(syscall.SIGINT) }
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() || testing.Verbose() {
			t.Logf("serve output:\n%s", s.out)
		}
	})
	return s, cmd
}

// serve runs [processes] beside the app: each line prefixed with its
// process; one killed is restarted while the app and the other process go
// on; a code change restarts them all; Ctrl-C leaves nothing; and serve
// killed by SIGKILL takes its processes with it (parent-death signal).
func TestServeProcesses(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	appBin := filepath.Join(tmp, "serveapp")
	if out, err := exec.Command("go", "build", "-o", appBin, "./testdata/serveapp").CombinedOutput(); err != nil {
		t.Fatalf("building the test app: %v\n%s", err, out)
	}
	bin := buildStackctl(t)
	dir, cfgPath := procProject(t, appBin)

	s, _ := startServeBinary(t, bin, "--config", cfgPath, "--quiet")
	url := s.waitFor(`listening on (http://\S+)`)[1]
	s.waitFor(`    app \| ready in`)
	appPID := func() int {
		_, body := httpGet(t, url+"/")
		var pid int
		fmt.Sscanf(strings.TrimPrefix(body, "hi from pid "), "%d", &pid)
		return pid
	}
	app := appPID()
	worker, mailer := procPID(t, dir, "worker", 0), procPID(t, dir, "mailer", 0)
	s.waitFor(`(?m)^  worker \| hello from worker$`)
	s.waitFor(`(?m)^  mailer \| hello from mailer$`)

	// One killed: restarted, the others keep their pids.
	syscall.Kill(worker, syscall.SIGKILL)
	s.waitFor(`(?m)^  worker \| ended: signal: killed; restarting in 0\.5s$`)
	worker2 := procPID(t, dir, "worker", worker)
	if !alive(mailer) || appPID() != app {
		t.Errorf("killing the worker stopped the mailer or the app")
	}

	// A code change: the app's new version, and every process restarts.
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644)
	s.waitFor(`app \| now serving the new version`)
	s.waitFor(`(?m)^  mailer \| the app changed; restarting$`)
	worker3, mailer2 := procPID(t, dir, "worker", worker2), procPID(t, dir, "mailer", mailer)
	app2 := appPID()
	waitDead(t, "after a code change", worker2, mailer, app)

	// Ctrl-C: nothing is left.
	if err := s.stop(); err != nil {
		t.Fatalf("serve exited with %v after SIGINT", err)
	}
	waitDead(t, "after Ctrl-C", worker3, mailer2, app2)

	// SIGKILL: serve cannot stop them; the kernel does.
	s, cmd := startServeBinary(t, bin, "--config", cfgPath, "--quiet", "--only", "worker,mailer")
	s.waitFor(`  serve \| running worker, mailer \(--only: no app, no proxy\)`)
	worker4, mailer3 := procPID(t, dir, "worker", worker3), procPID(t, dir, "mailer", mailer2)
	cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	waitDead(t, "after SIGKILL to serve", worker4, mailer3)
}

// --only picks what runs; a name that is not a process is refused with
// the names there are.
func TestServeOnly(t *testing.T) {
	t.Parallel()
	dir, cfgPath := procProject(t, "/bin/false")
	s := startServe(t, &ServeOptions{Config: cfgPath, Only: []string{"mailer"}})
	s.waitFor(`  serve \| running mailer \(--only: no app, no proxy\)`)
	procPID(t, dir, "mailer", 0)
	s.waitFor(`(?m)^  mailer \| hello from mailer$`)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if out := s.out.String(); strings.Contains(out, "worker") || strings.Contains(out, "app |") || strings.Contains(out, "listening") {
		t.Errorf("--only mailer ran more:\n%s", out)
	}

	io, _, _, _ := ui.Test()
	err := runServe(&ServeOptions{IO: io, Config: cfgPath, Only: []string{"web", "wrker"}})
	var ue *ui.UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), `--only "wrker": stack.toml has no process by that name — use one of: web, mailer, worker`) {
		t.Errorf("--only wrker: %v", err)
	}
}
