package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/ui"
)

// unlockOptions are the inputs of `stackctl unlock`.
type unlockOptions struct {
	IO       *ui.IOStreams
	Prompter func() (ui.Prompter, error)
	Config   string
	Hosts    hostFlags
	Yes      bool
}

func newCmdUnlock(f *Factory) *cobra.Command { return newCmdUnlockWith(f, runUnlock) }

func newCmdUnlockWith(f *Factory, runF func(context.Context, *unlockOptions) error) *cobra.Command {
	opts := &unlockOptions{IO: f.IO, Prompter: f.Prompter}
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Remove a deploy lock left by a command killed on another machine",
		Long: `Show the deploy locks on the hosts (and the lb) and remove them.

deploy, rollback and env take a lock on every host before they read it, so
two of them never interleave. A command killed on this machine leaves a lock
the next one takes over by itself; one killed on another machine (a laptop
that lost power) leaves a lock no one here can judge, and every later
command is refused naming its holder. unlock removes it, after asking on a
terminal or with --yes. It refuses a lock whose command still runs on this
machine. What the killed command left half done stays recorded on the host:
the next deploy or rollback finishes or reverts it.

Remove a lock only when its holder is surely not running: its command would
go on beside yours.`,
		Example: `  stackctl unlock
  stackctl unlock --host web1 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runF(cmd.Context(), opts) },
	}
	addConfigFlag(cmd, &opts.Config)
	addHostFlags(cmd, &opts.Hosts)
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "do not ask: remove every lock found")
	return cmd
}

func runUnlock(ctx context.Context, o *unlockOptions) error {
	c, err := serverConfig(o.Config, &o.Hosts, "unlock")
	if err != nil {
		return err
	}
	return onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
		list, err := deploy.Locks(ctx, ho)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(o.IO.Out, "no deploy lock on any host")
			return nil
		}
		for _, li := range list {
			fmt.Fprintf(o.IO.Out, "%s  locked by %s since %s (%s, pid %d)\n", li.Host, dash(li.By), dash(li.Since), dash(li.Command), li.PID)
		}
		if !o.Yes {
			if !o.IO.InTTY {
				return ui.Usagef("add --yes to remove them without being asked", "unlock removes the locks above and no terminal is here to confirm")
			}
			p, err := o.Prompter()
			if err != nil {
				return err
			}
			ok, err := p.Confirm(fmt.Sprintf("Remove %d lock(s)?", len(list)), "Only when their commands surely do not run: they would go on beside yours.", false)
			if err != nil {
				return err
			}
			if !ok {
				return &ui.ExitError{Code: 1}
			}
		}
		if err := deploy.ReleaseLocks(ctx, ho, list); err != nil {
			return err
		}
		fmt.Fprintf(o.IO.Out, "removed %d lock(s); the next deploy or rollback finishes or reverts what their commands left\n", len(list))
		return nil
	})
}
