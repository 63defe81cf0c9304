package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/doctor"
	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// runDoctorHosts is `stackctl doctor --host DEST…`: each server's
// prerequisites. The project (path, when one was found) says whether
// python3-venv is required and gives deploy.ssh_config.
func runDoctorHosts(ctx context.Context, opts *doctorOptions, path string) error {
	var python *bool
	c := &stack.Config{}
	if path != "" {
		if pc, err := stack.Load(path); err == nil {
			c = pc
			isPython := c.App.Template != "go"
			python = &isPython
		}
	}
	sshConfig := opts.Hosts.SSHConfig
	if python != nil {
		// apply resolves --ssh-config and a project-relative ssh_config.
		if err := opts.Hosts.apply(c); err != nil {
			return err
		}
		sshConfig = c.Deploy.SSHConfig
	} else if sshConfig != "" {
		abs, err := filepath.Abs(sshConfig)
		if err != nil {
			return err
		}
		sshConfig = abs
	}
	for _, dest := range opts.Hosts.Hosts {
		if _, err := stack.ParseDestination(dest); err != nil {
			return ui.Usagef("write it as [user@]host[:port] or a Host alias of your ssh config", "--host %q: %v", dest, err)
		}
	}
	ctx, stop := interruptible(ctx, opts.IO.ErrOut)
	defer stop()
	var reports []doctor.Report
	ok := true
	for _, dest := range opts.Hosts.Hosts {
		var r doctor.Report
		h, err := host.Dial(ctx, dest, host.SSHOptions{Config: sshConfig})
		if err != nil {
			r = doctor.Unreachable(dest, err)
		} else {
			p, perr := deploy.ProbeServer(ctx, h)
			h.Close()
			if perr != nil {
				r = doctor.Unreachable(dest, perr)
			} else {
				r = doctor.Server(dest, p, python)
			}
		}
		ok = ok && r.OK
		reports = append(reports, r)
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	} else {
		p := opts.IO.OutColors()
		for i, r := range reports {
			if i > 0 {
				fmt.Fprintln(opts.IO.Out)
			}
			fmt.Fprintln(opts.IO.Out, p.Bold(r.Host))
			r.Print(opts.IO.Out, p)
		}
	}
	if !ok {
		return &ui.ExitError{Code: 1}
	}
	return nil
}
