package cmd

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/doctor"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// doctorOptions are the inputs of `stackctl doctor`.
type doctorOptions struct {
	IO     *ui.IOStreams
	Config string
	JSON   bool
	Env    doctor.Env
	// Hosts, when set, checks those servers instead of this machine.
	Hosts hostFlags
}

func newCmdDoctor(f *Factory) *cobra.Command { return newCmdDoctorWith(f, runDoctor) }

func newCmdDoctorWith(f *Factory, runF func(context.Context, *doctorOptions) error) *cobra.Command {
	opts := &doctorOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine has what the project needs",
		Long: `Check what the stack needs on this machine and say how to fix each miss:
Go (and its version, for the Go template), nginx (installed, its version, and
'nginx -t' on the current configuration), python3 with Flask and gunicorn
(Flask template), stack.toml (valid, when one is found), the configured ports
(serve.listen and the app's ports) free, and write access to the folders
deploy writes (nginx.app_dir, /etc/systemd/system, the nginx sites folder,
/var/lib/stackctl).

Each check prints a ✓ or ✗ line (colored on a terminal) and a fix under each
miss. doctor exits 1 when something required is missing; busy ports and
folders you cannot write are warnings. --json prints the report for scripts.

--host DEST checks a server instead, over SSH (host key checked, as for
deploy): systemd as PID 1, nginx, bash, sudo for a login that is not root,
and python3-venv for a Flask app, with the apt-get line that fixes each miss.`,
		Example: `  stackctl doctor
  stackctl doctor --host web1
  stackctl doctor --host deploy@203.0.113.10 --json
  stackctl doctor --config deploy/stack.toml
  stackctl doctor --json | jq '.checks[] | select(.status != "ok")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Env = doctor.RealEnv()
			return runF(cmd.Context(), opts)
		},
	}
	addConfigFlag(cmd, &opts.Config)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	addHostFlags(cmd, &opts.Hosts)
	return cmd
}

func runDoctor(ctx context.Context, opts *doctorOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	do := doctor.Options{Env: opts.Env}
	path := opts.Config
	if path == "" {
		if wd, err := os.Getwd(); err == nil {
			if p, err := stack.Find(wd); err == nil {
				path = p
			} else if !errors.Is(err, stack.ErrNotFound) {
				do.ConfigErr = err
			}
		}
	}
	if len(opts.Hosts.Hosts) > 0 {
		return runDoctorHosts(ctx, opts, path)
	}
	if path != "" {
		do.ConfigPath = path
		c, err := stack.Load(path)
		if err != nil {
			do.ConfigErr = err
		} else {
			do.Config = c
			do.ConfigPath = c.Path
		}
	}
	report := doctor.Run(ctx, do)
	if opts.JSON {
		if err := report.WriteJSON(opts.IO.Out); err != nil {
			return err
		}
	} else {
		report.Print(opts.IO.Out, opts.IO.OutColors())
	}
	if !report.OK {
		return &ui.ExitError{Code: 1}
	}
	return nil
}
