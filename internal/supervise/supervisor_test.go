//go:build linux

package supervise

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestStartsAppWithEnvironmentAndWaitsForHealth(t *testing.T) {
	c := newConfig(t)
	c.App.Command = testAppBin + ` --port=$PORT "on ${HOST}" 'lit $PORT'`
	c.App.Env = map[string]string{"GREETING": "from app.env", "ONLY_TOML": "toml"}
	dotenv := "# comment\nGREETING=\"from .env\"\nexport QUOTED='a # b'\n"
	if err := os.WriteFile(filepath.Join(c.Dir(), ".env"), []byte(dotenv), 0o644); err != nil {
		t.Fatal(err)
	}
	h := start(t, Options{Config: c, Environ: []string{"PATH=" + os.Getenv("PATH"), "GREETING=from the shell", "PORT=1"}})
	addrs := h.waitReady("the app", anyAddrs)
	want := "127.0.0.1:" + strconv.Itoa(c.App.Port)
	if len(addrs) != 1 || addrs[0] != want {
		t.Fatalf("OnReady(%q), want [%s]", addrs, want)
	}
	h.waitOutput("    app | v1 listening on " + want)
	if !strings.Contains(h.out.String(), "    app | ready in ") || !strings.Contains(h.out.String(), "s (GET /healthz 200)") {
		t.Errorf("no ready line:\n%s", h.out)
	}
	for name, want := range map[string]string{
		"PORT":      strconv.Itoa(c.App.Port),
		"HOST":      "127.0.0.1",
		"GREETING":  "from .env", // .env over app.env over the environment
		"ONLY_TOML": "toml",
		"QUOTED":    "a # b",
	} {
		if got := get(t, want0(addrs), "/env?name="+name); got != want {
			t.Errorf("$%s = %q, want %q", name, got, want)
		}
	}
	wantArgs := fmt.Sprintf("[%q %q %q]", "--port="+strconv.Itoa(c.App.Port), "on 127.0.0.1", "lit $PORT")
	if got := get(t, addrs[0], "/args"); got != wantArgs {
		t.Errorf("args = %s, want %s", got, wantArgs)
	}
	if got := h.sup.Upstreams(); len(got) != 1 || got[0] != want {
		t.Errorf("Upstreams() = %q", got)
	}
}

func want0(a []string) string { return a[0] }

func TestTCPReadinessWithoutHealthPath(t *testing.T) {
	c := newConfig(t)
	c.App.Health = ""
	h := start(t, Options{Config: c})
	h.waitReady("the app", anyAddrs)
	h.waitOutput(fmt.Sprintf("(port %d accepts connections)", c.App.Port))
}

func TestNotReadyWhileHealthFails(t *testing.T) {
	c := newConfig(t)
	c.App.Env["HEALTH"] = "503"
	h := start(t, Options{Config: c, ReadyTimeout: 300 * time.Millisecond})
	h.waitOutput("not ready after 0.3s (GET /healthz 503); still waiting")
	if got := h.sup.Upstreams(); len(got) != 0 {
		t.Errorf("an unhealthy app is an upstream: %q", got)
	}
}

func TestReplicasRunOnConsecutivePorts(t *testing.T) {
	c := newConfig(t)
	c.App.Replicas = 2
	h := start(t, Options{Config: c})
	addrs := h.waitReady("both replicas", func(a []string) bool { return len(a) == 2 })
	for i, a := range addrs {
		if want := "127.0.0.1:" + strconv.Itoa(c.App.Port+i); a != want {
			t.Errorf("replica %d on %s, want %s", i+1, a, want)
		}
	}
	if info(t, addrs[0]).pid == info(t, addrs[1]).pid {
		t.Error("both replicas answered from one process")
	}
	h.waitOutput("  app.1 | ready in")
	h.waitOutput("  app.2 | ready in")
}

func TestAppPortInUse(t *testing.T) {
	c := newConfig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(c.App.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := start(t, Options{Config: c})
	err = h.stop()
	if err == nil {
		t.Fatal("Run started the app on a port in use")
	}
	want := fmt.Sprintf("the app's port %d on 127.0.0.1 is already in use", c.App.Port)
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "app.port") {
		t.Errorf("error %q, want it to contain %q and name app.port", err, want)
	}
}

func TestCrashedAppIsRestarted(t *testing.T) {
	c := newConfig(t)
	h := start(t, Options{Config: c})
	addrs := h.waitReady("the app", anyAddrs)
	before := info(t, addrs[0])
	if err := syscall.Kill(before.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitReady("the app to be taken out", func(a []string) bool { return len(a) == 0 })
	h.waitOutput("app | ended: signal: killed; restarting in 0.1s")
	addrs = h.waitReady("the restarted app", anyAddrs)
	if addrs[0] != "127.0.0.1:"+strconv.Itoa(c.App.Port) {
		t.Errorf("restarted on %s, want the same port", addrs[0])
	}
	if after := info(t, addrs[0]); after.pid == before.pid {
		t.Errorf("same pid %d after the restart", after.pid)
	}
}

func TestCrashLoopIsReportedAndRetriedSlowly(t *testing.T) {
	c := newConfig(t)
	c.App.Env["CRASH"] = "1"
	h := start(t, Options{Config: c})
	h.waitOutput("app | exited with status 3; restarting in 0.1s")
	h.waitOutput("app | exited with status 3; restarting in 0.2s")
	h.waitOutput("app | exited with status 3; restarting in 0.4s")
	h.waitOutput("app | exited with status 3; crash loop: it exited 4 times in a row, each within 5.0s of starting — retrying every 0.3s")
	// It keeps trying, without repeating the report.
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(h.out.String(), "crashing on purpose") < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("no retries after the crash loop:\n%s", h.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(h.out.String(), "crash loop"); n != 1 {
		t.Errorf("crash loop reported %d times", n)
	}
	if got := h.sup.Upstreams(); len(got) != 0 {
		t.Errorf("a crashing app is an upstream: %q", got)
	}
	if !strings.Contains(strings.Join(h.sup.LastLines(5), "\n"), "crashing on purpose") {
		t.Errorf("LastLines = %q, want the app's output", h.sup.LastLines(5))
	}
}

func TestShutdownStopsTheWholeProcessGroup(t *testing.T) {
	c := newConfig(t)
	c.App.Env["GRANDCHILD"] = "1"
	c.App.Replicas = 2
	h := start(t, Options{Config: c})
	addrs := h.waitReady("both replicas", func(a []string) bool { return len(a) == 2 })
	var pids []int
	for _, a := range addrs {
		in := info(t, a)
		if in.grandchild == 0 || !running(in.grandchild) {
			t.Fatalf("no grandchild: %+v", in)
		}
		pids = append(pids, in.pid, in.grandchild)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	// Run returns only once everything is gone: no waiting here.
	for _, pid := range pids {
		if running(pid) {
			t.Errorf("process %d still runs after Run returned", pid)
		}
	}
	h.waitOutput("app.1 | stopped") // the app's graceful shutdown ran: SIGTERM, not SIGKILL
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	c := newConfig(t)
	c.App.Env["IGNORE_TERM"] = "1"
	h := start(t, Options{Config: c, StopTimeout: 300 * time.Millisecond})
	addrs := h.waitReady("the app", anyAddrs)
	pid := info(t, addrs[0]).pid
	start := time.Now()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if running(pid) {
		t.Errorf("process %d ignoring SIGTERM still runs", pid)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("stopped in %s, before the stop timeout: was SIGTERM honored?", took)
	}
}

func TestCrashedAppsGrandchildrenAreStopped(t *testing.T) {
	c := newConfig(t)
	c.App.Env["GRANDCHILD"] = "1"
	h := start(t, Options{Config: c})
	addrs := h.waitReady("the app", anyAddrs)
	in := info(t, addrs[0])
	syscall.Kill(in.pid, syscall.SIGKILL)
	waitGone(t, in.grandchild)
}

func TestUpdateToAVersionThatNeverGetsReadyKeepsTheOldOne(t *testing.T) {
	c := newConfig(t)
	h := start(t, Options{Config: c, ReadyTimeout: 2 * time.Second})
	addrs := h.waitReady("the app", anyAddrs)
	old := info(t, addrs[0])

	unhealthy := *c
	unhealthy.App.Env = map[string]string{"HEALTH": "500"}
	h.sup.Update(&unhealthy)
	h.waitOutput("the new version is not ready after 2.0s (GET /healthz 500); still serving the previous version")
	if now := info(t, addrs[0]); now.pid != old.pid {
		t.Errorf("pid %d serves, want the old %d", now.pid, old.pid)
	}

	crashing := *c
	crashing.App.Env = map[string]string{"CRASH": "1"}
	h.sup.Update(&crashing)
	h.waitOutput("the new version exited with status 3 before it was ready; still serving the previous version")
	if now := info(t, addrs[0]); now.pid != old.pid {
		t.Errorf("pid %d serves, want the old %d", now.pid, old.pid)
	}
	if got := h.sup.Upstreams(); len(got) != 1 || got[0] != addrs[0] {
		t.Errorf("Upstreams() = %q, want %q", got, addrs)
	}

	// A watch-only change restarts nothing.
	watchOnly := crashing
	watchOnly.App.Ignore = []string{"*.tmp"}
	h.sup.Update(&watchOnly)
	fixed := *c
	fixed.App.Env = map[string]string{"GREETING": "new"}
	h.sup.Update(&fixed)
	next := h.waitReady("the new version", func(a []string) bool { return len(a) == 1 && a[0] != addrs[0] })
	if got := get(t, next[0], "/env?name=GREETING"); got != "new" {
		t.Errorf("new version has GREETING=%q", got)
	}
	if n := strings.Count(h.out.String(), "the [app] settings changed"); n != 3 {
		t.Errorf("%d restarts for 4 updates (one of them watch-only), want 3", n)
	}
	waitGone(t, old.pid)
}

// A minimal switch stands in for the proxy: it forwards each request to the
// upstreams OnReady last reported.
func TestNoFailedRequestsAcrossReloads(t *testing.T) {
	c := newConfig(t)
	var upstream atomic.Value
	upstream.Store("")
	h := start(t, Options{Config: c})
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(&url.URL{Scheme: "http", Host: upstream.Load().(string)})
	}})
	defer proxy.Close()
	addrs := h.waitReady("the app", anyAddrs)
	upstream.Store(addrs[0])
	var switches sync.WaitGroup
	switches.Add(1)
	go func() {
		defer switches.Done()
		for a := range h.ready {
			if len(a) == 0 {
				t.Errorf("OnReady with no upstream during a reload")
				return
			}
			upstream.Store(a[0])
		}
	}()

	var ok, failed, answering atomic.Int64
	pids := sync.Map{}
	stop := make(chan struct{})
	var clients sync.WaitGroup
	for range 4 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(proxy.URL + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				var pid int
				var version string
				var gc int
				_, serr := fmt.Fscanf(resp.Body, "pid=%d version=%s grandchild=%d", &pid, &version, &gc)
				resp.Body.Close()
				if resp.StatusCode != 200 || serr != nil {
					failed.Add(1)
					continue
				}
				if _, loaded := pids.LoadOrStore(pid, true); !loaded {
					answering.Add(1)
				}
				ok.Add(1)
			}
		}()
	}
	seen := map[string]bool{addrs[0]: true}
	for i := range 3 {
		h.sup.Reload(nil)
		// Wait for the switch to a new address and for a request answered
		// by the new process. (Counting requests since the reload was not
		// enough: under load they could all reach the old process before
		// the switch, and the next reload came before the new one answered.)
		deadline := time.Now().Add(20 * time.Second)
		for {
			cur := upstream.Load().(string)
			if !seen[cur] && answering.Load() >= int64(i+2) {
				seen[cur] = true
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reload %d: no switch (upstream %s)", i+1, cur)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	close(stop)
	clients.Wait()
	n := 0
	pids.Range(func(any, any) bool { n++; return true })
	t.Logf("%d requests, %d failed, answered by %d processes", ok.Load(), failed.Load(), n)
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed across 3 reloads", failed.Load(), ok.Load()+failed.Load())
	}
	if n < 4 {
		t.Errorf("requests were answered by %d processes, want 4 (3 reloads)", n)
	}
	h.stop()
	close(h.ready)
	switches.Wait()
}

func TestAppIgnoringPORTGetsAHint(t *testing.T) {
	c := newConfig(t)
	c.App.Command = "sleep 30" // never listens
	h := start(t, Options{Config: c, ReadyTimeout: 200 * time.Millisecond})
	h.waitOutput(fmt.Sprintf("not ready after 0.2s (GET /healthz: connection refused: does app.command make the app listen on $PORT (%d)?); still waiting", c.App.Port))
}
