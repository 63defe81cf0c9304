// Package cmd holds stackctl's cobra commands. Each file is one command: its
// flags fill an options struct, and RunE hands that to a package that does the
// work. Nothing here knows nginx or HTTP.
package cmd

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/ui"
)

// version is set at build time with
// -ldflags "-X github.com/stackctl/stackctl/cmd.version=v1.2.3".
var version = ""

// Version returns stackctl's version: the one injected at build time, else
// the module version `go install` recorded, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Factory carries what every command needs from the outside world, so tests
// can replace it: the streams and a way to ask questions.
type Factory struct {
	IO *ui.IOStreams
	// Prompter returns the prompter to ask with; only called when IO.CanPrompt().
	Prompter func() (ui.Prompter, error)
}

// NewFactory returns the Factory of a real process.
func NewFactory() *Factory {
	io := ui.System()
	return &Factory{
		IO:       io,
		Prompter: func() (ui.Prompter, error) { return ui.NewSurveyPrompter(io) },
	}
}

// NewRootCmd builds the stackctl command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	var noColor bool
	root := &cobra.Command{
		Use:   "stackctl",
		Short: "Scaffold, serve and deploy a web app behind nginx",
		Long: `stackctl turns the classic two-step deployment — a web app on its own port,
nginx in front of it as a reverse proxy — into one tool.

A project is described by one stack.toml. From it, gen-nginx renders the
production nginx site, serve runs the app behind an embedded proxy that behaves
like that site, and deploy installs both on a server.`,
		Example: `  stackctl new myapp
  cd myapp && stackctl serve
  stackctl gen-nginx > site.conf`,
		Version:       Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			if noColor {
				f.IO.NoColor = true
			}
		},
	}
	root.PersistentFlags().BoolVar(&noColor, "no-color", false, "turn color off (also: NO_COLOR=1)")
	root.SetVersionTemplate("stackctl {{.Version}}\n")
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ui.UsageError{Err: ui.WithFix(err, "see '"+c.CommandPath()+" --help'")}
	})
	root.CompletionOptions.HiddenDefaultCmd = false

	for _, newCmd := range []func(*Factory) *cobra.Command{
		newCmdNew,
		newCmdInit,
		newCmdGenNginx,
		newCmdDeploy,
		newCmdDoctor,
		newCmdServe,
		newCmdRollback,
		newCmdReleases,
		newCmdEnv,
		newCmdExec,
		newCmdLogs,
		newCmdStatus,
		newCmdRunSchedule,
		newCmdDB,
		newCmdCerts,
		newCmdSetup,
		newCmdUnlock,
	} {
		root.AddCommand(newCmd(f))
	}
	// cobra's completion command shows its help for an unknown shell and
	// exits 0; give it a RunE so its NoArgs check makes that a usage error
	// like every other bad argument.
	root.InitDefaultCompletionCmd()
	if c, _, err := root.Find([]string{"completion"}); err == nil && c != root {
		c.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
	}
	return root
}

// Execute runs stackctl with the process's arguments and returns the exit code.
func Execute() int {
	f := NewFactory()
	return run(f, NewRootCmd(f), os.Args[1:])
}

func run(f *Factory, root *cobra.Command, args []string) int {
	// --no-color must also hold for errors cobra reports before it parses
	// flags (an unknown command).
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--no-color" || a == "--no-color=true" {
			f.IO.NoColor = true
		}
	}
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if isUnknownCommand(err) {
		err = &ui.UsageError{Err: ui.WithFix(err, "see 'stackctl --help'")}
	}
	var ee *ui.ExitError
	if !errors.As(err, &ee) || ee.Msg != "" {
		p := f.IO.ErrColors()
		fmt.Fprintln(f.IO.ErrOut, p.Red("error: "+err.Error()))
	}
	return ui.ExitCode(err)
}

// isUnknownCommand reports cobra's errors for a bad command name or
// arguments, which it returns as plain errors.
func isUnknownCommand(err error) bool {
	var ue *ui.UsageError
	if errors.As(err, &ue) {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "invalid argument", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
