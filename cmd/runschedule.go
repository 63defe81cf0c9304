package cmd

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// runScheduleOptions are the inputs of `stackctl run-schedule`.
type runScheduleOptions struct {
	IO     *ui.IOStreams
	Config string
	Hosts  hostFlags
	Name   string
}

func newCmdRunSchedule(f *Factory) *cobra.Command { return newCmdRunScheduleWith(f, runRunSchedule) }

func newCmdRunScheduleWith(f *Factory, runF func(context.Context, *runScheduleOptions) error) *cobra.Command {
	opts := &runScheduleOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "run-schedule NAME",
		Short: "Run a schedule of stack.toml now, once, on the hosts that run it",
		Long: `Run schedule NAME ([[schedules]] in stack.toml) now, once, in the current
release, as its timer would: on the first app host (hosts = "one") or on
every host (hosts = "all"), through its own systemd unit, so a run already
going is waited for, never doubled. The run's output is printed; stackctl
exits 1 when it failed.`,
		Example: `  stackctl run-schedule cleanup
  stackctl run-schedule report --host web2`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ui.Usagef("stackctl run-schedule NAME", "run-schedule takes one schedule name, %d were given", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Name = args[0]
			return runF(c.Context(), opts)
		},
	}
	addConfigFlag(cmd, &opts.Config)
	addHostFlags(cmd, &opts.Hosts)
	return cmd
}

func runRunSchedule(ctx context.Context, o *runScheduleOptions) error {
	c, err := serverConfig(o.Config, &o.Hosts, "run-schedule")
	if err != nil {
		return err
	}
	if err := checkScheduleName(c.Schedules, c.Path, o.Name); err != nil {
		return err
	}
	return onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
		return deploy.RunSchedule(ctx, ho, o.Name)
	})
}

// checkScheduleName refuses a name that is not a schedule of the project
// (file), listing those it has.
func checkScheduleName(schedules []stack.Schedule, file, name string) error {
	var names []string
	for _, s := range schedules {
		if s.Name == name {
			return nil
		}
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return ui.Usagef("add a [[schedules]] table to "+file, "%q: %s has no schedules", name, file)
	}
	return ui.Usagef("name one of: "+strings.Join(names, ", "), "%q is not a schedule of %s", name, file)
}
