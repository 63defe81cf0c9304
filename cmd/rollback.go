package cmd

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/ui"
)

// rollbackOptions are the inputs of `stackctl rollback`.
type rollbackOptions struct {
	IO       *ui.IOStreams
	Config   string
	Hosts    hostFlags
	DryRun   bool
	Release  string
	LockWait time.Duration
	// RestoreDB restores the database backup taken before the current
	// release's release_command.
	RestoreDB bool
}

func newCmdRollback(f *Factory) *cobra.Command { return newCmdRollbackWith(f, runRollback) }

func newCmdRollbackWith(f *Factory, runF func(context.Context, *rollbackOptions) error) *cobra.Command {
	opts := &rollbackOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "rollback [RELEASE]",
		Short: "Go back to an earlier release on every host, in seconds",
		Long: `Make an earlier release, still on disk, current on every host: the one each
host ran before its current release, or RELEASE (an id 'stackctl releases'
lists). Nothing is built or sent: the idle slot starts the release, it must
answer app.health, nginx switches to it with a graceful reload, and the
other slot stops — no request fails. Hosts go one by one; when one cannot
switch, the hosts already rolled back go back to the release they ran, so
every host keeps running one release. Same as 'stackctl deploy --rollback'.

--restore-db also undoes a bad migration: after the switch, the database
([services] postgres) gets back the backup deploy took before the current
release's release_command (processes and schedules stop meanwhile). What
was written since that backup is lost: take one with 'stackctl db backup'
first to keep it.

Each host's lock is taken first: while another deploy or rollback holds
it, rollback stops naming the holder, or waits with --lock-wait DURATION.

Without hosts it acts on this machine, when systemd runs it (as root, or
with passwordless sudo).`,
		Example: `  stackctl rollback --host web1
  stackctl rollback 20261202T101500Z
  stackctl rollback --dry-run
  stackctl rollback --host web1 --lock-wait 2m
  stackctl rollback --restore-db`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Release = args[0]
			}
			return runF(cmd.Context(), opts)
		},
	}
	addConfigFlag(cmd, &opts.Config)
	addHostFlags(cmd, &opts.Hosts)
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "say what would switch; change nothing")
	addLockWaitFlag(cmd, &opts.LockWait)
	cmd.Flags().BoolVar(&opts.RestoreDB, "restore-db", false, "also restore the database backup taken before the current release's release_command")
	return cmd
}

func runRollback(ctx context.Context, o *rollbackOptions) error {
	c, err := loadConfig(o.Config)
	if err != nil {
		return err
	}
	if err := o.Hosts.apply(c); err != nil {
		return err
	}
	if len(c.Deploy.Hosts) == 0 && !systemdRunning() {
		return noHostsError("rollback")
	}
	if o.RestoreDB {
		if o.DryRun {
			return ui.Usagef("drop --dry-run, or --restore-db", "--restore-db changes the database; --dry-run changes nothing")
		}
		if !c.Services.Postgres.Enabled {
			return ui.Usagef("add postgres = true under [services] in "+c.Path, "--restore-db: %s has no database ([services] postgres is off)", c.Name)
		}
		return onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
			ho.LockWait = o.LockWait
			return deploy.RollbackWithDB(ctx, ho, o.Release)
		})
	}
	return runRollbackHosts(ctx, o.IO, c, o.DryRun, o.Release, o.LockWait)
}
