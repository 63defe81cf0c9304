package cmd

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
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
	dests := opts.Hosts.Hosts
	fileHosts := c.Deploy.Hosts // where [services] run, as stack.toml says
	ownHosts := c.ServiceHosts()
	if python != nil {
		// --host db1, the services' host of its own: deploy.hosts stay
		// the app hosts it serves.
		opts.Hosts.onlyServiceHosts(c)
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
	for _, dest := range dests {
		if _, err := stack.ParseDestination(dest); err != nil {
			return ui.Usagef("write it as [user@]host[:port] or a Host alias of your ssh config", "--host %q: %v", dest, err)
		}
	}
	ctx, stop := interruptible(ctx, opts.IO.ErrOut)
	defer stop()
	var reports []doctor.Report
	ok := true
	for _, dest := range dests {
		var r doctor.Report
		h, err := host.Dial(ctx, dest, host.SSHOptions{Config: sshConfig})
		if err != nil {
			r = doctor.Unreachable(dest, err)
		} else {
			p, perr := deploy.ProbeServer(ctx, h)
			switch {
			case perr != nil:
				r = doctor.Unreachable(dest, perr)
			case python != nil && slices.Contains(ownHosts, dest):
				r = doctor.ServicesServer(dest, p)
			default:
				r = doctor.Server(dest, p, python)
				if python != nil && c.Nginx.TLS.Enabled {
					if cs, err := deploy.ReadCert(ctx, h, c.CertPath()); err != nil {
						r.Checks = append(r.Checks, doctor.Check{Name: "TLS certificate", Status: doctor.Warn, Detail: err.Error()})
					} else {
						doctor.CertCheck(&r, cs, c.UsesACME(), time.Now())
					}
				}
			}
			if perr == nil && python != nil {
				doctorServices(ctx, &r, c, fileHosts, dest, h)
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
		if err := printJSON(opts.IO.Out, reports); err != nil {
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
	// Each report's host among the targets (the app hosts, the lb, the
	// services' hosts of their own); only those are audited.
	all := hostDests(c)
	var picked []setup.Target
	var at []int
	for i := range reports {
		if j := slices.Index(all, reports[i].Host); j >= 0 {
			picked = append(picked, targets[j])
			at = append(at, i)
		}
	}
	audits := setup.Audit(ctx, setup.Options{Config: c, Targets: picked, User: user})
	for k, i := range at {
		doctor.SetupDrift(&reports[i], reports[i].Host, audits[k])
	}
}

// doctorServices adds to r the checks of the [services] that dest runs
// for the app, when it runs any: where they listen is 127.0.0.1, and the
// host's address when other hosts reach them (a host of their own, or an
// app host among several).
func doctorServices(ctx context.Context, r *doctor.Report, c *stack.Config, fileHosts []string, dest string, h host.Host) {
	runsHere := func(s stack.Service) bool {
		if !s.Enabled || len(fileHosts) == 0 {
			return false
		}
		return s.Host == dest || (s.Host == "" && fileHosts[0] == dest)
	}
	pg, redis := runsHere(c.Services.Postgres), runsHere(c.Services.Redis)
	if !pg && !redis {
		return
	}
	facts, err := deploy.ProbeServices(ctx, h, c, pg, redis)
	if err != nil {
		r.Checks = append(r.Checks, doctor.Check{Name: "services", Status: doctor.Warn, Detail: err.Error()})
		return
	}
	var listen []string
	if !slices.Contains(fileHosts, dest) || len(fileHosts) > 1 {
		listen = []string{deploy.HostAddr(c, h)}
	}
	doctor.Services(r, dest, c.Name, facts, listen)
}
