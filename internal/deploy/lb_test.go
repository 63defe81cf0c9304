package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
)

// echoApp is a Go app that answers every request with what it received
// and where it runs, so a test can tell hosts and releases apart and see
// the headers nginx gave it. WEB_FAIL_ON names a host whose health check
// fails (a release that never becomes healthy there).
const echoApp = `package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

const version = "%s"
const failOn = "%s"

func main() {
	hn, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if hn == failOn {
			http.Error(w, "not ready", 503)
			return
		}
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"host": hn, "version": version, "headers": r.Header, "req_host": r.Host})
	})
	srv := &http.Server{Addr: os.Getenv("HOST") + ":" + os.Getenv("PORT"), Handler: mux}
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, os.Interrupt)
		<-c
		srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		panic(err)
	}
}
`

func echoProject(t *testing.T) *stack.Config {
	t.Helper()
	dir := filepath.Join(nginxtest.TempDir(t), "echo")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module echo\n\ngo 1.22\n"), 0o644)
	c := stack.Default("echo", "go")
	c.Proxy.ServerNames = []string{"app.test"}
	c.Proxy.Static = nil
	if err := c.Save(filepath.Join(dir, stack.FileName)); err != nil {
		t.Fatal(err)
	}
	c, err := stack.Load(filepath.Join(dir, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	setEcho(t, c, "v1", "")
	return c
}

func setEcho(t *testing.T, c *stack.Config, version, failOn string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.Dir(), "main.go"), []byte(fmt.Sprintf(echoApp, version, failOn)), 0o644); err != nil {
		t.Fatal(err)
	}
}

type echoed struct {
	Host    string              `json:"host"`
	Version string              `json:"version"`
	Headers map[string][]string `json:"headers"`
	ReqHost string              `json:"req_host"`
}

func echo(t *testing.T, addr string, hdr map[string]string) echoed {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = "app.test"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e echoed
	if resp.StatusCode != 200 || json.Unmarshal(body, &e) != nil {
		t.Fatalf("GET %s: %d %s", addr, resp.StatusCode, body)
	}
	return e
}

// versions asks the lb until both app hosts answered (at least n times,
// at most 20 s) and returns which release each host runs.
func versions(t *testing.T, lb string, n int) map[string]string {
	t.Helper()
	seen := map[string]string{}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < n || (len(seen) < 2 && time.Now().Before(deadline)); i++ {
		if i >= n {
			time.Sleep(100 * time.Millisecond)
		}
		e := echo(t, lb, nil)
		if v, ok := seen[e.Host]; ok && v != e.Version {
			t.Errorf("%s answered both %s and %s", e.Host, v, e.Version)
		}
		seen[e.Host] = e.Version
	}
	return seen
}

// lbCluster boots web1, web2 and lb1 and returns them, the lb's address,
// the echo project and the options that deploy it to both app hosts behind
// lb1. When the test fails, each host's nginx errors, upstream, slots and
// release state are logged.
func lbCluster(t *testing.T) (*hosttest.Cluster, string, *stack.Config, HostsOptions) {
	t.Helper()
	cl := hosttest.Start(t, "web1", "web2", "lb1")
	c := echoProject(t)
	hs := dial(t, cl, "", "web1", "web2", "lb1")
	o := hostOpts(c, hs[:2], nil)
	o.LB = hs[2]
	o.HealthTimeout = 10 * time.Second
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, h := range []string{"lb1", "web1", "web2"} {
			out, _ := cl.TrySSH(h, "tail -n 20 /var/log/nginx/echo.error.log; cat /etc/stackctl/echo/upstream.conf; systemctl is-active echo@a echo@b; ss -ltnp; "+
				"cat /var/lib/stackctl/echo/state.json; readlink /srv/echo/current /srv/echo/slots/a /srv/echo/slots/b")
			t.Logf("%s:\n%s", h, out)
		}
	})
	return cl, cl.Host("lb1").Addr, c, o
}

// Two app hosts behind a load-balancer host: requests reach both; the app
// sees the client's address and scheme as on one host (the same headers as
// when the client talks to an app host directly), a client cannot spoof
// them; a rolling deploy under load through the lb fails no request; a
// release that is unhealthy on the second host is refused and the first
// goes back, so every host ends on one release; rollback covers every host.
func TestRollingDeployBehindLB(t *testing.T) {
	t.Parallel()
	cl, lb, c, o := lbCluster(t)
	out := deployOK(t, o)
	if !strings.Contains(out, "lb1") || !strings.Contains(out, "nginx → "+cl.Host("web1").Addr+":80, "+cl.Host("web2").Addr+":80") {
		t.Errorf("the lb's site was not installed over both hosts:\n%s", out)
	}
	// The lb keeps connections to the app hosts alive and passes an
	// idempotent request that meets an error on one host to the next.
	site := cl.SSH(t, "lb1", "cat /etc/nginx/sites-available/echo.conf")
	for _, want := range []string{"keepalive 64;", "proxy_http_version 1.1;", `proxy_set_header Connection $stackctl_echo_connection_upgrade;`, "proxy_next_upstream error timeout http_502;", "max_fails=" + fmt.Sprint(lbMaxFails(c)) + " "} {
		if !strings.Contains(site, want) {
			t.Errorf("the lb's site lacks %q:\n%s", want, site)
		}
	}
	if got := versions(t, lb, 20); len(got) != 2 || got["web1"] != "v1" || got["web2"] != "v1" {
		t.Fatalf("through the lb: %v, want web1 and web2 on v1", got)
	}

	// The app sees the client as on one host: the same forwarded headers
	// through lb+host as straight to a host, with and without a client's
	// own X-Forwarded-For, and never a spoofed address or scheme.
	client := cl.BridgeAddr
	for _, hdr := range []map[string]string{nil, {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Real-IP": "198.51.100.1"}} {
		via := echo(t, lb, hdr)
		direct := echo(t, cl.Host("web1").Addr, hdr)
		for _, k := range []string{"X-Real-Ip", "X-Forwarded-For", "X-Forwarded-Proto"} {
			if fmt.Sprint(via.Headers[k]) != fmt.Sprint(direct.Headers[k]) {
				t.Errorf("client headers %v: %s through the lb = %v, straight to a host = %v", hdr, k, via.Headers[k], direct.Headers[k])
			}
		}
		if via.ReqHost != "app.test" || direct.ReqHost != "app.test" {
			t.Errorf("Host: through the lb %q, direct %q", via.ReqHost, direct.ReqHost)
		}
		if ip := via.Headers["X-Real-Ip"]; len(ip) != 1 || ip[0] != client {
			t.Errorf("client headers %v: the app sees X-Real-IP %v, want the client %s", hdr, ip, client)
		}
		if p := via.Headers["X-Forwarded-Proto"]; len(p) != 1 || p[0] != "http" {
			t.Errorf("client headers %v: the app sees X-Forwarded-Proto %v, want http", hdr, p)
		}
		t.Logf("client headers %v → the app sees X-Real-IP %v, X-Forwarded-For %v, X-Forwarded-Proto %v", hdr, via.Headers["X-Real-Ip"], via.Headers["X-Forwarded-For"], via.Headers["X-Forwarded-Proto"])
	}

	// Sustained load through the lb across a rolling deploy, a refused
	// release and a rollback: no request fails, the lb never runs out of
	// local ports (its TIME_WAIT towards the app hosts stays small) and
	// never finds "no live upstreams".
	tw := sampleTimeWait(t, cl, "lb1")
	l := hosttest.StartLoad(t, lb, "app.test", "/healthz", lbLoadClients)
	loadStart := time.Now()
	phase := func(what string, f func()) {
		ok0, failed0 := l.Counts()
		start := time.Now()
		f()
		ok, failed := l.Counts()
		t.Logf("%s under load: %.1fs, %d requests answered 200, %d failed", what, time.Since(start).Seconds(), ok-ok0, failed-failed0)
	}
	setEcho(t, c, "v2", "")
	phase("rolling deploy", func() { deployOK(t, o) })
	if got := versions(t, lb, 20); got["web1"] != "v2" || got["web2"] != "v2" {
		t.Fatalf("after the rolling deploy: %v", got)
	}

	// Unhealthy on web2: web1 had switched and goes back; 0 failed requests.
	setEcho(t, c, "v3", "web2")
	var buf bytes.Buffer
	o.Out = &buf
	var err error
	phase("refused rolling deploy", func() { err = DeployHosts(context.Background(), o) })
	if err == nil || !strings.Contains(err.Error(), "web2") || !strings.Contains(buf.String(), "are back on the release they ran before") {
		t.Fatalf("a release unhealthy on web2: %v\n%s", err, buf.String())
	}
	t.Logf("refused: %v\n%s", err, buf.String())
	if got := versions(t, lb, 20); got["web1"] != "v2" || got["web2"] != "v2" {
		t.Fatalf("after the refused deploy every host must run v2: %v", got)
	}

	// Rollback across hosts, under load.
	o.Out = &buf
	phase("rollback across hosts", func() { err = RollbackHosts(context.Background(), o, "") })
	if err != nil {
		t.Fatalf("rollback: %v\n%s", err, buf.String())
	}
	ok, _ := l.Counts()
	secs := time.Since(loadStart).Seconds()
	l.Check(t, "rolling deploy, refused release and rollback")
	t.Logf("through the lb: %.0f requests/s for %.0fs; the lb's TIME_WAIT towards the app hosts: %s", float64(ok)/secs, secs, tw())
	lbLogClean(t, cl)
	t.Logf("the lb's error log after the deploys (each error a request passed to the other host):\n%s", strings.Join(lbErrorLines(t, cl), "\n"))
	if got := versions(t, lb, 20); got["web1"] != "v1" || got["web2"] != "v1" {
		t.Fatalf("after the rollback: %v", got)
	}

	// web2's nginx reloaded 20 times under load: its closed keep-alive
	// connections are retried on web1, no request fails, and the lb never
	// skips web2 (nginx says "upstream server temporarily disabled" at the
	// warn level, which the test turns on for the lb's site).
	cl.SSH(t, "lb1", `sed -i 's|^\( *error_log [^ ;]*\);|\1 warn;|' /etc/nginx/sites-available/echo.conf && nginx -t -q && systemctl reload nginx && sleep 1`)
	before := lbErrorLines(t, cl)
	l = hosttest.StartLoad(t, lb, "app.test", "/healthz", lbLoadClients)
	cl.SSH(t, "web2", "for i in $(seq 20); do systemctl reload nginx; sleep 0.5; done")
	l.Check(t, "web2's nginx reloaded 20 times")
	during := lbErrorLines(t, cl)[len(before):]
	t.Logf("the lb's error log during the reloads (%d lines; each error a request passed to the other host):\n%s", len(during), strings.Join(during, "\n"))
	for _, line := range during {
		if strings.Contains(line, "temporarily disabled") {
			t.Errorf("web2's reloads made the lb skip a host: %s", line)
		}
	}
	if got := versions(t, lb, 20); len(got) != 2 {
		t.Errorf("after web2's reloads the lb answers from %v, want both hosts", got)
	}

	// web2's nginx killed (SIGKILL) under load: the requests in flight to it
	// and those that find it refusing are passed to web1 (GETs); then it
	// is skipped for fail_timeout. Started again, it is used again.
	l = hosttest.StartLoad(t, lb, "app.test", "/healthz", lbLoadClients)
	time.Sleep(2 * time.Second)
	ok0, failed0 := l.Counts()
	cl.SSH(t, "web2", "systemctl kill -s KILL nginx; sleep 5")
	ok1, failed1 := l.Counts()
	// Started again once every killed process is gone (a start that finds
	// port 80 still held is tried again).
	cl.SSH(t, "web2", `for i in $(seq 20); do pgrep -x nginx >/dev/null || break; sleep 0.25; done
systemctl reset-failed nginx 2>/dev/null
for i in $(seq 10); do systemctl start nginx && exit 0; sleep 1; pkill -KILL -x nginx; systemctl reset-failed nginx 2>/dev/null; done
journalctl -u nginx -n 20 --no-pager; exit 1`)
	back := time.Now()
	if got := versions(t, lb, 20); len(got) != 2 {
		t.Errorf("after web2's nginx came back the lb answers from %v, want both hosts", got)
	}
	t.Logf("web2 used again %.1fs after its nginx started", time.Since(back).Seconds())
	time.Sleep(2 * time.Second)
	ok2, failed2, errs := l.Stop()
	after := lbErrorLines(t, cl)
	t.Logf("the lb's error log while web2's nginx was killed and back:\n%s", strings.Join(after[len(before)+len(during):], "\n"))
	t.Logf("web2's nginx killed: while it was down (5 s) %d requests answered 200, %d failed; after it came back %d answered 200, %d failed %v",
		ok1-ok0, failed1-failed0, ok2-ok1, failed2-failed1, errs)
	if failed2 != 0 {
		t.Errorf("with web2's nginx killed %d requests failed: %v", failed2, errs)
	}
	lbLogClean(t, cl)

	// status covers every host and the lb.
	list, err := Status(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[2].Role != "lb" || list[2].Host != "lb1" || !list[0].Healthy || !list[1].Healthy || !list[2].Healthy {
		t.Errorf("status = %+v, want web1, web2 and lb1 healthy", list)
	}

	// Passive failover: with web2 down the lb answers from web1 (the test
	// allows nginx up to 20 s to skip web2, then wants 10 answers in a row,
	// all from web1).
	cl.SSH(t, "web2", "systemctl stop nginx")
	deadline := time.Now().Add(20 * time.Second)
	inRow := 0
	for inRow < 10 && time.Now().Before(deadline) {
		code, host := lbAnswer(lb)
		switch {
		case code == 200 && host == "web1":
			inRow++
		case code == 200:
			t.Fatalf("with web2's nginx stopped %s answered", host)
		default:
			inRow = 0
			time.Sleep(200 * time.Millisecond)
		}
	}
	if inRow < 10 {
		t.Errorf("with web2 down the lb did not answer from web1 within 20 s")
	}
}

// lbLoadClients is the number of keep-alive clients of the load through the
// lb (about 1,500 requests/s on a 2-core machine).
const lbLoadClients = 8

// lbErrorLines returns the lines of the lb's error log for the echo site.
func lbErrorLines(t *testing.T, cl *hosttest.Cluster) []string {
	t.Helper()
	out := strings.TrimSpace(cl.SSH(t, "lb1", "cat /var/log/nginx/echo.error.log"))
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// lbLogClean fails the test when the lb ran out of local ports or found
// no live upstream.
func lbLogClean(t *testing.T, cl *hosttest.Cluster) {
	t.Helper()
	for _, line := range lbErrorLines(t, cl) {
		if strings.Contains(line, "Cannot assign requested address") || strings.Contains(line, "no live upstreams") {
			t.Errorf("the lb's error log: %s", line)
		}
	}
}

// sampleTimeWait counts, every second until the returned function is
// called, the lb's connections in TIME_WAIT towards port 80 (its own
// connections to the app hosts: each holds a local port) and returns
// their peak and the local port range.
func sampleTimeWait(t *testing.T, cl *hosttest.Cluster, lb string) func() string {
	t.Helper()
	stop, done := make(chan struct{}), make(chan struct{})
	var peak, est int
	go func() {
		defer close(done)
		for {
			out, err := cl.TrySSH(lb, "ss -Htan state time-wait '( dport = :80 )' | wc -l; ss -Htan state established '( dport = :80 )' | wc -l")
			if f := strings.Fields(out); err == nil && len(f) == 2 {
				var n, e int
				fmt.Sscan(f[0], &n)
				fmt.Sscan(f[1], &e)
				peak, est = max(peak, n), max(est, e)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	var once sync.Once
	return func() string {
		once.Do(func() { close(stop); <-done })
		ports := strings.TrimSpace(cl.SSH(t, lb, "cat /proc/sys/net/ipv4/ip_local_port_range"))
		return fmt.Sprintf("peak %d in TIME_WAIT, peak %d established (local port range %s)", peak, est, strings.Join(strings.Fields(ports), "-"))
	}
}

// lbAnswer asks the lb once and returns the status and the answering host.
func lbAnswer(addr string) (int, string) {
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = "app.test"
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var e echoed
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Host
}

// A rollback over two hosts behind the lb that fails on the second host
// (its copy of the target release is damaged: the binary cannot run)
// switches the first host back to the release it ran: under load through
// the lb no request fails, the error says what happened, both hosts run
// the release they ran before, with state.json, the current link, the
// serving slot and 'releases' agreeing, and the target release is still
// on disk on both, so the rollback works once web2 is repaired.
func TestRollbackUndoneWhenALaterHostFails(t *testing.T) {
	t.Parallel()
	cl, lb, c, o := lbCluster(t)
	deployOK(t, o)
	setEcho(t, c, "v2", "")
	deployOK(t, o)
	if got := versions(t, lb, 20); got["web1"] != "v2" || got["web2"] != "v2" {
		t.Fatalf("after the second deploy: %v", got)
	}
	list, err := ListReleases(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || len(list[0].Releases) != 2 || len(list[1].Releases) != 2 {
		t.Fatalf("releases before the rollback: %+v", list)
	}
	v1, v2 := list[0].Releases[0].ID, list[0].Releases[1].ID
	if !list[0].Releases[1].Current || list[1].Releases[0].ID != v1 || list[1].Releases[1].ID != v2 {
		t.Fatalf("releases before the rollback: %+v", list)
	}
	slots := map[string]string{"web1": list[0].Slot, "web2": list[1].Slot}

	// web2's copy of v1 cannot run: its slot never starts there.
	bin := "/srv/echo/releases/" + v1 + "/bin/echo"
	mode := strings.TrimSpace(cl.SSH(t, "web2", "stat -c %a "+bin))
	cl.SSH(t, "web2", "chmod 000 "+bin)

	var buf bytes.Buffer
	o.Out = &buf
	l := hosttest.StartLoad(t, lb, "app.test", "/healthz", 4)
	start := time.Now()
	err = RollbackHosts(context.Background(), o, "")
	l.Check(t, "rollback undone on web1")
	t.Logf("failed rollback took %.1fs: %v\n%s", time.Since(start).Seconds(), err, buf.String())
	if err == nil {
		t.Fatalf("the rollback succeeded with web2's release damaged:\n%s", buf.String())
	}
	for _, want := range []string{"web2: release " + v1, "rollback undone", "web1 back on " + v2} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if !strings.Contains(buf.String(), "↩ back to release "+v2) {
		t.Errorf("the output does not say web1 went back:\n%s", buf.String())
	}

	// Every host runs v2 again, and every record agrees.
	if got := versions(t, lb, 20); got["web1"] != "v2" || got["web2"] != "v2" {
		t.Errorf("after the failed rollback: %v, want web1 and web2 on v2", got)
	}
	list, err = ListReleases(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"web1", "web2"} {
		hr := list[i]
		var current []string
		onDisk := map[string]bool{}
		for _, ri := range hr.Releases {
			if ri.Current {
				current = append(current, ri.ID)
			}
			onDisk[ri.ID] = ri.OnDisk
		}
		if len(current) != 1 || current[0] != v2 || !onDisk[v1] || !onDisk[v2] || len(hr.Releases) != 2 {
			t.Errorf("%s: releases say current %v, on disk %v; want current %s and both releases on disk", name, current, onDisk, v2)
		}
		link := strings.TrimSpace(cl.SSH(t, name, "readlink /srv/echo/current"))
		slotLink := strings.TrimSpace(cl.SSH(t, name, "readlink /srv/echo/slots/"+hr.Slot))
		active := strings.Fields(cl.SSH(t, name, "systemctl is-active echo@a echo@b || true"))
		up := cl.SSH(t, name, "cat /etc/stackctl/echo/upstream.conf")
		port := SlotPort(c, hr.Slot)
		if link != "releases/"+v2 || slotLink != "../releases/"+v2 || !strings.Contains(up, fmt.Sprintf(":%d", port)) {
			t.Errorf("%s: current -> %s, slot %s -> %s, upstream %q; want both on %s and the upstream on :%d", name, link, hr.Slot, slotLink, up, v2, port)
		}
		want := []string{"active", "inactive"}
		if hr.Slot == "b" {
			want = []string{"inactive", "active"}
		}
		if len(active) != 2 || active[0] != want[0] || active[1] != want[1] {
			t.Errorf("%s: slots a, b are %v; state says slot %s serves", name, active, hr.Slot)
		}
	}
	if list[1].Slot != slots["web2"] {
		t.Errorf("web2 serves from slot %s, before the rollback %s: it should not have switched", list[1].Slot, slots["web2"])
	}
	if out := cl.SSH(t, "web1", "ls /var/lib/stackctl/echo/lock 2>&1 || true"); !strings.Contains(out, "No such file") {
		t.Errorf("web1's lock is left: %s", out)
	}

	// Repaired, the same rollback goes through on both hosts.
	cl.SSH(t, "web2", "chmod "+mode+" "+bin)
	o.Out = &buf
	if err := RollbackHosts(context.Background(), o, ""); err != nil {
		t.Fatalf("rollback after the repair: %v\n%s", err, buf.String())
	}
	if got := versions(t, lb, 20); got["web1"] != "v1" || got["web2"] != "v1" {
		t.Errorf("after the repaired rollback: %v, want v1 on both", got)
	}
}

// A deploy cut off between its nginx switch and its last step (a dropped
// connection) leaves state.json naming the slot nginx no longer uses, and
// both slots running. The next deploy must follow nginx, not state.json:
// it starts the new release in the slot that does not serve, so under
// load no request fails, and it says what it found.
func TestDeployFollowsNginxAfterACutOffSwitch(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1").Addr
	c := echoProject(t)
	o := hostOpts(c, dial(t, cl, "", "web1"), nil)
	o.HealthTimeout = 10 * time.Second
	deployOK(t, o)
	setEcho(t, c, "v2", "")
	deployOK(t, o)
	list, err := ListReleases(context.Background(), o)
	if err != nil || len(list) != 1 || len(list[0].Releases) != 2 {
		t.Fatalf("releases: %+v %v", list, err)
	}
	v1, serving := list[0].Releases[0].ID, list[0].Slot
	idle := otherSlot(serving)

	// The state v2's deploy had between its switch and its finish: nginx
	// on v2's slot, state.json still on v1's, v1's slot still running.
	cl.SSH(t, "web1", fmt.Sprintf(`python3 -c 'import json,sys; p="/var/lib/stackctl/echo/state.json"; s=json.load(open(p)); s["slot"]=sys.argv[1]; s["current"]=sys.argv[2]; s["releases"]=s["releases"][:1]; json.dump(s, open(p,"w"))' %s %s`, idle, v1))
	cl.SSH(t, "web1", "systemctl start echo@"+idle)
	if e := echo(t, web1, nil); e.Version != "v2" {
		t.Fatalf("before the next deploy nginx should serve v2, got %q", e.Version)
	}
	// status reports what nginx serves, and prints nothing of its own
	// (its output is its result: --json).
	var quiet bytes.Buffer
	ro := o
	ro.Out = &quiet
	st, err := Status(context.Background(), ro)
	if err != nil || len(st) != 1 || st[0].Slot != serving || st[0].Release != list[0].Releases[1].ID {
		t.Errorf("status after the cut-off: %+v %v; want slot %s, release %s", st, err, serving, list[0].Releases[1].ID)
	}
	if quiet.Len() != 0 {
		t.Errorf("status printed %q", quiet.String())
	}

	setEcho(t, c, "v3", "")
	l := hosttest.StartLoad(t, web1, "app.test", "/healthz", 4)
	out := deployOK(t, o)
	l.Check(t, "deploy after a cut-off switch")
	if want := "nginx serves slot " + serving; !strings.Contains(out, want) || !strings.Contains(out, "cut off after its switch") {
		t.Errorf("the deploy does not say it followed nginx (%q):\n%s", want, out)
	}
	if !strings.Contains(out, "slot "+idle) {
		t.Errorf("the new release should start in slot %s:\n%s", idle, out)
	}
	if e := echo(t, web1, nil); e.Version != "v3" {
		t.Errorf("after the deploy nginx serves %q, want v3", e.Version)
	}
	if active := strings.Fields(cl.SSH(t, "web1", "systemctl is-active echo@"+idle+" echo@"+serving+" || true")); len(active) != 2 || active[0] != "active" || active[1] != "inactive" {
		t.Errorf("slots %s, %s: %v; want the new one active and the old one stopped", idle, serving, active)
	}
}

// The lb's max_fails: upstream.max_fails, at least 32, so that the
// requests app hosts' reloads cost (each retried on the next host) never
// make the lb skip a host; 0 stays 0.
func TestLBMaxFails(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{0, 0}, {1, 32}, {32, 32}, {50, 50}} {
		c := stack.Default("x", "go")
		c.Upstream.MaxFails = tc.in
		if got := lbMaxFails(c); got != tc.want {
			t.Errorf("upstream.max_fails = %d: the lb's max_fails = %d, want %d", tc.in, got, tc.want)
		}
	}
}
