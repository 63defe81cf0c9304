package cmd

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/ui"
	"github.com/stackctl/stackctl/scaffold"
)

// NewOptions are the inputs of `stackctl new`.
type NewOptions struct {
	IO       *ui.IOStreams
	Prompter func() (ui.Prompter, error)

	// Answers holds the flags' values over the defaults.
	Answers scaffold.Options
	// Given reports which answers came from flags (never asked again).
	Given map[scaffold.Field]bool
	// Yes takes the defaults for everything not given.
	Yes bool
}

func newCmdNew(f *Factory) *cobra.Command {
	return newCmdNewRun(f, runNew)
}

func newCmdNewRun(f *Factory, runF func(*NewOptions) error) *cobra.Command {
	opts := &NewOptions{IO: f.IO, Prompter: f.Prompter, Given: map[scaffold.Field]bool{}}
	a := &opts.Answers
	var noStatic bool
	c := &cobra.Command{
		Use:   "new NAME",
		Short: "Create a web app and its stack.toml",
		Long: `Create a new project in the folder NAME: a web app (Go with net/http by
default, or Flask with --template flask), its tests, a README and a
stack.toml describing the app and the nginx site in front of it.

On a terminal, new asks for each setting with a default ("?" shows help).
Every question has a flag; flags given are not asked again. With --yes, or
when stdin is not a terminal, nothing is asked: flags and defaults are used.

NAME is a lower-case name ([a-z][a-z0-9-]*, at most 63 characters). The
project is written to a temporary folder and renamed into place, so it never
overwrites anything: an existing folder NAME must be empty.

Templates in this build: ` + strings.Join(scaffold.Kinds(), ", ") + `.`,
		Example: `  # ask each question
  stackctl new myapp

  # no questions, defaults and flags only
  stackctl new myapp --yes
  stackctl new myapp --yes --port 5001 --listen 8081 --domain myapp.example.org --no-static

  # the article's Flask app
  stackctl new myapp --template flask

  # then
  cd myapp && stackctl serve`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ui.Usagef("give the project's name: stackctl new myapp", "new takes one NAME, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			*a = mergeAnswers(*a, scaffold.Defaults(args[0]), c)
			a.Name = args[0]
			for _, fl := range []scaffold.Field{scaffold.FieldTemplate, scaffold.FieldModule, scaffold.FieldPort,
				scaffold.FieldDomain, scaffold.FieldListen, scaffold.FieldStatic} {
				opts.Given[fl] = c.Flags().Changed(string(fl))
			}
			if c.Flags().Changed("no-static") {
				if c.Flags().Changed("static") {
					return ui.Usagef("pass one of them", "--static and --no-static both given")
				}
				a.Static = !noStatic
				opts.Given[scaffold.FieldStatic] = true
			}
			return runF(opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&a.Template, "template", "", "kind of app: "+strings.Join(scaffold.Kinds(), ", ")+` (default "`+scaffold.DefaultTemplate()+`")`)
	fl.StringVar(&a.Module, "module", "", "Go module path for go.mod (default NAME)")
	fl.IntVar(&a.Port, "port", 0, "the app's port (default 5000)")
	fl.StringVar(&a.Domain, "domain", "", `the domain nginx serves (default "example.com")`)
	fl.StringVar(&a.Listen, "listen", "", `where 'stackctl serve' listens: a port (on 127.0.0.1) or an address (default "127.0.0.1:8080")`)
	fl.BoolVar(&a.Static, "static", true, "include a static/ folder served at /static/")
	fl.BoolVar(&noStatic, "no-static", false, "no static folder")
	fl.StringVar(&a.Dir, "dir", ".", "the folder to create NAME in")
	fl.BoolVar(&opts.Yes, "yes", false, "ask nothing: use flags and defaults")
	_ = c.RegisterFlagCompletionFunc("template", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return scaffold.Kinds(), cobra.ShellCompDirectiveNoFileComp
	})
	_ = c.MarkFlagDirname("dir")
	return c
}

// mergeAnswers takes each answer from the flags when given, else from def.
func mergeAnswers(flags, def scaffold.Options, c *cobra.Command) scaffold.Options {
	out := def
	ch := c.Flags().Changed
	if ch("template") {
		out.Template = flags.Template
	}
	if ch("module") {
		out.Module = flags.Module
	}
	if ch("port") {
		out.Port = flags.Port
	}
	if ch("domain") {
		out.Domain = flags.Domain
	}
	if ch("listen") {
		out.Listen = flags.Listen
	}
	if ch("static") {
		out.Static = flags.Static
	}
	out.Dir = flags.Dir
	return out
}

// flagOf names the flag (or argument) that sets a field.
func flagOf(f scaffold.Field) string {
	switch f {
	case scaffold.FieldName:
		return "NAME"
	case scaffold.FieldStatic:
		return "--static"
	}
	return "--" + string(f)
}

func runNew(opts *NewOptions) error {
	a := &opts.Answers
	// Check the flags before asking anything, so a bad flag never costs the
	// user a round of questions.
	if err := checkGiven(opts); err != nil {
		return err
	}
	if !opts.Yes && opts.IO.CanPrompt() {
		p, err := opts.Prompter()
		if err != nil {
			return err
		}
		if err := scaffold.Ask(p, a, func(f scaffold.Field) bool { return opts.Given[f] }); err != nil {
			if errors.Is(err, ui.ErrInterrupted) {
				return &ui.ExitError{Code: 130, Msg: "interrupted: nothing was created"}
			}
			return err
		}
	}
	res, err := scaffold.Create(*a)
	if err != nil {
		var ae *scaffold.AnswerError
		if errors.As(err, &ae) {
			return &ui.UsageError{Err: fmt.Errorf("%s: %w", flagOf(ae.Field), err)}
		}
		return err
	}
	printCreated(opts.IO, res)
	return nil
}

// checkGiven checks the name and each answer given by a flag.
func checkGiven(opts *NewOptions) error {
	a := opts.Answers
	errs := []error{scaffold.CheckName(a.Name)}
	if opts.Given[scaffold.FieldTemplate] {
		errs = append(errs, scaffold.CheckTemplate(a.Template))
	}
	if opts.Given[scaffold.FieldModule] {
		errs = append(errs, scaffold.CheckModule(a.Module))
	}
	if opts.Given[scaffold.FieldPort] {
		errs = append(errs, scaffold.CheckPort(a.Port))
	}
	if opts.Given[scaffold.FieldDomain] {
		errs = append(errs, scaffold.CheckDomain(a.Domain))
	}
	willAsk := !opts.Yes && opts.IO.CanPrompt()
	switch {
	case opts.Given[scaffold.FieldListen] && (opts.Given[scaffold.FieldPort] || !willAsk):
		_, err := scaffold.NormalizeListen(a.Listen, a.Port)
		errs = append(errs, err)
	case opts.Given[scaffold.FieldPort] && !willAsk:
		// The default listen address would collide with the port given.
		if _, err := scaffold.NormalizeListen(a.Listen, a.Port); err != nil {
			errs = append(errs, &scaffold.AnswerError{
				Field: scaffold.FieldPort,
				Err:   fmt.Errorf("%d is also the port of the local proxy (serve.listen %s)", a.Port, a.Listen),
				Fix:   "pass --listen with another port, or another --port",
			})
		}
	}
	for _, err := range errs {
		if err != nil {
			var ae *scaffold.AnswerError
			errors.As(err, &ae)
			return &ui.UsageError{Err: fmt.Errorf("%s: %w", flagOf(ae.Field), err)}
		}
	}
	return nil
}

func printCreated(io *ui.IOStreams, res *scaffold.Result) {
	p := io.OutColors()
	w := io.Out
	cfg := res.Config
	fmt.Fprintf(w, "%s Created %s (%s app) in %s\n", p.Green("✓"), p.Bold(cfg.Name), cfg.App.Template, p.Cyan(res.Dir))
	for _, f := range res.Files {
		fmt.Fprintf(w, "    %s\n", p.Faint(filepath.ToSlash(filepath.Join(cfg.Name, f))))
	}
	run := "go run ."
	if cfg.App.Template == "flask" {
		run = "python3 app.py"
	}
	steps := [][2]string{
		{"cd " + res.Dir, ""},
		{"stackctl serve", "the app behind the local proxy on http://" + cfg.Serve.Listen + "/"},
		{run, fmt.Sprintf("or the app alone on http://127.0.0.1:%d/", cfg.App.Port)},
		{"stackctl gen-nginx", "the nginx site for " + strings.Join(cfg.Proxy.ServerNames, " ")},
	}
	width := 0
	for _, s := range steps {
		width = max(width, len(s[0]))
	}
	fmt.Fprintf(w, "\nNext steps:\n")
	for _, s := range steps {
		if s[1] == "" {
			fmt.Fprintf(w, "  %s\n", p.Cyan(s[0]))
			continue
		}
		fmt.Fprintf(w, "  %s%s  %s\n", p.Cyan(s[0]), strings.Repeat(" ", width-len(s[0])), p.Faint("# "+s[1]))
	}
}
