package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// Defaults of Options.
const (
	DefaultReadyTimeout = 30 * time.Second
	DefaultStopTimeout  = 5 * time.Second
	DefaultDrainDelay   = 250 * time.Millisecond
)

// DefaultBackoff is the restart policy when Options.Backoff is zero.
var DefaultBackoff = Backoff{
	Min:       500 * time.Millisecond,
	Max:       8 * time.Second,
	QuickExit: 5 * time.Second,
	CrashLoop: 5,
	Retry:     30 * time.Second,
}

// Backoff is how a copy of the app that exits is started again.
type Backoff struct {
	// Min is the delay before the first restart; it doubles with each quick
	// exit in a row, up to Max.
	Min, Max time.Duration
	// QuickExit: an exit within this long of starting counts as a crash in
	// a row; a copy that ran longer starts the count again.
	QuickExit time.Duration
	// CrashLoop is the number of quick exits in a row reported as a crash
	// loop, after which restarts come every Retry.
	CrashLoop int
	Retry     time.Duration
}

// delay returns how long to wait before starting again after crashes
// quick exits in a row (1 for the first exit), and whether that many are a
// crash loop.
func (b Backoff) delay(crashes int) (d time.Duration, loop bool) {
	if b.CrashLoop > 0 && crashes >= b.CrashLoop {
		return b.Retry, true
	}
	d = b.Min
	for k := 1; k < crashes && d < b.Max; k++ {
		d *= 2
	}
	return min(d, b.Max), false
}

// loopMessage says, once, that a program is in a crash loop.
func (b Backoff) loopMessage(crashes int) string {
	return fmt.Sprintf("crash loop: it exited %d times in a row, each within %s of starting — retrying every %s; fix the error and save to retry now",
		crashes, roundDuration(b.QuickExit), roundDuration(b.Retry))
}

// Options configure a Supervisor.
type Options struct {
	// Config is the project (validated); its folder is where the app runs.
	Config *stack.Config
	// Host is the address the app listens on, given to it as HOST;
	// default 127.0.0.1 (the app is reached through the proxy).
	Host string
	// Public says serve's proxy listens on a non-loopback address: the
	// Flask app then runs without --debug (the Werkzeug debugger runs code
	// for whoever reaches it), and a warning says so.
	Public bool
	// Output returns the writer for the lines of one source: "app", or
	// "app.1"…"app.N" with several replicas. It is called once per process
	// started, plus once per name for the supervisor's own messages. If the
	// writer has a Flush() error method, it is called when a process's
	// output ends. Nil discards everything.
	Output func(name string) io.Writer
	// Colors colors the supervisor's messages (failures red, warnings
	// yellow); nil for none.
	Colors *ui.Palette
	// OnReady is called with the addresses ("127.0.0.1:5000") of the copies
	// of the app that are ready, each time that list changes; an empty list
	// means none is. It is called from the supervisor's goroutine and must
	// not block for long.
	OnReady func(addrs []string)
	// Watch turns on live reload: changes under app.watch rebuild and
	// replace the app.
	Watch bool
	// Debounce is how long file changes must be quiet before a reload;
	// default DefaultDebounce.
	Debounce time.Duration
	// ReadyTimeout is how long a new copy may take to become ready.
	ReadyTimeout time.Duration
	// StopTimeout is how long a copy gets between SIGTERM and SIGKILL.
	StopTimeout time.Duration
	// DrainDelay is how long an old copy keeps running after the proxy was
	// switched away from it, for requests already sent to it.
	DrainDelay time.Duration
	// Backoff is the restart policy; zero for DefaultBackoff.
	Backoff Backoff
	// OnNewVersion is called each time a version of the app starts: at
	// first, and after each change once app.build succeeded. serve
	// restarts the [processes] there, so that they run the code the app
	// runs. It is called from the supervisor's goroutine and must not
	// block for long.
	OnNewVersion func()
	// Environ is the environment the app starts from; nil for os.Environ().
	Environ []string
}

// Supervisor runs, watches, reloads and stops the app's processes. Create
// it with New, then call Run; the other methods may be called from any
// goroutine.
type Supervisor struct {
	opts   Options
	dir    string
	events chan func()
	done   chan struct{}
	tail   *lineRing

	mu        sync.Mutex
	upstreams []string
	msgOut    map[string]io.Writer

	// Owned by Run's goroutine.
	ctx         context.Context
	cfg         *stack.Config
	current     *generation
	candidate   *generation
	nextGen     int
	building    bool
	rebuild     bool
	buildCancel context.CancelFunc
	crashes     int
	loopShown   bool
	warnedDebug bool
	published   []string
	live        map[int]*instance // port -> running process
	fatal       error
	bg          sync.WaitGroup
	stopWatch   context.CancelFunc
}

// generation is one version of the app: a copy per replica.
type generation struct {
	id     int
	cfg    *stack.Config
	insts  []*instance // nil while a crashed copy waits to restart
	ports  []int
	timers []*time.Timer
}

// New checks opts and returns a Supervisor ready to Run.
func New(opts Options) (*Supervisor, error) {
	if opts.Config == nil {
		return nil, errors.New("supervise: no Config")
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Output == nil {
		opts.Output = func(string) io.Writer { return io.Discard }
	}
	if opts.Colors == nil {
		opts.Colors = ui.NewPalette(false)
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if opts.DrainDelay < 0 {
		opts.DrainDelay = 0
	} else if opts.DrainDelay == 0 {
		opts.DrainDelay = DefaultDrainDelay
	}
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = DefaultBackoff
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	dir, err := filepath.Abs(opts.Config.Dir())
	if err != nil {
		return nil, err
	}
	return &Supervisor{
		opts:   opts,
		dir:    dir,
		cfg:    opts.Config,
		events: make(chan func(), 64),
		done:   make(chan struct{}),
		tail:   newLineRing(200),
		msgOut: map[string]io.Writer{},
		live:   map[int]*instance{},
	}, nil
}

// Run builds and starts the app, then keeps it running — restarting copies
// that exit, reloading on changes — until ctx ends; then it stops every
// process it started and returns nil. It returns an error at once when the
// app's port is taken at the first start. Run is called once.
func (s *Supervisor) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx = ctx
	// A taken port is found before a build that may take a while.
	if err := s.firstPorts(); err != nil {
		close(s.done)
		return err
	}
	if s.opts.Watch {
		s.startWatcher()
	}
	s.startBuild("")
	for s.fatal == nil {
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case f := <-s.events:
			f()
		}
	}
	s.shutdown()
	return s.fatal
}

// Reload rebuilds and replaces the app, as a change to its files does;
// changed names the files for the message (may be empty).
func (s *Supervisor) Reload(changed []string) {
	s.post(func() {
		s.crashes, s.loopShown = 0, false
		s.startBuild(s.describeChange(changed))
	})
}

// Update gives the supervisor a new Config (stack.toml changed): new
// watch or ignore settings take effect at once, and any other change to the
// [app] table reloads the app.
func (s *Supervisor) Update(c *stack.Config) {
	s.post(func() {
		old := s.cfg
		s.cfg = c
		if s.opts.Watch && (!slices.Equal(old.App.Watch, c.App.Watch) || !slices.Equal(old.App.Ignore, c.App.Ignore)) {
			s.startWatcher()
		}
		if appChanged(old, c) {
			s.say("app", "", "stack.toml: the [app] settings changed; restarting the app")
			s.crashes, s.loopShown = 0, false
			s.startBuild("")
		}
	})
}

// appChanged reports whether two Configs run the app differently.
func appChanged(a, b *stack.Config) bool {
	x, y := a.App, b.App
	x.Watch, y.Watch, x.Ignore, y.Ignore = nil, nil, nil, nil
	return !reflect.DeepEqual(x, y) || a.Dir() != b.Dir()
}

// Upstreams returns the addresses of the copies that are ready now.
func (s *Supervisor) Upstreams() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.upstreams...)
}

// LastLines returns up to n of the last lines the app and its builds
// printed, oldest first: what an error page shows about why the app is down.
func (s *Supervisor) LastLines(n int) []string { return s.tail.last(n) }

// post runs f on Run's goroutine.
func (s *Supervisor) post(f func()) {
	select {
	case s.events <- f:
	case <-s.done:
	}
}

// writer returns the writer for the supervisor's own messages about name.
func (s *Supervisor) writer(name string) io.Writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.msgOut[name]
	if !ok {
		w = s.opts.Output(name)
		s.msgOut[name] = w
	}
	return w
}

// say prints a message line under name; tone is "", "warn" or "error".
func (s *Supervisor) say(name, tone, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.tail.add(msg)
	switch tone {
	case "warn":
		msg = s.opts.Colors.Yellow(msg)
	case "error":
		msg = s.opts.Colors.Red(msg)
	case "ok":
		msg = s.opts.Colors.Green(msg)
	}
	fmt.Fprintln(s.writer(name), msg)
}

func (s *Supervisor) describeChange(changed []string) string { return describeChange(s.dir, changed) }

// describeChange says which files changed, relative to dir: "main.go
// changed", "main.go and 2 more changed"; "" for none.
func describeChange(dir string, changed []string) string {
	if len(changed) == 0 {
		return ""
	}
	rel := func(p string) string {
		if r, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	if len(changed) == 1 {
		return rel(changed[0]) + " changed"
	}
	return fmt.Sprintf("%s and %d more changed", rel(changed[0]), len(changed)-1)
}

// startWatcher (re)starts the file watcher for the current config.
func (s *Supervisor) startWatcher() {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.stopWatch = cancel
	var skip []string
	if s.cfg.Path != "" {
		skip = append(skip, s.cfg.Path)
	}
	w, err := NewWatcher(WatchSpec{Root: s.dir, Paths: s.cfg.App.Watch, Ignore: NewIgnore(s.cfg.App.Ignore), Skip: skip})
	if err != nil {
		s.say("app", "warn", "live reload is off: %v", err)
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := w.Run(ctx, s.opts.Debounce, s.Reload); err != nil {
			s.post(func() { s.say("app", "warn", "live reload stopped: %v", err) })
		}
	}()
}

// startBuild runs app.build, then starts a new generation; why says what
// changed, for the message.
func (s *Supervisor) startBuild(why string) {
	if s.building {
		s.rebuild = true
		return
	}
	cfg := s.cfg
	if why != "" {
		s.say("app", "", "%s; reloading", why)
	}
	if strings.TrimSpace(cfg.App.Build) == "" {
		s.startGeneration()
		return
	}
	s.building = true
	ctx, cancel := context.WithCancel(s.ctx)
	s.buildCancel = cancel
	s.say("app", "", "building…")
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		out, err := s.runBuild(ctx, cfg)
		s.post(func() { s.buildDone(out, err) })
	}()
}

func (s *Supervisor) buildDone(out []byte, err error) {
	s.building = false
	s.buildCancel()
	if s.ctx.Err() != nil {
		return
	}
	if s.rebuild {
		// Files changed during the build: build what is there now.
		s.rebuild = false
		s.startBuild("")
		return
	}
	w := s.writer("app")
	if len(out) > 0 {
		w.Write(out)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			io.WriteString(w, "\n")
		}
		rw := s.tail.writer()
		rw.Write(out)
		rw.flush()
	}
	if err != nil {
		if s.serving() {
			s.say("app", "error", "build failed (%v); still serving the previous version — fix the error and save to rebuild", err)
		} else {
			s.say("app", "error", "build failed (%v) — fix the error and save to rebuild", err)
		}
		return
	}
	s.startGeneration()
}

// runBuild runs app.build in the project folder, in its own process group,
// and returns its combined output.
func (s *Supervisor) runBuild(ctx context.Context, cfg *stack.Config) ([]byte, error) {
	env, err := s.environ(cfg, cfg.App.Port)
	if err != nil {
		return nil, err
	}
	cmd, err := ParseCommand(cfg.App.Build, lookupIn(env))
	if err != nil {
		return nil, fmt.Errorf("app.build: %w", err)
	}
	return runCombined(ctx, s.dir, append(env, cmd.Env...), cmd.Args, s.opts.StopTimeout)
}

// serving reports whether some copy of the current version is ready.
func (s *Supervisor) serving() bool {
	if s.current == nil {
		return false
	}
	for _, in := range s.current.insts {
		if in != nil && in.ready && !in.exited() {
			return true
		}
	}
	return false
}

// startGeneration starts a copy of the app per replica. While an older
// version serves, the new one is a candidate that replaces it once every
// copy is ready; otherwise it takes over at once.
func (s *Supervisor) startGeneration() {
	cfg := s.cfg
	n := max(cfg.App.Replicas, 1)
	var ports []int
	if s.nextGen == 0 {
		if err := s.firstPorts(); err != nil {
			s.fatal = err
			return
		}
		for i := range n {
			ports = append(ports, cfg.App.Port+i)
		}
	} else {
		ports = s.freshPorts(cfg, n)
		if len(ports) < n {
			s.say("app", "error", "no free port above %d for the new version; still serving the previous one", cfg.App.Port+n)
			return
		}
	}
	gen := &generation{id: s.nextGen, cfg: cfg, insts: make([]*instance, n), ports: ports, timers: make([]*time.Timer, n)}
	s.nextGen++
	if s.opts.OnNewVersion != nil {
		s.opts.OnNewVersion()
	}
	if s.candidate != nil {
		s.stopGeneration(s.candidate, false)
		s.candidate = nil
	}
	if s.serving() {
		s.candidate = gen
	} else {
		if s.current != nil {
			s.stopGeneration(s.current, false)
		}
		s.current = gen
		s.publish()
	}
	for i := range n {
		if err := s.startCopy(gen, i); err != nil {
			if gen == s.candidate {
				s.say(gen.name(i), "error", "cannot start the new version: %v; still serving the previous version", err)
				s.stopGeneration(gen, false)
				s.candidate = nil
				return
			}
			s.retry(gen, i, fmt.Sprintf("cannot start the app: %v", err), true)
		}
	}
}

func (g *generation) name(i int) string {
	if len(g.insts) == 1 {
		return "app"
	}
	return "app." + strconv.Itoa(i+1)
}

// startCopy starts replica i of gen on gen.ports[i].
func (s *Supervisor) startCopy(gen *generation, i int) error {
	cfg := gen.cfg
	port := gen.ports[i]
	env, err := s.environ(cfg, port)
	if err != nil {
		return err
	}
	cmd, err := ParseCommand(cfg.App.Command, lookupIn(env))
	if err != nil {
		return fmt.Errorf("app.command: %w", err)
	}
	if cfg.App.Template == "flask" {
		if flaskAdjust(&cmd, s.dir, s.opts.Public) && !s.warnedDebug {
			s.warnedDebug = true
			s.say("app", "warn", "warning: serve listens on a non-loopback address, so the Flask debugger is off (it runs code for whoever reaches it)")
		}
	}
	name := gen.name(i)
	in, err := startInstance(s.dir, append(env, cmd.Env...), cmd.Args, s.opts.Output(name), s.tail)
	if err != nil {
		return err
	}
	in.gen, in.replica, in.name, in.port = gen, i, name, port
	in.addr = net.JoinHostPort(s.opts.Host, strconv.Itoa(port))
	gen.insts[i] = in
	s.live[port] = in
	s.bg.Add(2)
	go func() {
		defer s.bg.Done()
		<-in.done
		s.post(func() { s.exited(in) })
	}()
	go func() {
		defer s.bg.Done()
		s.waitReady(in, cfg.App.Health)
	}()
	return nil
}

// firstPorts checks that the ports of the first start, app.port and one
// more per replica, are free.
func (s *Supervisor) firstPorts() error {
	n := max(s.cfg.App.Replicas, 1)
	for i := range n {
		p := s.cfg.App.Port + i
		if portFree(s.opts.Host, p) {
			continue
		}
		fix := "stop the program using it, or set app.port in stack.toml to a free port"
		if n > 1 {
			fix = fmt.Sprintf("replica %d uses app.port+%d; stop the program using it, or set app.port in stack.toml", i+1, i)
		}
		return ui.Errorf(fix, "the app's port %d on %s is already in use", p, s.opts.Host)
	}
	return nil
}

// environ is the app's environment for a copy on port: the base
// environment, app.env, the project's .env, then PORT and HOST.
func (s *Supervisor) environ(cfg *stack.Config, port int) ([]string, error) {
	return projectEnv(s.opts.Environ, cfg, s.dir, map[string]string{"PORT": strconv.Itoa(port), "HOST": s.opts.Host})
}

// projectEnv is the environment of a program of the project in dir: base,
// app.env, the project's .env, what the app's kind needs (a Flask app's
// virtualenv), then own.
func projectEnv(base []string, cfg *stack.Config, dir string, own map[string]string) ([]string, error) {
	dotenv, err := readDotEnv(dir)
	if err != nil {
		return nil, err
	}
	kind := map[string]string{}
	if cfg.App.Template == "flask" {
		if envMap(base)["PYTHONUNBUFFERED"] == "" {
			kind["PYTHONUNBUFFERED"] = "1" // log lines as they happen
		}
		venv := filepath.Join(dir, ".venv")
		if isFile(filepath.Join(venv, "bin", "python")) {
			kind["VIRTUAL_ENV"] = venv
			kind["PATH"] = filepath.Join(venv, "bin") + string(os.PathListSeparator) + envMap(base)["PATH"]
		}
	}
	return mergeEnv(base, cfg.App.Env, dotenv, kind, own), nil
}

// freshPorts finds n free ports above app.port+replicas, skipping those the
// supervisor's own processes use.
func (s *Supervisor) freshPorts(cfg *stack.Config, n int) []int {
	var out []int
	for p := cfg.App.Port + max(cfg.App.Replicas, 1); p <= 65535 && len(out) < n; p++ {
		if _, busy := s.live[p]; busy {
			continue
		}
		if portFree(s.opts.Host, p) {
			out = append(out, p)
		}
	}
	return out
}

// portFree reports whether a TCP port can be listened on at host.
func portFree(host string, port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// ready is called when copy in answered its readiness check.
func (s *Supervisor) ready(in *instance, took time.Duration, how string) {
	if in.stopping || in.exited() {
		return
	}
	in.ready = true
	s.say(in.name, "ok", "ready in %s (%s)", roundDuration(took), how)
	gen := in.gen
	switch gen {
	case s.current:
		s.publish()
	case s.candidate:
		for _, c := range gen.insts {
			if c == nil || !c.ready {
				return
			}
		}
		old := s.current
		s.current, s.candidate = gen, nil
		s.publish()
		if old != nil {
			s.stopGeneration(old, true)
		}
		s.say("app", "", "now serving the new version")
	}
}

// notReady is called when copy in is still not ready after ReadyTimeout.
func (s *Supervisor) notReady(in *instance, last string) {
	if in.stopping || in.exited() || in.ready {
		return
	}
	if strings.HasSuffix(last, "connection refused") {
		last += fmt.Sprintf(": does app.command make the app listen on $PORT (%d)?", in.port)
	}
	if in.gen == s.candidate {
		s.say(in.name, "error", "the new version is not ready after %s (%s); still serving the previous version", roundDuration(s.opts.ReadyTimeout), last)
		s.stopGeneration(in.gen, false)
		s.candidate = nil
		return
	}
	s.say(in.name, "warn", "not ready after %s (%s); still waiting", roundDuration(s.opts.ReadyTimeout), last)
}

// exited is called when a copy's process ended.
func (s *Supervisor) exited(in *instance) {
	if s.live[in.port] == in {
		delete(s.live, in.port)
	}
	if in.stopping {
		return
	}
	// Whatever the app left running in its group goes with it.
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		stopGroup(in.pid, nil, s.opts.StopTimeout)
	}()
	gen := in.gen
	status := in.exitStatus()
	if gen == s.candidate {
		s.say(in.name, "error", "the new version %s before it was ready; still serving the previous version", status)
		s.stopGeneration(gen, false)
		s.candidate = nil
		return
	}
	if gen != s.current || gen.insts[in.replica] != in {
		return
	}
	gen.insts[in.replica] = nil
	s.publish()
	s.retry(gen, in.replica, status, time.Since(in.started) < s.opts.Backoff.QuickExit)
}

// retry schedules replica i of gen to start again after the copy there
// ended (status says how); quick exits in a row back off, and CrashLoop of
// them are reported once as a crash loop.
func (s *Supervisor) retry(gen *generation, i int, status string, quick bool) {
	if quick {
		s.crashes++
	} else {
		s.crashes, s.loopShown = 1, false
	}
	b := s.opts.Backoff
	delay, loop := b.delay(s.crashes)
	name := gen.name(i)
	switch {
	case loop && !s.loopShown:
		s.loopShown = true
		s.say(name, "error", "%s; %s", status, b.loopMessage(s.crashes))
	case loop:
		s.say(name, "error", "%s; retrying in %s", status, roundDuration(delay))
	default:
		s.say(name, "error", "%s; restarting in %s", status, roundDuration(delay))
	}
	if t := gen.timers[i]; t != nil {
		t.Stop()
	}
	gen.timers[i] = time.AfterFunc(delay, func() { s.post(func() { s.restart(gen, i) }) })
}

// restart starts replica i of the current version again, on its port if
// it is still free.
func (s *Supervisor) restart(gen *generation, i int) {
	if gen != s.current || gen.insts[i] != nil || s.ctx.Err() != nil {
		return
	}
	if !portFree(s.opts.Host, gen.ports[i]) {
		if ps := s.freshPorts(gen.cfg, 1); len(ps) == 1 {
			gen.ports[i] = ps[0]
		}
	}
	if err := s.startCopy(gen, i); err != nil {
		s.retry(gen, i, fmt.Sprintf("cannot start the app: %v", err), true)
	}
}

// publish reports the ready addresses of the current version to OnReady
// when they changed.
func (s *Supervisor) publish() {
	var addrs []string
	if s.current != nil {
		for _, in := range s.current.insts {
			if in != nil && in.ready && !in.stopping && !in.exited() {
				addrs = append(addrs, in.addr)
			}
		}
	}
	if slices.Equal(addrs, s.published) {
		return
	}
	s.published = addrs
	s.mu.Lock()
	s.upstreams = append([]string(nil), addrs...)
	s.mu.Unlock()
	if s.opts.OnReady != nil {
		s.opts.OnReady(append([]string(nil), addrs...))
	}
}

// stopGeneration stops every copy of gen in the background; with drain,
// each first gets DrainDelay for requests already sent to it.
func (s *Supervisor) stopGeneration(gen *generation, drain bool) {
	for i, in := range gen.insts {
		if t := gen.timers[i]; t != nil {
			t.Stop()
		}
		if in == nil || in.stopping {
			continue
		}
		in.stopping = true
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			if drain {
				select {
				case <-time.After(s.opts.DrainDelay):
				case <-s.done:
				}
			}
			if killed := in.stop(s.opts.StopTimeout); killed {
				s.post(func() {
					s.say(in.name, "warn", "pid %d did not stop within %s of SIGTERM; killed it", in.pid, s.opts.StopTimeout)
				})
			}
		}()
	}
}

// shutdown stops everything and waits until every process is gone.
func (s *Supervisor) shutdown() {
	if s.buildCancel != nil {
		s.buildCancel()
	}
	if s.stopWatch != nil {
		s.stopWatch()
	}
	for _, g := range []*generation{s.candidate, s.current} {
		if g != nil {
			s.stopGeneration(g, false)
		}
	}
	// Copies left from earlier versions that are still stopping are in
	// s.bg too.
	close(s.done)
	s.bg.Wait()
}

// roundDuration writes a duration for people: "12ms", "0.9s", "1m30s".
func roundDuration(d time.Duration) string {
	if d < 100*time.Millisecond {
		return d.Round(time.Millisecond).String()
	}
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return d.Round(time.Second).String()
}
