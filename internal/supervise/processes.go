package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// ProcessOptions configure a Processes.
type ProcessOptions struct {
	// Config is the project (validated): its [processes], and the folder,
	// app.env and .env they run with.
	Config *stack.Config
	// Only names the processes to run; nil runs every one of [processes].
	// A name that is not in [processes] runs nothing until an Update adds
	// it.
	Only []string
	// Output returns the writer for the lines of one copy: the process's
	// name, or "name.1"…"name.N" when its count is above 1. The group's own
	// messages about a copy go there too. Nil discards everything.
	Output func(name string) io.Writer
	// Colors colors the group's messages; nil for none.
	Colors *ui.Palette
	// Backoff is the restart policy of a copy that exits; zero for
	// DefaultBackoff.
	Backoff Backoff
	// Environ is the environment the processes start from; nil for
	// os.Environ(). app.env and the project's .env go on top, as for the
	// app.
	Environ []string
	// FollowApp says the app's Supervisor runs beside the group and tells
	// it when to (re)start, through Restart from its OnNewVersion: the
	// processes start at the first Restart, once the app is built. Without
	// it the processes start when Run does, and the group itself restarts
	// them when files under app.watch or app.env change.
	FollowApp bool
	// Debounce is how long file changes must be quiet before a restart
	// (without FollowApp); default DefaultDebounce.
	Debounce time.Duration
}

// Processes runs the processes of stack.toml's [processes] for serve,
// beside the app: count copies of each, each copy its command under
// /bin/sh -c in the project folder, in a process group of its own that
// the kernel kills if serve dies. A copy that exits is started again with
// the app's capped exponential back-off while the others go on. Restart
// (a new version of the code) and Update (a new stack.toml) start new
// copies at once and stop the old ones as a deploy does: SIGTERM, then the
// process's stop_timeout to finish the job in hand, then SIGKILL.
//
// Create it with NewProcesses, then call Run; the other methods may be
// called from any goroutine.
type Processes struct {
	opts   ProcessOptions
	dir    string
	events chan func()
	done   chan struct{}
	bg     sync.WaitGroup

	mu     sync.Mutex
	msgOut map[string]io.Writer

	// Owned by Run's goroutine.
	ctx       context.Context
	cfg       *stack.Config
	started   bool
	copies    map[string][]*procCopy // by process name
	stopWatch context.CancelFunc
}

// procCopy is one copy of a process and its restarts.
type procCopy struct {
	name      string // "worker", or "worker.2" when count > 1
	spec      stack.Process
	cur       *process // nil while none runs
	timer     *time.Timer
	crashes   int
	loopShown bool
	removed   bool
}

// NewProcesses checks opts and returns a Processes ready to Run.
func NewProcesses(opts ProcessOptions) (*Processes, error) {
	if opts.Config == nil {
		return nil, errors.New("supervise: no Config")
	}
	if opts.Output == nil {
		opts.Output = func(string) io.Writer { return io.Discard }
	}
	if opts.Colors == nil {
		opts.Colors = ui.NewPalette(false)
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
	return &Processes{
		opts:   opts,
		dir:    dir,
		cfg:    opts.Config,
		events: make(chan func(), 64),
		done:   make(chan struct{}),
		msgOut: map[string]io.Writer{},
		copies: map[string][]*procCopy{},
	}, nil
}

// names returns the names of the processes the group runs for c, sorted.
func (g *Processes) names(c *stack.Config) []string {
	var names []string
	for _, n := range c.ProcessNames() {
		if g.opts.Only == nil || slices.Contains(g.opts.Only, n) {
			names = append(names, n)
		}
	}
	return names
}

// Run starts the processes (without FollowApp) and keeps them running
// until ctx ends; then it stops every copy, its process group included,
// and returns once all are gone. Run is called once.
func (g *Processes) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g.ctx = ctx
	if !g.opts.FollowApp {
		g.startWatcher()
		g.startAll("")
	}
	for {
		select {
		case <-ctx.Done():
			g.shutdown()
			return
		case f := <-g.events:
			f()
		}
	}
}

// Restart starts a new copy of every process and stops the old ones; why,
// when not empty, is said under each process. With FollowApp the first
// call starts the processes (and why is not said).
func (g *Processes) Restart(why string) {
	g.post(func() { g.startAll(why) })
}

// Update gives the group a new Config (stack.toml changed): processes
// added to [processes] start, removed ones stop, and those whose command,
// count or stop_timeout changed restart. Without FollowApp a change of
// app.env restarts every process, and one of app.watch or app.ignore
// takes effect at once.
func (g *Processes) Update(c *stack.Config) {
	g.post(func() {
		old := g.cfg
		g.cfg = c
		if !g.started {
			return
		}
		if !g.opts.FollowApp {
			if !slices.Equal(old.App.Watch, c.App.Watch) || !slices.Equal(old.App.Ignore, c.App.Ignore) {
				g.startWatcher()
			}
			if !maps.Equal(old.App.Env, c.App.Env) {
				g.startAll("stack.toml: app.env changed")
				return
			}
		}
		names := g.names(c)
		for name, copies := range g.copies {
			if !slices.Contains(names, name) {
				for _, pc := range copies {
					g.say(pc.name, "", "no longer in stack.toml's [processes]; stopping")
					g.stopCopy(pc)
				}
				delete(g.copies, name)
			}
		}
		for _, name := range names {
			copies, ok := g.copies[name]
			spec := c.Processes[name]
			switch {
			case !ok:
				g.say(name, "", "added to stack.toml's [processes]; starting")
			case !sameProcess(copies[0].spec, spec):
				g.say(name, "", "stack.toml: its settings changed; restarting")
			default:
				continue
			}
			g.startProcess(name, spec)
		}
	})
}

// sameProcess reports whether two settings of a process run it alike.
func sameProcess(a, b stack.Process) bool {
	return a.Command == b.Command && a.Count == b.Count && a.StopTimeout.Duration() == b.StopTimeout.Duration()
}

// post runs f on Run's goroutine.
func (g *Processes) post(f func()) {
	select {
	case g.events <- f:
	case <-g.done:
	}
}

// startAll starts a new set of copies of every process, stopping the old.
func (g *Processes) startAll(why string) {
	if g.ctx.Err() != nil {
		return
	}
	first := !g.started
	g.started = true
	names := g.names(g.cfg)
	for name, copies := range g.copies {
		if !slices.Contains(names, name) {
			for _, pc := range copies {
				g.stopCopy(pc)
			}
			delete(g.copies, name)
		}
	}
	for _, name := range names {
		if why != "" && !first {
			g.say(name, "", "%s; restarting", why)
		}
		g.startProcess(name, g.cfg.Processes[name])
	}
}

// startProcess stops the copies of name that run and starts count new ones.
func (g *Processes) startProcess(name string, spec stack.Process) {
	for _, pc := range g.copies[name] {
		g.stopCopy(pc)
	}
	n := max(spec.Count, 1)
	copies := make([]*procCopy, n)
	for i := range copies {
		pc := &procCopy{name: name, spec: spec}
		if n > 1 {
			pc.name = name + "." + strconv.Itoa(i+1)
		}
		copies[i] = pc
		g.startCopy(pc)
	}
	g.copies[name] = copies
}

// startCopy runs pc's command; a failure to start counts as a quick exit.
func (g *Processes) startCopy(pc *procCopy) {
	env, err := projectEnv(g.opts.Environ, g.cfg, g.dir, nil)
	if err != nil {
		g.retry(pc, fmt.Sprintf("cannot start: %v", err), true)
		return
	}
	p, err := startProcess(g.dir, env, []string{"/bin/sh", "-c", shellScript(pc.spec.Command)}, g.opts.Output(pc.name), nil)
	if err != nil {
		g.retry(pc, fmt.Sprintf("cannot start: %v", err), true)
		return
	}
	pc.cur = p
	g.say(pc.name, "", "started with pid %d", p.pid)
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		<-p.done
		g.post(func() { g.exited(pc, p) })
	}()
}

// exited is called when a copy's process ended.
func (g *Processes) exited(pc *procCopy, p *process) {
	if pc.cur != p {
		return // stopped on purpose
	}
	pc.cur = nil
	// Whatever it left running in its group goes with it.
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		stopGroup(p.pid, nil, stopTimeout(pc.spec))
	}()
	g.retry(pc, p.exitStatus(), time.Since(p.started) < g.opts.Backoff.QuickExit)
}

// retry schedules pc to start again after its process ended (status says
// how); quick exits in a row back off, and a crash loop is said once.
func (g *Processes) retry(pc *procCopy, status string, quick bool) {
	if quick {
		pc.crashes++
	} else {
		pc.crashes, pc.loopShown = 1, false
	}
	b := g.opts.Backoff
	delay, loop := b.delay(pc.crashes)
	switch {
	case loop && !pc.loopShown:
		pc.loopShown = true
		g.say(pc.name, "error", "%s; %s", status, b.loopMessage(pc.crashes))
	case loop:
		g.say(pc.name, "error", "%s; retrying in %s", status, roundDuration(delay))
	default:
		g.say(pc.name, "error", "%s; restarting in %s", status, roundDuration(delay))
	}
	if pc.timer != nil {
		pc.timer.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		g.post(func() {
			if pc.timer == t && pc.cur == nil && !pc.removed && g.ctx.Err() == nil {
				pc.timer = nil
				g.startCopy(pc)
			}
		})
	})
	pc.timer = t
}

// stopCopy stops pc for good, in the background: SIGTERM to its group,
// stop_timeout, then SIGKILL.
func (g *Processes) stopCopy(pc *procCopy) {
	pc.removed = true
	if pc.timer != nil {
		pc.timer.Stop()
		pc.timer = nil
	}
	p := pc.cur
	if p == nil {
		return
	}
	pc.cur = nil
	timeout := stopTimeout(pc.spec)
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		if killed := p.stop(timeout); killed {
			g.say(pc.name, "warn", "pid %d did not stop within %s of SIGTERM (stop_timeout); killed it", p.pid, roundDuration(timeout))
		}
	}()
}

// stopTimeout is how long a copy of spec gets between SIGTERM and SIGKILL.
func stopTimeout(spec stack.Process) time.Duration {
	if d := spec.StopTimeout.Duration(); d > 0 {
		return d
	}
	return stack.Duration(stack.DefaultStopTimeout).Duration()
}

// startWatcher (re)starts the watcher of app.watch (without FollowApp).
func (g *Processes) startWatcher() {
	if g.stopWatch != nil {
		g.stopWatch()
	}
	ctx, cancel := context.WithCancel(g.ctx)
	g.stopWatch = cancel
	var skip []string
	if g.cfg.Path != "" {
		skip = append(skip, g.cfg.Path)
	}
	w, err := NewWatcher(WatchSpec{Root: g.dir, Paths: g.cfg.App.Watch, Ignore: NewIgnore(g.cfg.App.Ignore), Skip: skip})
	if err != nil {
		for _, name := range g.names(g.cfg) {
			g.say(name, "warn", "restarts on code changes are off: %v", err)
		}
		return
	}
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		w.Run(ctx, g.opts.Debounce, func(changed []string) { g.Restart(describeChange(g.dir, changed)) })
	}()
}

// shutdown stops every copy and waits until every process is gone.
func (g *Processes) shutdown() {
	if g.stopWatch != nil {
		g.stopWatch()
	}
	for _, copies := range g.copies {
		for _, pc := range copies {
			g.stopCopy(pc)
		}
	}
	close(g.done)
	g.bg.Wait()
}

// writer returns the writer for the group's messages about name.
func (g *Processes) writer(name string) io.Writer {
	g.mu.Lock()
	defer g.mu.Unlock()
	w, ok := g.msgOut[name]
	if !ok {
		w = g.opts.Output(name)
		g.msgOut[name] = w
	}
	return w
}

// say prints a message line under name; tone is "", "warn" or "error".
func (g *Processes) say(name, tone, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	switch tone {
	case "warn":
		msg = g.opts.Colors.Yellow(msg)
	case "error":
		msg = g.opts.Colors.Red(msg)
	}
	fmt.Fprintln(g.writer(name), msg)
}

// shellReserved are the words that begin a compound command in sh, which
// `exec` cannot precede.
var shellReserved = map[string]bool{"!": true, "{": true, "if": true, "while": true, "until": true, "for": true, "case": true}

// shellScript is what /bin/sh -c runs for a process's command: a simple
// command is run with exec, so that sh replaces itself with the program,
// which then gets SIGTERM itself and dies with serve (the parent-death
// signal outlives exec, not a fork); anything more is run as written.
func shellScript(line string) string {
	p := &wordParser{in: line, lookup: func(string) string { return "" }}
	words, err := p.parse()
	if err != nil || p.compound || len(words) == 0 || p.assign[0] || shellReserved[words[0]] {
		return line
	}
	return "exec " + strings.TrimSpace(line)
}
