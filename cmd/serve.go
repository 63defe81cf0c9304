package cmd

import (
	"context"
	"crypto/tls"
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

	"github.com/stackctl/stackctl/internal/localca"
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
	Only      []string // --only: "web" and names of [processes]; nil for all
	HTTPS     bool     // --https: TLS with the local CA, as if nginx.tls.enabled

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

Beside the app, serve runs every process of stack.toml's [processes] (a
worker, a mailer), count copies each, with the app's environment, each line
prefixed with the process's name. One that exits is restarted with back-off
while the others go on; a new version of the app restarts them all. --only
picks what runs: web (the app and the proxy) and names from [processes].

With --https the proxy speaks HTTPS, as the site does with nginx.tls.enabled:
the app sees X-Forwarded-Proto: https, HSTS is sent as nginx.tls.hsts says,
and plain HTTP on the same port is redirected to https. The certificate
comes from a local CA that stackctl makes once in your config folder
(~/.config/stackctl/ca on Linux) and covers localhost, 127.0.0.1, ::1 and
proxy.server_names; serve prints how to make your system and browsers
trust that CA.

With --no-app the proxy runs without the app, in front of upstream.servers
(or --upstream) or the app's port, for an app you run yourself (in a
debugger, say).

Ctrl-C stops accepting connections, lets requests in flight finish, then
stops the app, the processes and everything they started.`,
		Example: `  stackctl serve
  stackctl serve --listen 9000 --replicas 3
  stackctl serve --listen 0.0.0.0:8080   # reachable from other machines
  stackctl serve --https                # https://127.0.0.1:8080 with a local CA
  stackctl serve --no-app --upstream 127.0.0.1:5000
  stackctl serve --quiet --log-format json
  stackctl serve --only web,worker      # the app, the proxy and the worker
  stackctl serve --only worker          # the worker alone: no app, no proxy`,
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
			if cmd.Flags().Changed("only") {
				if slices.Contains(opts.Only, "") || len(opts.Only) == 0 {
					return ui.Usagef("name what to run, such as --only web,worker", "--only has an empty name")
				}
				if !slices.Contains(opts.Only, "web") && (opts.NoApp || len(opts.Upstreams) > 0) {
					return ui.Usagef("add web to --only, or drop --no-app", "--no-app is about the proxy, which runs only with web in --only")
				}
				if !slices.Contains(opts.Only, "web") && opts.HTTPS {
					return ui.Usagef("add web to --only, or drop --https", "--https is about the proxy, which runs only with web in --only")
				}
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
	fl.BoolVar(&opts.HTTPS, "https", false, "serve HTTPS with a certificate from stackctl's local CA, as if nginx.tls.enabled; plain HTTP is redirected")
	fl.StringSliceVar(&opts.Only, "only", nil, "run only these, comma-separated: web (the app and the proxy) and names from [processes]")
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

// serveSelection reads --only against c: whether the web app (the app and
// the proxy) runs, and which processes (nil: all of [processes]; empty:
// none). A name that is neither web nor a process is a usage error listing
// the known names.
func serveSelection(c *stack.Config, only []string) (web bool, procs []string, err error) {
	if only == nil {
		return true, nil, nil
	}
	procs = []string{}
	for _, name := range only {
		switch _, ok := c.Processes[name]; {
		case name == "web":
			web = true
		case ok:
			if !slices.Contains(procs, name) {
				procs = append(procs, name)
			}
		default:
			known := append([]string{"web"}, c.ProcessNames()...)
			return false, nil, ui.Usagef("use one of: "+strings.Join(known, ", "),
				"--only %q: stack.toml has no process by that name", name)
		}
	}
	return web, procs, nil
}

func runServe(opts *ServeOptions) error {
	cfg, err := loadConfig(opts.Config)
	if err != nil {
		return err
	}
	if err := applyServeFlags(cfg, opts); err != nil {
		return err
	}
	web, only, err := serveSelection(cfg, opts.Only)
	if err != nil {
		return err
	}
	runApp := web && !opts.NoApp
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

	mux := ui.NewLogMux(opts.IO.Out, opts.IO.ColorOut())
	colors := opts.IO.OutColors()
	// serve's own lines go under the proxy, or under "serve" without it.
	ownName := "proxy"
	if !web {
		ownName = "serve"
	}
	ownOut := mux.Writer(ownName)
	say := func(tone func(string) string, format string, args ...any) {
		fmt.Fprintln(ownOut, tone(fmt.Sprintf(format, args...)))
	}
	plain := func(s string) string { return s }
	output := func(name string) io.Writer { return mux.Writer(name) }

	var procs *supervise.Processes
	if only == nil || len(only) > 0 {
		procs, err = supervise.NewProcesses(supervise.ProcessOptions{
			Config:    cfg,
			Only:      only,
			Output:    output,
			Colors:    colors,
			FollowApp: runApp,
		})
		if err != nil {
			return err
		}
		alignProcessNames(mux, cfg, only)
	}

	var (
		ln        net.Listener
		p         *proxy.Proxy
		sup       *supervise.Supervisor
		tlsConfig *tls.Config // --https
	)
	public := false
	if web {
		listen := serveListen(cfg.Serve.Listen)
		ln, err = net.Listen("tcp", listen.String())
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return ui.Errorf("stop the program using it, or pass --listen with another port (serve.listen)",
					"the proxy's port %d is already in use (%s)", listen.Port, listen.String())
			}
			return ui.WithFix(err, "check serve.listen or --listen")
		}
		defer ln.Close()
		public = !isLoopback(listen.Host)
		popts := proxy.Options{HoldTimeout: opts.HoldTimeout, LogFormat: opts.LogFormat}
		if !opts.Quiet {
			popts.AccessLog = ownOut
		}
		if opts.NoApp {
			popts.Upstreams = cfg.AppUpstreams()
		} else {
			popts.ErrorHints = func() []string { return sup.LastLines(20) }
		}
		if p, err = proxy.New(cfg, popts); err != nil {
			return err
		}
		if opts.HTTPS {
			if tlsConfig, err = serveTLSConfig(cfg, say, colors); err != nil {
				return err
			}
		}
		target := "app on " + strings.Join(cfg.AppUpstreams(), ", ")
		if opts.NoApp {
			target = strings.Join(cfg.AppUpstreams(), ", ") + " (--no-app: start the app yourself)"
		}
		say(plain, "listening on %s -> %s", displayURL(ln.Addr(), listen.Host, opts.HTTPS), target)
		if public {
			say(colors.Yellow, "warning: %s is not a loopback address: other machines can reach this development server", ln.Addr())
		}
	} else {
		say(plain, "running %s (--only: no app, no proxy)", strings.Join(only, ", "))
	}
	if runApp {
		sopts := supervise.Options{
			Config:  cfg,
			Public:  public,
			Output:  output,
			Colors:  colors,
			OnReady: p.SetUpstreams,
			Watch:   true,
		}
		if procs != nil {
			// The processes run the code the app runs: they start once it
			// is built, and again with each new version.
			sopts.OnNewVersion = func() { procs.Restart("the app changed") }
		}
		if sup, err = supervise.New(sopts); err != nil {
			return err
		}
	}

	// Each runs until shutdown; the proxy or the app failing ends serve.
	serveErr := make(chan error, 1)
	if p != nil {
		if tlsConfig != nil {
			go func() { serveErr <- p.ServeTLS(ln, tlsConfig) }()
		} else {
			go func() { serveErr <- p.Serve(ln) }()
		}
	}
	supCtx, supCancel := context.WithCancel(context.Background())
	defer supCancel()
	supErr := make(chan error, 1)
	if sup != nil {
		go func() { supErr <- sup.Run(supCtx) }()
	}
	procsDone := make(chan struct{})
	if procs != nil {
		go func() {
			procs.Run(supCtx)
			close(procsDone)
		}()
	} else {
		close(procsDone)
	}
	cfgCtx, cfgCancel := context.WithCancel(ctx)
	defer cfgCancel()
	if cfg.Path != "" {
		watchConfig(cfgCtx, cfg, opts, p, sup, procs, say, colors)
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
	if p != nil {
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := p.Shutdown(sctx); err != nil {
			say(colors.Yellow, "requests still in flight after %s were cut off", grace)
		}
		<-serveErr
	}
	supCancel()
	if sup != nil {
		<-supErr
	}
	<-procsDone
	return runErr
}

// alignProcessNames gives the log column the width of the longest
// process name at once, so that lines do not shift as copies start.
func alignProcessNames(mux *ui.LogMux, c *stack.Config, only []string) {
	for name, pr := range c.Processes {
		if only != nil && !slices.Contains(only, name) {
			continue
		}
		if pr.Count > 1 {
			name += "." + strconv.Itoa(pr.Count)
		}
		mux.Writer(name)
	}
}

// displayURL is the proxy's address as a URL to open: a wildcard listen
// shows as the machine's loopback address.
func displayURL(addr net.Addr, host string, https bool) string {
	scheme := "http://"
	if https {
		scheme = "https://"
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return scheme + addr.String()
	}
	h := host
	if h == "" {
		h = "0.0.0.0"
	}
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return scheme + h + ":" + strconv.Itoa(ta.Port)
}

// serveTLSConfig opens (or makes, the first time) the local CA, gets its
// leaf for localhost and proxy.server_names, and says where the CA is and
// how to trust it.
func serveTLSConfig(cfg *stack.Config, say func(func(string) string, string, ...any), colors *ui.Palette) (*tls.Config, error) {
	dir, err := localca.DefaultDir()
	if err != nil {
		return nil, ui.WithFix(err, "set $HOME (or $XDG_CONFIG_HOME) for --https's local CA")
	}
	ca, err := localca.Open(dir)
	if err != nil {
		var ce *localca.Error
		if errors.As(err, &ce) {
			return nil, ui.Errorf(ce.Fix, "--https: the local CA cannot be used: %v", ce)
		}
		return nil, ui.WithFix(fmt.Errorf("--https: making the local CA in %s: %w", dir, err), "check that the folder can be written")
	}
	leaf, err := ca.Leaf(cfg.Proxy.ServerNames)
	if err != nil {
		var ce *localca.Error
		if errors.As(err, &ce) {
			return nil, ui.Errorf(ce.Fix, "--https: the local certificate cannot be used: %v", ce)
		}
		return nil, ui.WithFix(fmt.Errorf("--https: writing the local certificate in %s: %w", dir, err), "check that the folder can be written")
	}
	if ca.Created {
		say(colors.Green, "made a local CA for --https: %s (its key stays in that folder)", ca.CertFile)
	}
	if leaf.Renewed != "" {
		say(func(s string) string { return s }, "certificate for %s, valid until %s (new: %s)",
			strings.Join(leaf.Names, ", "), leaf.NotAfter.Format(time.DateOnly), leaf.Renewed)
	}
	say(func(s string) string { return s }, "HTTPS with the local CA %s; to trust it (once):", ca.CertFile)
	for _, l := range localca.TrustHowTo(ca.CertFile) {
		say(func(s string) string { return s }, "  %s", l)
	}
	if cfg.Nginx.TLS.HSTS {
		say(colors.Yellow, "HSTS is on (nginx.tls.hsts): a browser that trusts the CA will use https for these names on every port for a year; set nginx.tls.hsts = false to try without")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{leaf.Certificate},
		MinVersion:   tls.VersionTLS12,
		// HTTP/1.1 only, as the embedded proxy speaks.
		NextProtos: []string{"http/1.1"},
	}, nil
}

// watchConfig re-reads stack.toml when it changes: the proxy takes the new
// site settings at once, the supervisor restarts the app if its settings
// changed and the processes follow [processes]; an invalid file is reported
// and the running config kept. p, sup and procs are nil when they do not
// run.
func watchConfig(ctx context.Context, cfg *stack.Config, opts *ServeOptions, p *proxy.Proxy, sup *supervise.Supervisor,
	procs *supervise.Processes, say func(func(string) string, string, ...any), colors *ui.Palette) {
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
		if p != nil {
			if next.Serve.Listen != running.Serve.Listen {
				say(colors.Yellow, "serve.listen changed to %s: restart serve to listen there", next.Serve.Listen)
			}
			if opts.HTTPS && !slices.Equal(localca.LeafNames(next.Proxy.ServerNames), localca.LeafNames(running.Proxy.ServerNames)) {
				say(colors.Yellow, "proxy.server_names changed: restart serve for a certificate with the new names")
			}
			if opts.NoApp && !slices.Equal(next.AppUpstreams(), running.AppUpstreams()) {
				p.SetUpstreams(next.AppUpstreams())
			}
			if err := p.Update(next); err != nil {
				say(colors.Red, "%s: %v; keeping the running config", name, err)
				return
			}
		}
		say(func(s string) string { return s }, "%s reloaded", name)
		if sup != nil {
			sup.Update(next)
		}
		if procs != nil {
			procs.Update(next)
		}
		running = next
	})
}
