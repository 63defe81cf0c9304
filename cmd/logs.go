package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/ui"
)

// logsOptions are the inputs of `stackctl logs`.
type logsOptions struct {
	IO     *ui.IOStreams
	Config string
	Hosts  hostFlags
	Follow bool
	Lines  int
	Since  string
	// Processes are the --process names.
	Processes []string
}

func newCmdLogs(f *Factory) *cobra.Command { return newCmdLogsWith(f, runLogs) }

func newCmdLogsWith(f *Factory, runF func(context.Context, *logsOptions) error) *cobra.Command {
	opts := &logsOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "logs [-f] [-n N] [--since T]",
		Short: "Show the app's logs from every host, merged by time",
		Long: `Show the journal of the app's units (both slots, <service>@a and @b) on every
host, each line led by its host (colored on a terminal), merged by time.
--process NAME shows a process of [processes] (every copy) or a schedule
instead; "web" is the app; repeat it to show several.
-n and --since work as journalctl's; --since also takes a bare duration
(10m, 2h, 1d) meaning that long ago. -f keeps printing new lines until Ctrl-C.

Without hosts (--host, deploy.hosts) it acts on this machine when systemd
runs it, as root or with passwordless sudo.`,
		Example: `  stackctl logs -n 50
  stackctl logs -f --since 10m
  stackctl logs --host web2 --since "2026-12-02 10:00"
  stackctl logs --process worker --process web -f`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return runF(c.Context(), opts) },
	}
	addConfigFlag(cmd, &opts.Config)
	addHostFlags(cmd, &opts.Hosts)
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new lines until Ctrl-C")
	cmd.Flags().IntVarP(&opts.Lines, "lines", "n", -1, "show the last N lines of each host")
	cmd.Flags().StringVar(&opts.Since, "since", "", "show lines since T (journalctl's --since, or a duration: 10m)")
	cmd.Flags().StringArrayVar(&opts.Processes, "process", nil, `show process or schedule NAME ("web": the app); repeatable`)
	return cmd
}

func runLogs(ctx context.Context, o *logsOptions) error {
	if o.Lines < -1 {
		return ui.Usagef("give a number of lines, 0 or more", "-n %d is negative", o.Lines)
	}
	c, err := serverConfig(o.Config, &o.Hosts, "logs")
	if err != nil {
		return err
	}
	if _, err := deploy.LogUnits(c, deploy.NewHostLayout(c), o.Processes); err != nil {
		return err
	}
	return onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
		return deploy.Logs(ctx, deploy.LogsOptions{HostsOptions: ho, Follow: o.Follow, Lines: o.Lines, Since: o.Since, Colored: o.IO.ColorOut(), Processes: o.Processes})
	})
}
