package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/doctor"
	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/setup"
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
			if perr != nil {
				r = doctor.Unreachable(dest, perr)
			} else {
				r = doctor.Server(dest, p, python)
				if python != nil && c.Nginx.TLS.Enabled {
					if cs, err := deploy.ReadCert(ctx, h, c.CertPath()); err != nil {
						r.Checks = append(r.Checks, doctor.Check{Name: "TLS certificate", Status: doctor.Warn, Detail: err.Error()})
					} else {
						doctor.CertCheck(&r, cs, c.UsesACME(), time.Now())
					}
				}
			}
			h.Close()
		}
		ok = ok && r.OK
		reports = append(reports, r)
	}
	if python != nil && ok {
		auditSetup(ctx, c, reports)
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

// auditSetup adds to each report what `stackctl setup` would change on
// that server (doctor.SetupDrift). It needs the project: the packages it
// needs, and behind an lb the lb's address, which the firewall lets in.
func auditSetup(ctx context.Context, c *stack.Config, reports []doctor.Report) {
	hosts, closeAll, err := dialHosts(ctx, c)
	if err != nil {
		return // each host's ssh check already says why
	}
	defer closeAll()
	user := "deploy"
	if d, err := stack.ParseDestination(c.Deploy.Hosts[0]); err == nil && d.User != "" && d.User != "root" {
		user = d.User
	}
	targets, err := setupTargets(ctx, c, hosts, user)
	if err != nil {
		return
	}
	audits := setup.Audit(ctx, setup.Options{Config: c, Targets: targets, User: user})
	for i := range reports {
		doctor.SetupDrift(&reports[i], c.Deploy.Hosts[i], audits[i])
	}
}
