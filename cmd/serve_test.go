package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
	"github.com/stackctl/stackctl/internal/ui"
)

func TestServeFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    ServeOptions
		wantErr string
	}{
		{args: nil, want: ServeOptions{LogFormat: "combined"}},
		{args: []string{"--listen", "9000", "--replicas", "3", "--quiet", "--log-format", "json", "--config", "x/stack.toml"},
			want: ServeOptions{Listen: "9000", Replicas: 3, Quiet: true, LogFormat: "json", Config: "x/stack.toml"}},
		{args: []string{"--no-app", "--upstream", "127.0.0.1:5000", "--upstream", "127.0.0.1:5001"},
			want: ServeOptions{NoApp: true, Upstreams: []string{"127.0.0.1:5000", "127.0.0.1:5001"}, LogFormat: "combined"}},
		{args: []string{"--upstream", "127.0.0.1:5000"}, wantErr: "--upstream is for --no-app"},
		{args: []string{"--log-format", "xml"}, wantErr: `--log-format "xml" is not a log format — use combined or json`},
		{args: []string{"--replicas", "0"}, wantErr: "--replicas 0 is not a number of copies"},
		{args: []string{"--only", "web,worker", "--only", "mailer"},
			want: ServeOptions{Only: []string{"web", "worker", "mailer"}, LogFormat: "combined"}},
		{args: []string{"--only", "web,", "--no-app"}, wantErr: "--only has an empty name"},
		{args: []string{"--only", "worker", "--no-app"}, wantErr: "--no-app is about the proxy, which runs only with web in --only"},
		{args: []string{"extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		io, _, _, _ := ui.Test()
		f := &Factory{IO: io}
		var got *ServeOptions
		cmd := newCmdServeWith(f, func(o *ServeOptions) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		tt.want.IO = io
		if fmt.Sprint(*got) != fmt.Sprint(tt.want) {
			t.Errorf("%q: options %+v, want %+v", tt.args, *got, tt.want)
		}
	}
}

func TestServeUsageErrorsExit2(t *testing.T) {
	io, _, _, errOut := ui.Test()
	f := &Factory{IO: io}
	if code := run(f, NewRootCmd(f), []string{"serve", "--upstream", "127.0.0.1:1"}); code != 2 {
		t.Errorf("exit code %d, want 2; stderr %s", code, errOut)
	}
}

func TestApplyServeFlags(t *testing.T) {
	c := stack.Default("myapp", "go")
	if err := applyServeFlags(c, &ServeOptions{Listen: "9000", Replicas: 2, Upstreams: []string{"127.0.0.1:7000"}}); err != nil {
		t.Fatal(err)
	}
	if c.Serve.Listen != "9000" || c.App.Replicas != 2 || c.Upstream.Servers[0] != "127.0.0.1:7000" {
		t.Errorf("flags not applied: %+v %+v %+v", c.Serve, c.App, c.Upstream)
	}
	for _, o := range []ServeOptions{{Listen: "nope:"}, {Listen: "5000"}, {Upstreams: []string{"no port"}}} {
		c := stack.Default("myapp", "go")
		err := applyServeFlags(c, &o)
		var ue *ui.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%+v: error %v, want a usage error", o, err)
		}
	}
}

// serving runs serve in the background for a test.
type serving struct {
	t      *testing.T
	out    *testutil.SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

func startServe(t *testing.T, opts *ServeOptions) *serving {
	t.Helper()
	s := &serving{t: t, out: &testutil.SyncBuffer{}, done: make(chan error, 1)}
	opts.IO = &ui.IOStreams{In: strings.NewReader(""), Out: s.out, ErrOut: s.out}
	if opts.LogFormat == "" {
		opts.LogFormat = "combined"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	opts.Context = ctx
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = 5 * time.Second
	}
	go func() { s.done <- runServe(opts) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() || testing.Verbose() {
			t.Logf("serve output:\n%s", s.out)
		}
	})
	return s
}

func (s *serving) stop() error {
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(30 * time.Second):
		s.t.Fatalf("serve did not stop 30s after Ctrl-C\n%s", s.out)
		return nil
	}
}

// waitFor waits until the output matches re and returns the submatches.
func (s *serving) waitFor(re string) []string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := rx.FindStringSubmatch(s.out.String()); m != nil {
			return m
		}
		select {
		case err := <-s.done:
			s.done <- err
			s.t.Fatalf("serve ended (%v) before %q:\n%s", err, re, s.out)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %q:\n%s", re, s.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeStack(t *testing.T, dir string, c *stack.Config) string {
	t.Helper()
	p := filepath.Join(dir, stack.FileName)
	if err := c.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeNoAppProxiesToUpstream(t *testing.T) {
	var mu sync.Mutex
	var gotPath, gotHost string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotPath, gotHost = r.URL.RequestURI(), r.Host
		mu.Unlock()
		fmt.Fprint(w, "hello from the upstream")
	}))
	defer app.Close()
	dir := t.TempDir()
	c := stack.Default("myapp", "go")
	port := testutil.PortRange(t, 1)
	c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(port)
	cfgPath := writeStack(t, dir, c)
	upstream := strings.TrimPrefix(app.URL, "http://")

	s := startServe(t, &ServeOptions{Config: cfgPath, NoApp: true, Upstreams: []string{upstream}})
	m := s.waitFor(`  proxy \| listening on (http://127\.0\.0\.1:\d+) -> (\S+) \(--no-app: start the app yourself\)`)
	if m[2] != upstream {
		t.Errorf("startup line names %s, want %s", m[2], upstream)
	}
	code, body := httpGet(t, m[1]+"/some/path?q=1")
	if code != 200 || body != "hello from the upstream" {
		t.Errorf("GET through serve: %d %q", code, body)
	}
	mu.Lock()
	if gotPath != "/some/path?q=1" || gotHost == "" {
		t.Errorf("upstream saw %q host %q", gotPath, gotHost)
	}
	mu.Unlock()
	s.waitFor(`  proxy \| .*GET /some/path\?q=1`) // the access log
	if err := s.stop(); err != nil {
		t.Errorf("serve returned %v after Ctrl-C", err)
	}
	if _, err := net.Dial("tcp", m[1][len("http://"):]); err == nil {
		t.Error("the proxy still accepts connections after shutdown")
	}
}

func TestServeListenPortInUse(t *testing.T) {
	port := testutil.PortRange(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := stack.Default("myapp", "go")
	c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(port)
	cfgPath := writeStack(t, t.TempDir(), c)
	io, _, _, _ := ui.Test()
	err = runServe(&ServeOptions{IO: io, Config: cfgPath, NoApp: true, LogFormat: "combined", Context: context.Background()})
	want := fmt.Sprintf("the proxy's port %d is already in use", port)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("error %v, want %q and a fix naming --listen", err, want)
	}
}

func TestServeShutdownLetsRequestsInFlightFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		fmt.Fprint(w, "done")
	}))
	defer app.Close()
	c := stack.Default("myapp", "go")
	c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(testutil.PortRange(t, 1))
	cfgPath := writeStack(t, t.TempDir(), c)
	s := startServe(t, &ServeOptions{Config: cfgPath, NoApp: true, Upstreams: []string{strings.TrimPrefix(app.URL, "http://")}})
	url := s.waitFor(`listening on (http://\S+)`)[1]

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-started
	s.cancel() // Ctrl-C while the request is in flight
	// Once the proxy stops accepting, the request is still being served.
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the proxy still accepts connections after Ctrl-C")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-s.done:
		s.done <- err
		t.Fatalf("serve returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "done" {
		t.Errorf("request in flight at shutdown: %d %q %v", r.code, r.body, r.err)
	}
	if err := s.stop(); err != nil {
		t.Errorf("serve: %v", err)
	}
}

// Ctrl-C while the app is stuck on a request stops serve when the grace
// period ends, not when the app answers (a request served inside the
// connection's read callback used to hold Shutdown's close of the socket).
func TestServeStopsWithinGraceDuringStuckRequest(t *testing.T) {
	started, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(started) })
		<-unblock
	}))
	defer app.Close()
	defer close(unblock) // before app.Close, which waits for the handler
	c := stack.Default("myapp", "go")
	c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(testutil.PortRange(t, 1))
	c.Proxy.ReadTimeout = "5m"
	cfgPath := writeStack(t, t.TempDir(), c)
	const grace = time.Second
	s := startServe(t, &ServeOptions{Config: cfgPath, NoApp: true, ShutdownGrace: grace, Upstreams: []string{strings.TrimPrefix(app.URL, "http://")}})
	url := s.waitFor(`listening on (http://\S+)`)[1]
	go func() {
		client := http.Client{Timeout: 30 * time.Second}
		if resp, err := client.Get(url + "/stuck"); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the app")
	}
	start := time.Now()
	s.cancel()
	select {
	case <-s.done:
		if d := time.Since(start); d < grace {
			t.Errorf("serve stopped after %v, before its %v grace period", d, grace)
		}
	case <-time.After(grace + 10*time.Second):
		t.Fatalf("serve still runs %v after Ctrl-C with a %v grace period", grace+10*time.Second, grace)
	}
	s.done <- nil
}

// Requests sent without a pause while the app is reloaded several times
// (a watched file changes) all succeed through the proxy.
func TestServeReloadsWithoutFailedRequests(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "serveapp")
	build := exec.Command("go", "build", "-o", bin, "./testdata/serveapp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test app: %v\n%s", err, out)
	}
	port := testutil.PortRange(t, 12)
	c := stack.Default("myapp", "go")
	c.App.Port = port
	c.App.Build = ""
	c.App.Command = bin
	c.App.Replicas = 2
	c.App.Env = map[string]string{"GREETING": "hi"}
	c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(port+11)
	cfgPath := writeStack(t, dir, c)
	s := startServe(t, &ServeOptions{Config: cfgPath, Quiet: true})
	url := s.waitFor(`listening on (http://\S+)`)[1]
	s.waitFor(`app\.2 \| ready in`)
	s.waitFor(`app\.1 \| ready in`)

	var mu sync.Mutex
	pids := map[string]bool{}
	var ok, failed int
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(url + "/")
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hi from pid ") {
					failed++
					if len(failures) < 5 {
						failures = append(failures, fmt.Sprintf("%v %q", err, body))
					}
				} else {
					ok++
					pids[strings.Fields(string(body))[3]] = true
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 3 {
		os.WriteFile(filepath.Join(dir, "trigger.txt"), []byte(strconv.Itoa(i)), 0o644)
		s.waitFor(fmt.Sprintf(`(?s)(now serving the new version.*){%d}`, i+1))
	}
	// Let requests reach the last version, then stop.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(pids)
		mu.Unlock()
		if n >= 8 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests, %d failed, answered by %d processes", ok+failed, failed, len(pids))
	if failed > 0 {
		t.Errorf("%d of %d requests failed across 3 reloads: %q", failed, ok+failed, failures)
	}
	if len(pids) != 8 {
		t.Errorf("answered by %d processes, want 8 (2 replicas, 3 reloads)", len(pids))
	}
}

func TestServeAppPortInUse(t *testing.T) {
	port := testutil.PortRange(t, 2)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := stack.Default("myapp", "go")
	c.App.Port = port
	c.App.Build = "false" // must not even build
	c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(port+1)
	cfgPath := writeStack(t, t.TempDir(), c)
	s := startServe(t, &ServeOptions{Config: cfgPath})
	var err2 error
	select {
	case err2 = <-s.done:
		s.done <- err2
	case <-time.After(20 * time.Second):
		t.Fatal("serve kept running with the app's port taken")
	}
	want := fmt.Sprintf("the app's port %d on 127.0.0.1 is already in use", port)
	if err2 == nil || !strings.Contains(err2.Error(), want) {
		t.Errorf("error %v, want %q", err2, want)
	}
	if strings.Contains(s.out.String(), "building") {
		t.Errorf("serve built an app it cannot start:\n%s", s.out)
	}
}

func TestServeColorsPrefixesOnlyOnATerminal(t *testing.T) {
	for _, tt := range []struct {
		tty, noColor, want bool
	}{{true, false, true}, {true, true, false}, {false, false, false}} {
		c := stack.Default("myapp", "go")
		c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(testutil.PortRange(t, 1))
		cfgPath := writeStack(t, t.TempDir(), c)
		out := &testutil.SyncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- runServe(&ServeOptions{
				IO:     &ui.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: out, OutTTY: tt.tty, NoColor: tt.noColor},
				Config: cfgPath, NoApp: true, LogFormat: "combined", Context: ctx,
			})
		}()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), "listening on") && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		colored := strings.HasPrefix(out.String(), "\x1b[36m  proxy | \x1b[0m")
		if colored != tt.want || !strings.Contains(out.String(), "proxy | ") {
			t.Errorf("tty=%v no-color=%v: colored prefix %v, want %v: %q", tt.tty, tt.noColor, colored, tt.want, out.String())
		}
	}
}

// While the app is down, the proxy answers 502 with the app's last lines.
func TestServeAppDownIs502WithTheAppsLastLines(t *testing.T) {
	port := testutil.PortRange(t, 3)
	c := stack.Default("myapp", "go")
	c.App.Port = port
	c.App.Build = ""
	c.App.Command = `sh -c "echo the-app-failed-marker; exit 3"`
	c.Serve.Listen = "127.0.0.1:" + strconv.Itoa(port+2)
	cfgPath := writeStack(t, t.TempDir(), c)
	s := startServe(t, &ServeOptions{Config: cfgPath, HoldTimeout: 200 * time.Millisecond})
	url := s.waitFor(`listening on (http://\S+)`)[1]
	s.waitFor(`app \| exited with status 3; restarting in`)
	code, body := httpGet(t, url+"/")
	if code != http.StatusBadGateway || !strings.Contains(body, "the-app-failed-marker") || !strings.Contains(body, "exited with status 3") {
		t.Errorf("GET / with the app down: %d\n%s", code, body)
	}
}

func TestServeListen(t *testing.T) {
	for in, want := range map[string]string{
		"9000":           "127.0.0.1:9000",
		"127.0.0.1:8080": "127.0.0.1:8080",
		":8080":          ":8080",
		"0.0.0.0:8080":   "0.0.0.0:8080",
		"[::1]:8080":     "[::1]:8080",
	} {
		if got := serveListen(in).String(); got != want {
			t.Errorf("serveListen(%q) = %s, want %s", in, got, want)
		}
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "": false, "0.0.0.0": false, "192.168.1.2": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
}
