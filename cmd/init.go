package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/detect"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
	"github.com/stackctl/stackctl/scaffold"
)

// InitOptions are the inputs of `stackctl init`.
type InitOptions struct {
	IO       *ui.IOStreams
	Prompter func() (ui.Prompter, error)

	// Dir is the project's folder.
	Dir string
	// Detect holds --template, --app and --main.
	Detect detect.Options
	// Port, Domain, Listen and Static are the flags' values; Given says
	// which flags were given ("port", "domain", "listen", "static", and
	// "data" for --data or --no-data).
	Port   int
	Domain string
	Listen string
	Static bool
	Given  map[string]bool
	// Data is app.data from --data (Given["data"]), instead of what init
	// proposes; NoData (--no-data) is an empty app.data.
	Data   []string
	NoData bool
	// Yes asks nothing: detection, flags and defaults only.
	Yes bool
}

func newCmdInit(f *Factory) *cobra.Command {
	return newCmdInitRun(f, runInit)
}

func newCmdInitRun(f *Factory, runF func(*InitOptions) error) *cobra.Command {
	opts := &InitOptions{IO: f.IO, Prompter: f.Prompter, Given: map[string]bool{}}
	var noStatic bool
	c := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write the stack.toml of an existing Django, Flask or Go project",
		Long: `Adopt a project stackctl did not make: init looks at the files in DIR (the
current folder by default), says what it found and why, and writes the
stack.toml that makes serve, gen-nginx and deploy work for it.

It reads files only and never runs the project's code:
  Django  manage.py and the settings module it names: serve runs
          'manage.py runserver 127.0.0.1:$PORT --noreload', production runs
          gunicorn on WSGI_APPLICATION, STATIC_URL/STATIC_ROOT become the
          static folder, deploy runs collectstatic into the release.
  Flask   a module or package creating Flask(...) or defining create_app
          (app.py, wsgi.py, PACKAGE/, src/PACKAGE/): 'flask --app' for serve,
          gunicorn on module:app or module:create_app() in production.
  Go      go.mod with a main package at the root or in cmd/NAME/.
Python apps run with the project's .venv when it has one, else python3;
init says when that interpreter cannot import the framework.

A release is read-only on servers: what the app writes lives in app.data,
paths that become links into /var/lib/<service>/, kept across releases.
init proposes Flask's instance folder when the app uses it, Django's
MEDIA_ROOT and SQLite database, and any SQLite file in the project, and says
why for each; --data names the paths instead, --no-data none.

A Procfile (name: command lines) is read too: the web line's gunicorn app
becomes app.wsgi (app.command stays serve's dev server), release: becomes
deploy.release_command, every other line a [processes] entry; a line init
cannot take is skipped with a warning naming Procfile:LINE.

On a terminal, init asks for what it could not tell (which app, when there
are several) and for the settings below, with defaults. With --yes, or
without a terminal, nothing is asked; several candidates are then an error
naming the flag that picks one. An existing stack.toml is never overwritten.`,
		Example: `  # in the project's folder
  cd mysite && stackctl init

  # no questions
  stackctl init --yes --port 8000 --domain mysite.example.org

  # two Go programs in cmd/: pick one; two Flask apps: --app
  stackctl init --yes --main ./cmd/server
  stackctl init --yes --app src/shop

  # the paths the app writes, instead of what init proposes
  stackctl init --yes --data instance --data uploads
  stackctl init --yes --no-data

  # then
  stackctl serve`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return ui.Usagef("give at most one folder: stackctl init [DIR]", "init takes one DIR, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Dir = "."
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			for _, fl := range []string{"port", "domain", "listen", "static", "data"} {
				opts.Given[fl] = c.Flags().Changed(fl)
			}
			if c.Flags().Changed("no-static") {
				if c.Flags().Changed("static") {
					return ui.Usagef("pass one of them", "--static and --no-static both given")
				}
				opts.Static = !noStatic
				opts.Given["static"] = true
			}
			if opts.NoData {
				if c.Flags().Changed("data") {
					return ui.Usagef("pass one of them", "--data and --no-data both given")
				}
				opts.Given["data"] = true
			}
			return runF(opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.Detect.Template, "template", "", "the kind of project, instead of detecting it: "+strings.Join(detect.Kinds, ", "))
	fl.StringVar(&opts.Detect.App, "app", "", "the Flask app, when there are several: its module file or package folder (app.py, shop, src/shop)")
	fl.StringVar(&opts.Detect.Main, "main", "", "the Go main package, when there are several (., ./cmd/server)")
	fl.IntVar(&opts.Port, "port", 0, "the app's port (default 5000, or the port the Go code fixes)")
	fl.StringVar(&opts.Domain, "domain", "", `the domain nginx serves (default "example.com")`)
	fl.StringVar(&opts.Listen, "listen", "", `where 'stackctl serve' listens: a port (on 127.0.0.1) or an address (default "127.0.0.1:8080")`)
	fl.BoolVar(&opts.Static, "static", true, "serve the app's static folder from the front (proxy.static), when it has one")
	fl.BoolVar(&noStatic, "no-static", false, "no static folder: the app serves its static files itself")
	fl.StringArrayVar(&opts.Data, "data", nil, "a path the app writes, kept in the data folder on servers (app.data), instead of what init proposes; repeat for more")
	fl.BoolVar(&opts.NoData, "no-data", false, "an empty app.data: the app writes nothing that must survive a release")
	fl.BoolVar(&opts.Yes, "yes", false, "ask nothing: use detection, flags and defaults")
	_ = c.RegisterFlagCompletionFunc("template", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return detect.Kinds, cobra.ShellCompDirectiveNoFileComp
	})
	_ = c.MarkFlagDirname("main")
	return c
}

// settings are the answers init asks for besides detection.
type initSettings struct {
	Port         int
	Domain       string
	Listen       string
	Static       bool
	StaticExists bool
	// NoData: the user declined the proposed app.data.
	NoData bool
}

func runInit(opts *InitOptions) error {
	if err := checkInitFlags(opts); err != nil {
		return err
	}
	if st, err := os.Stat(opts.Dir); err != nil || !st.IsDir() {
		return ui.Usagef("run init in the project's folder, or name it: stackctl init DIR", "%s is not a folder", opts.Dir)
	}
	path := filepath.Join(opts.Dir, stack.FileName)
	interactive := !opts.Yes && opts.IO.CanPrompt()
	var p ui.Prompter
	if interactive {
		var err error
		if p, err = opts.Prompter(); err != nil {
			return err
		}
	}
	do := opts.Detect
	do.Domain = stack.DefaultDomain
	if opts.Given["domain"] {
		do.Domain = opts.Domain
	}
	// Refuse before asking anything.
	if err := detect.CheckNew(path); err != nil {
		return err
	}
	proj, do, err := detectAsking(opts.Dir, do, p)
	if err != nil {
		return err
	}
	chooseData(proj, opts)
	s := initSettings{Port: stack.DefaultPort, Domain: stack.DefaultDomain, Listen: stack.DefaultServeListen, Static: proj.Static != nil}
	if proj.Port != 0 {
		s.Port = proj.Port
	}
	if opts.Given["port"] {
		s.Port = opts.Port
	}
	if opts.Given["domain"] {
		s.Domain = opts.Domain
	}
	if opts.Given["listen"] {
		s.Listen = opts.Listen
	}
	if opts.Given["static"] {
		s.Static = opts.Static && proj.Static != nil
		if opts.Static && proj.Static == nil {
			proj.Warnings = append(proj.Warnings, "--static: the app has no static folder that init found, so the front serves none — add a [[proxy.static]] table to stack.toml by hand")
		}
	}
	if interactive {
		if err := askInit(p, &s, opts.Given, proj); err != nil {
			if errors.Is(err, ui.ErrInterrupted) {
				return &ui.ExitError{Code: 130, Msg: "interrupted: nothing was written"}
			}
			return err
		}
		if s.Domain != do.Domain {
			do.Domain = s.Domain
			if proj, err = detect.Detect(opts.Dir, do); err != nil {
				return err
			}
			chooseData(proj, opts)
		}
		if s.NoData {
			proj.SetData(nil, "you answered no")
		}
	}
	listen, err := scaffold.NormalizeListen(s.Listen, s.Port)
	if err != nil {
		if !opts.Given["listen"] && !interactive {
			// The default address took the port given.
			return ui.Usagef("pass --listen with another port, or another --port", "--port: %d is also the port of the local proxy (serve.listen %s)", s.Port, s.Listen)
		}
		return &ui.UsageError{Err: fmt.Errorf("--listen: %w", err)}
	}
	if proj.Module != "" {
		if w := detect.CheckImport(proj.Python, proj.Module); w != "" {
			proj.Warnings = append(proj.Warnings, w)
		}
	}
	c := proj.Config()
	c.App.Port = s.Port
	c.Proxy.ServerNames = []string{s.Domain}
	c.Serve.Listen = listen
	if !s.Static {
		c.Proxy.Static = nil
	}
	if err := detect.WriteNew(path, c); err != nil {
		return err
	}
	printInit(opts.IO, path, proj, c)
	return nil
}

// detectAsking detects the project; when several candidates fit and p is
// not nil, it asks which and detects again with the answer. It returns the
// options with the answers, to detect the same project again.
func detectAsking(dir string, o detect.Options, p ui.Prompter) (*detect.Project, detect.Options, error) {
	for range 3 { // kind, then app or main package
		proj, err := detect.Detect(dir, o)
		var amb *detect.AmbiguousError
		if !errors.As(err, &amb) {
			return proj, o, err
		}
		if p == nil {
			return nil, o, &ui.UsageError{Err: amb}
		}
		var options []string
		for _, c := range amb.Candidates {
			options = append(options, c.Name+"  ("+c.Why+")")
		}
		ans, err := p.Select("Which of the "+amb.What+"?", "init found several; "+amb.Flag+" picks one without asking.", options, options[0])
		if err != nil {
			if errors.Is(err, ui.ErrInterrupted) {
				return nil, o, &ui.ExitError{Code: 130, Msg: "interrupted: nothing was written"}
			}
			return nil, o, err
		}
		name, _, _ := strings.Cut(ans, "  (")
		switch amb.Flag {
		case "--template":
			o.Template = name
		case "--app":
			o.App = name
		case "--main":
			o.Main = name
		}
	}
	proj, err := detect.Detect(dir, o)
	return proj, o, err
}

// checkInitFlags checks each flag's value before anything is asked.
func checkInitFlags(opts *InitOptions) error {
	if opts.Given["port"] {
		if err := scaffold.CheckPort(opts.Port); err != nil {
			return &ui.UsageError{Err: fmt.Errorf("--port: %w", err)}
		}
	}
	if opts.Given["domain"] {
		if err := scaffold.CheckDomain(opts.Domain); err != nil {
			return &ui.UsageError{Err: fmt.Errorf("--domain: %w", err)}
		}
	}
	if opts.Given["listen"] {
		if _, err := stack.ParseListen(opts.Listen); err != nil {
			return ui.Usagef("use a port or an address such as 8080 or 127.0.0.1:8080", "--listen: %v", err)
		}
	}
	for i, d := range opts.Data {
		if err := stack.ValidateDataPath(d); err != nil {
			return ui.Usagef("name a folder or file of the project the app writes, such as --data instance; --no-data for none", "--data: %v", err)
		}
		for _, o := range opts.Data[:i] {
			if stack.DataOverlaps(d, o) {
				return ui.Usagef("give each path once, and not one inside another", "--data %s overlaps --data %s", d, o)
			}
		}
	}
	if t := opts.Detect.Template; t != "" && !slices.Contains(detect.Kinds, t) {
		return ui.Usagef("pick one of "+strings.Join(detect.Kinds, ", "), "--template %q is not a kind init knows", t)
	}
	return nil
}

// askInit asks for each setting no flag gave.
func askInit(p ui.Prompter, s *initSettings, given map[string]bool, proj *detect.Project) error {
	if !given["port"] {
		a, err := p.Input("App port:", "The port the app listens on under serve and in production (app.port); the proxy forwards to it.", strconv.Itoa(s.Port), func(v string) error {
			_, err := scaffold.ParsePort(v)
			return err
		})
		if err != nil {
			return err
		}
		s.Port, _ = scaffold.ParsePort(a)
	}
	if !given["domain"] {
		d, err := p.Input("Domain nginx serves:", "The domain nginx will serve (proxy.server_names), such as example.com.", s.Domain, scaffold.CheckDomain)
		if err != nil {
			return err
		}
		s.Domain = d
	}
	if !given["listen"] {
		def := s.Listen
		if _, err := scaffold.NormalizeListen(def, s.Port); err != nil {
			def = ""
		}
		l, err := p.Input("Local proxy (stackctl serve) listens on:", "A port, meaning 127.0.0.1:PORT, or an address such as 0.0.0.0:8080. It must differ from the app's port.", def, func(v string) error {
			_, err := scaffold.NormalizeListen(v, s.Port)
			return err
		})
		if err != nil {
			return err
		}
		s.Listen = l
	}
	if !given["static"] && proj.Static != nil {
		ok, err := p.Confirm("Serve "+proj.Static.Dir+"/ at "+proj.Static.URL+" from the front?", "nginx (and serve's proxy) answer "+proj.Static.URL+" from the folder, without the app.", true)
		if err != nil {
			return err
		}
		s.Static = ok
	}
	if !given["data"] && len(proj.Data) > 0 {
		ok, err := p.Confirm("Keep "+strings.Join(proj.DataPaths(), ", ")+" in the app's data folder on servers?",
			"Each becomes, in every release, a link into /var/lib/<service>/, kept across releases (app.data); 'Detected' below says why each. --data and --no-data choose without asking.", true)
		if err != nil {
			return err
		}
		s.NoData = !ok
	}
	return nil
}

// chooseData applies --data and --no-data to what detection proposed.
func chooseData(proj *detect.Project, opts *InitOptions) {
	switch {
	case opts.NoData:
		proj.SetData(nil, "--no-data")
	case opts.Given["data"]:
		proj.SetData(opts.Data, "--data")
	}
}

func printInit(io *ui.IOStreams, path string, proj *detect.Project, c *stack.Config) {
	pal := io.OutColors()
	w := io.Out
	fmt.Fprintf(w, "%s Wrote %s for %s (%s app)\n", pal.Green("✓"), pal.Cyan(path), pal.Bold(c.Name), c.App.Template)
	fmt.Fprintf(w, "\nDetected:\n")
	for _, f := range proj.Found {
		fmt.Fprintf(w, "  %s %s\n", pal.Faint("•"), f)
	}
	if len(proj.Warnings) > 0 {
		fmt.Fprintf(w, "\nTo look at:\n")
		for _, x := range proj.Warnings {
			fmt.Fprintf(w, "  %s %s\n", pal.Yellow("!"), x)
		}
	}
	steps := [][2]string{
		{"stackctl serve", "the app behind the local proxy on http://" + c.Serve.Listen + "/"},
		{"stackctl gen-nginx", "the nginx site for " + strings.Join(c.Proxy.ServerNames, " ")},
		{"sudo stackctl deploy", "install the app, its unit and the site on this server"},
	}
	width := 0
	for _, s := range steps {
		width = max(width, len(s[0]))
	}
	fmt.Fprintf(w, "\nNext steps (edit %s first if anything above is wrong):\n", stack.FileName)
	for _, s := range steps {
		fmt.Fprintf(w, "  %s%s  %s\n", pal.Cyan(s[0]), strings.Repeat(" ", width-len(s[0])), pal.Faint("# "+s[1]))
	}
}
