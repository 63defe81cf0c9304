package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/proxy"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/supervise"
	"github.com/stackctl/stackctl/internal/ui"
)

// ServeOptions are the inputs of `stackctl serve`.
type ServeOptions struct {
	IO *ui.IOStreams

	Config    string   // --config
	Listen    string   // --listen: serve.listen
	Replicas  int      // --replicas: app.replicas (0: keep)
	Upstreams []string // --upstream: upstream.servers (with --no-app)
	NoApp     bool     // --no-app
	Quiet     bool     // --quiet
	LogFormat string   // --log-format

	// Context ends serve as Ctrl-C does; nil for SIGINT/SIGTERM.
	Context context.Context
	// ShutdownGrace is how long in-flight requests get at shutdown.
	ShutdownGrace time.Duration
	// HoldTimeout is how long the proxy holds a request while no copy of
	// the app is ready; 0 for the proxy's default.
	HoldTimeout time.Duration
}

func newCmdServe(f *Factory) *cobra.Command { return newCmdServeWith(f, nil) }

// newCmdServeWith builds the command; runF replaces the real run in tests.
func newCmdServeWith(f *Factory, runF func(*ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: f.IO}
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the app behind an embedded proxy that behaves like the generated nginx",
		Long: `Run the app the way production runs it: the app on its own port, and in
front of it a reverse proxy built from the same stack.toml as gen-nginx's
site, with nginx's headers, limits, timeouts, static folders and errors.

serve builds the app (app.build), starts app.command with PORT and HOST set
(app.env and a .env file on top), waits until it answers app.health, and
restarts it if it exits. When a file under app.watch changes it rebuilds,
starts the new version on a fresh port, switches the proxy once it is ready
and stops the old one, so no request fails; a failed build keeps the old
version serving. Changes to stack.toml apply at once.

With --no-app only the proxy runs, in front of upstream.servers (or
--upstream) or the app's port, for an app you run yourself (in a debugger,
say).

Ctrl-C stops accepting connections, lets requests in flight finish, then
stops the app and everything it started.`,
		Example: `  stackctl serve
  stackctl serve --listen 9000 --replicas 3
  stackctl serve --listen 0.0.0.0:8080   # reachable from other machines
  stackctl serve --no-app --upstream 127.0.0.1:5000
  stackctl serve --quiet --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.LogFormat != "combined" && opts.LogFormat != "json" {
				return ui.Usagef("use combined or json", "--log-format %q is not a log format", opts.LogFormat)
			}
			if len(opts.Upstreams) > 0 && !opts.NoApp {
				return ui.Usagef("add --no-app, or drop --upstream to run the app", "--upstream is for --no-app: serve proxies to the app it runs")
			}
			if cmd.Flags().Changed("replicas") && opts.Replicas < 1 {
				return ui.Usagef("pass 1 or more", "--replicas %d is not a number of copies", opts.Replicas)
			}
			if runF != nil {
				return runF(opts)
			}
			return runServe(opts)
		},
	}
	addConfigFlag(c, &opts.Config)
	fl := c.Flags()
	fl.StringVar(&opts.Listen, "listen", "", "where the proxy listens: a port (on 127.0.0.1) or HOST:PORT, :PORT for all addresses (serve.listen)")
	fl.IntVar(&opts.Replicas, "replicas", 0, "copies of the app to run, on consecutive ports (app.replicas)")
	fl.StringArrayVar(&opts.Upstreams, "upstream", nil, "with --no-app: a server to proxy to, host:port (repeatable; upstream.servers)")
	fl.BoolVar(&opts.NoApp, "no-app", false, "run only the proxy, in front of an app you start yourself")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "no access log")
	fl.StringVar(&opts.LogFormat, "log-format", "combined", "access log format: combined (nginx's) or json")
	return c
}

// applyServeFlags sets the keys the flags override, for one run.
func applyServeFlags(c *stack.Config, opts *ServeOptions) error {
	if opts.Listen != "" {
		c.Serve.Listen = opts.Listen
	}
	if opts.Replicas > 0 {
		c.App.Replicas = opts.Replicas
	}
	if len(opts.Upstreams) > 0 {
		c.Upstream.Servers = append([]string(nil), opts.Upstreams...)
	}
	return revalidate(c)
}

// serveListen parses serve.listen (validated). A bare port means
// 127.0.0.1, as 'stackctl new --listen' writes it: a development server
// is reached from other machines only when asked for (0.0.0.0:8080, :8080).
func serveListen(s string) stack.Listen {
	l, _ := stack.ParseListen(s)
	if !strings.Contains(s, ":") {
		l.Host = "127.0.0.1"
	}
	return l
}

// isLoopback reports whether a listen host only takes local connections.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func runServe(opts *ServeOptions) error {
	cfg, err := loadConfig(opts.Config)
	if err != nil {
		return err
	}
	if err := applyServeFlags(cfg, opts); err != nil {
		return err
	}
	ctx := opts.Context
	if ctx == nil {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	grace := opts.ShutdownGrace
	if grace <= 0 {
		grace = 10 * time.Second
	}

	listen := serveListen(cfg.Serve.Listen)
	ln, err := net.Listen("tcp", listen.String())
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return ui.Errorf("stop the program using it, or pass --listen with another port (serve.listen)",
				"the proxy's port %d is already in use (%s)", listen.Port, listen.String())
		}
		return ui.WithFix(err, "check serve.listen or --listen")
	}
	defer ln.Close()
	public := !isLoopback(listen.Host)

	mux := ui.NewLogMux(opts.IO.Out, opts.IO.ColorOut())
	proxyOut := mux.Writer("proxy")
	colors := opts.IO.OutColors()
	say := func(tone func(string) string, format string, args ...any) {
		fmt.Fprintln(proxyOut, tone(fmt.Sprintf(format, args...)))
	}
	plain := func(s string) string { return s }

	var sup *supervise.Supervisor
	popts := proxy.Options{HoldTimeout: opts.HoldTimeout, LogFormat: opts.LogFormat}
	if !opts.Quiet {
		popts.AccessLog = proxyOut
	}
	if opts.NoApp {
		popts.Upstreams = cfg.AppUpstreams()
	} else {
		popts.ErrorHints = func() []string { return sup.LastLines(20) }
	}
	p, err := proxy.New(cfg, popts)
	if err != nil {
		return err
	}
	if !opts.NoApp {
		sup, err = supervise.New(supervise.Options{
			Config:  cfg,
			Public:  public,
			Output:  func(name string) io.Writer { return mux.Writer(name) },
			Colors:  colors,
			OnReady: p.SetUpstreams,
			Watch:   true,
		})
		if err != nil {
			return err
		}
	}

	target := "app on " + strings.Join(cfg.AppUpstreams(), ", ")
	if opts.NoApp {
		target = strings.Join(cfg.AppUpstreams(), ", ") + " (--no-app: start the app yourself)"
	}
	say(plain, "listening on %s -> %s", displayURL(ln.Addr(), listen.Host), target)
	if public {
		say(colors.Yellow, "warning: %s is not a loopback address: other machines can reach this development server", ln.Addr())
	}

	// Both run until shutdown; either failing ends serve.
	serveErr := make(chan error, 1)
	go func() { serveErr <- p.Serve(ln) }()
	supCtx, supCancel := context.WithCancel(context.Background())
	defer supCancel()
	supErr := make(chan error, 1)
	if sup != nil {
		go func() { supErr <- sup.Run(supCtx) }()
	}
	cfgCtx, cfgCancel := context.WithCancel(ctx)
	defer cfgCancel()
	if cfg.Path != "" {
		watchConfig(cfgCtx, cfg, opts, p, sup, say, colors)
	}

	var runErr error
	select {
	case <-ctx.Done():
		say(plain, "shutting down")
	case err := <-serveErr:
		runErr = err
		serveErr <- nil
	case err := <-supErr:
		runErr = err
		supErr <- nil
	}
	cfgCancel()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		say(colors.Yellow, "requests still in flight after %s were cut off", grace)
	}
	<-serveErr
	supCancel()
	if sup != nil {
		<-supErr
	}
	return runErr
}

// displayURL is the proxy's address as a URL to open: a wildcard listen
// shows as the machine's loopback address.
func displayURL(addr net.Addr, host string) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	h := host
	if h == "" {
		h = "0.0.0.0"
	}
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return "http://" + h + ":" + strconv.Itoa(ta.Port)
}

// watchConfig re-reads stack.toml when it changes: the proxy takes the new
// site settings at once and the supervisor restarts the app if its settings
// changed; an invalid file is reported and the running config kept.
func watchConfig(ctx context.Context, cfg *stack.Config, opts *ServeOptions, p *proxy.Proxy, sup *supervise.Supervisor,
	say func(func(string) string, string, ...any), colors *ui.Palette) {
	w, err := supervise.NewWatcher(supervise.WatchSpec{Root: cfg.Dir(), Files: []string{cfg.Path}})
	if err != nil {
		say(colors.Yellow, "not watching %s: %v", cfg.Path, err)
		return
	}
	running := cfg
	name := filepath.Base(cfg.Path)
	go w.Run(ctx, supervise.DefaultDebounce, func([]string) {
		next, err := stack.Load(cfg.Path)
		if err == nil {
			err = applyServeFlags(next, opts)
		}
		if err != nil {
			say(colors.Red, "%s changed but is not valid; keeping the running config:\n%v", name, err)
			return
		}
		if next.Serve.Listen != running.Serve.Listen {
			say(colors.Yellow, "serve.listen changed to %s: restart serve to listen there", next.Serve.Listen)
		}
		if opts.NoApp && !slices.Equal(next.AppUpstreams(), running.AppUpstreams()) {
			p.SetUpstreams(next.AppUpstreams())
		}
		if err := p.Update(next); err != nil {
			say(colors.Red, "%s: %v; keeping the running config", name, err)
			return
		}
		say(func(s string) string { return s }, "%s reloaded", name)
		if sup != nil {
			sup.Update(next)
		}
		running = next
	})
}
