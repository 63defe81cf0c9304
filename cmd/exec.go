package cmd

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/ui"
)

// execForm is how exec is called, for usage errors.
const execForm = "stackctl exec [--host DEST] [--root] -- CMD [ARG…]"

// execOptions are the inputs of `stackctl exec`.
type execOptions struct {
	IO     *ui.IOStreams
	Config string
	Hosts  hostFlags
	Root   bool
	Argv   []string
}

func newCmdExec(f *Factory) *cobra.Command { return newCmdExecWith(f, runExec) }

func newCmdExecWith(f *Factory, runF func(context.Context, *execOptions) error) *cobra.Command {
	opts := &execOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "exec [--host DEST] [--root] -- CMD [ARG…]",
		Short: "Run a command in the current release on a host, as the app's user with its environment",
		Long: `Run CMD on a server in the app's current release folder, as deploy.user, with
the app's environment: app.env and the secrets ('stackctl env'), loaded by
systemd from their root-only files. Everything after -- is the command.

The host is the first of deploy.hosts, or --host DEST; without hosts, this
machine when systemd runs it. When stdin is a
terminal the command gets one (an interactive shell works); Ctrl-C reaches
the command. stackctl exits with the command's exit status.

--root runs the command as root instead: said loudly, because it can change
anything on the server.`,
		Example: `  stackctl exec -- flask db upgrade
  stackctl exec --host web2 -- sh
  stackctl exec -- python -c 'import os; print(os.environ["DATABASE_URL"] != "")'
  stackctl exec --root -- journalctl -u myapp@a.service -n 20`,
		RunE: func(c *cobra.Command, args []string) error {
			dash := c.ArgsLenAtDash()
			if dash < 0 {
				return ui.Usagef("put the command after --: "+execForm, "exec needs -- before the command")
			}
			if dash > 0 {
				return ui.Usagef("put the whole command after --: "+execForm, "%q comes before --", args[0])
			}
			if len(args) == 0 {
				return ui.Usagef(execForm, "exec needs a command after --")
			}
			opts.Argv = args
			return runF(c.Context(), opts)
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ui.UsageError{Err: ui.WithFix(err, "the command goes after --: "+execForm)}
	})
	addConfigFlag(cmd, &opts.Config)
	addHostFlags(cmd, &opts.Hosts)
	cmd.Flags().BoolVar(&opts.Root, "root", false, "run the command as root (not as deploy.user)")
	return cmd
}

func runExec(ctx context.Context, o *execOptions) error {
	if len(o.Hosts.Hosts) > 1 {
		return ui.Usagef("name one host: "+execForm, "exec runs on one host, %d were given", len(o.Hosts.Hosts))
	}
	c, err := serverConfig(o.Config, &o.Hosts, "exec")
	if err != nil {
		return err
	}
	if len(c.Deploy.Hosts) > 1 {
		c.Deploy.Hosts = c.Deploy.Hosts[:1]
	}
	err = onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
		ho.Colors = o.IO.ErrColors()
		return deploy.Exec(ctx, deploy.ExecOptions{HostsOptions: ho, Argv: o.Argv, TTY: o.IO.InTTY && o.IO.OutTTY, AsRoot: o.Root,
			Stdin: o.IO.In, Stdout: o.IO.Out, Stderr: o.IO.ErrOut, Warn: o.IO.ErrOut})
	})
	var se *deploy.ExitStatusError
	if errors.As(err, &se) {
		// The command said why it failed; stackctl only passes its status on.
		return &ui.ExitError{Code: se.Status}
	}
	return err
}
