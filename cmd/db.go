package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// dbOptions are the inputs of `stackctl db …`.
type dbOptions struct {
	IO       *ui.IOStreams
	Prompter func() (ui.Prompter, error)
	Config   string
	Hosts    hostFlags
	JSON     bool
	Yes      bool
	Backup   string
	Out      string
}

func newCmdDB(f *Factory) *cobra.Command {
	opts := &dbOptions{IO: f.IO, Prompter: f.Prompter}
	db := &cobra.Command{
		Use:   "db",
		Short: "Back up, restore and open the app's PostgreSQL database on the servers",
		Long: `Work with the database of [services] postgres (Debian's PostgreSQL on an app
host or a host of its own, made by deploy with a role and a database named after the app):

  backup        pg_dump -Fc into /var/lib/stackctl/<name>/backups/db/ on the
                database's host; the newest services.backups (7) are kept. A
                daily timer and every deploy with a release_command take one too.
  backups       list them
  restore [B]   restore backup B (default: the newest) into the app's database:
                the processes and schedules stop first and start again after;
                asks on a terminal, else needs --yes
  shell         psql as the app's role, in the app's environment
  pull [B]      copy backup B (default: the newest) to this machine`,
		Example: `  stackctl db backup
  stackctl db backups
  stackctl db restore 20261204T101500Z-before-20261204T101450Z.dump --yes
  stackctl db shell
  stackctl db pull --out ./latest.dump`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return c.Help() },
	}
	sub := func(use, short string, args cobra.PositionalArgs, run func(context.Context, *dbOptions, *stack.Config) error) *cobra.Command {
		cmd := &cobra.Command{Use: use, Short: short, Args: args,
			RunE: func(c *cobra.Command, a []string) error {
				if len(a) > 0 {
					opts.Backup = a[0]
				}
				conf, err := serverConfig(opts.Config, &opts.Hosts, "db")
				if err != nil {
					return err
				}
				if !conf.Services.Postgres.Enabled {
					return ui.Usagef("add postgres = true under [services] in "+conf.Path+", then deploy", "%s has no database: [services] postgres is off", conf.Name)
				}
				return run(c.Context(), opts, conf)
			}}
		addConfigFlag(cmd, &opts.Config)
		addHostFlags(cmd, &opts.Hosts)
		db.AddCommand(cmd)
		return cmd
	}
	sub("backup", "Back up the app's database now", cobra.NoArgs, runDBBackup)
	backups := sub("backups", "List the app's database backups", cobra.NoArgs, runDBBackups)
	backups.Flags().BoolVar(&opts.JSON, "json", false, "print JSON for scripts")
	restore := sub("restore [BACKUP]", "Restore a backup into the app's database (processes and schedules stop meanwhile)", cobra.MaximumNArgs(1), runDBRestore)
	restore.Flags().BoolVar(&opts.Yes, "yes", false, "do not ask: the database's current content is replaced")
	sub("shell", "Open psql as the app's role", cobra.NoArgs, runDBShell)
	pull := sub("pull [BACKUP]", "Copy a backup to this machine", cobra.MaximumNArgs(1), runDBPull)
	pull.Flags().StringVarP(&opts.Out, "out", "o", "", "the file to write (default: the backup's name, in the current folder)")
	return db
}

func runDBBackup(ctx context.Context, o *dbOptions, c *stack.Config) error {
	return onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
		_, err := deploy.BackupDB(ctx, ho)
		return err
	})
}

func runDBBackups(ctx context.Context, o *dbOptions, c *stack.Config) error {
	return onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
		list, err := deploy.ListBackups(ctx, ho)
		if err != nil {
			return err
		}
		if o.JSON {
			return printJSON(o.IO.Out, list)
		}
		if len(list) == 0 {
			fmt.Fprintln(o.IO.Out, "no backups yet: stackctl db backup")
		}
		for _, b := range list {
			fmt.Fprintf(o.IO.Out, "%s  %s  %s\n", b.Host, b.Name, deploy.HumanSize(b.Size))
		}
		return nil
	})
}

func runDBRestore(ctx context.Context, o *dbOptions, c *stack.Config) error {
	if !o.Yes {
		if !o.IO.InTTY {
			return ui.Usagef("add --yes to replace the database without being asked", "db restore replaces %s's database and no terminal is here to confirm", c.Name)
		}
		p, err := o.Prompter()
		if err != nil {
			return err
		}
		what := "the newest backup"
		if o.Backup != "" {
			what = o.Backup
		}
		ok, err := p.Confirm("Replace the database of "+c.Name+" with "+what+"?", "Processes and schedules stop meanwhile; take a backup first with 'stackctl db backup' to keep today's data.", false)
		if err != nil {
			return err
		}
		if !ok {
			return &ui.ExitError{Code: 1}
		}
	}
	return onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
		return deploy.RestoreDB(ctx, ho, o.Backup)
	})
}

func runDBShell(ctx context.Context, o *dbOptions, c *stack.Config) error {
	e := &execOptions{IO: o.IO, Config: o.Config, Hosts: o.Hosts,
		Argv: []string{"sh", "-c", `PSQL_HISTORY=/dev/null exec psql "$DATABASE_URL"`}}
	if c.Services.Postgres.OwnHost(c) && len(o.Hosts.Hosts) == 0 {
		// A host of its own: psql runs there, as the app's role.
		err := onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
			return deploy.DBShell(ctx, deploy.ExecOptions{HostsOptions: ho, TTY: o.IO.InTTY && o.IO.OutTTY,
				Stdin: o.IO.In, Stdout: o.IO.Out, Stderr: o.IO.ErrOut})
		})
		var se *deploy.ExitStatusError
		if errors.As(err, &se) {
			return &ui.ExitError{Code: se.Status}
		}
		return err
	}
	if h := c.Services.Postgres.Host; h != "" && len(o.Hosts.Hosts) == 0 {
		e.Hosts.Hosts = []string{h}
	}
	return runExec(ctx, e)
}

func runDBPull(ctx context.Context, o *dbOptions, c *stack.Config) error {
	return onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
		name, data, err := deploy.PullBackup(ctx, ho, o.Backup)
		if err != nil {
			return err
		}
		out := o.Out
		if out == "" {
			out = name
		}
		if _, err := os.Stat(out); err == nil {
			return ui.Usagef("name another file with --out", "%s exists: db pull never replaces a file", out)
		}
		if err := stack.WriteFileExclusive(out, data, 0o600); err != nil {
			return err
		}
		abs, _ := filepath.Abs(out)
		fmt.Fprintf(o.IO.Out, "%s %s (%s), 0600\n", o.IO.OutColors().Green("✓"), abs, deploy.HumanSize(int64(len(data))))
		return nil
	})
}
