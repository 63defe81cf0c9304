package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/ui"
)

// statusOptions are the inputs of `stackctl status`.
type statusOptions struct {
	IO     *ui.IOStreams
	Config string
	Hosts  hostFlags
	JSON   bool
}

func newCmdStatus(f *Factory) *cobra.Command { return newCmdStatusWith(f, runStatus) }

func newCmdStatusWith(f *Factory, runF func(context.Context, *statusOptions) error) *cobra.Command {
	opts := &statusOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each host's release, slots, nginx and health; exit 1 when one is unhealthy",
		Long: `Show, per host: the current release, the state of each slot (which one takes
traffic), each process ([processes]: its state and release) and schedule
(last run, its result, next run), nginx's state, and the app's health through nginx (GET app.health
on the host's nginx with the site's Host header), and [services] (state,
version, database size, last backup) where they run, a host of their own
(postgres = { host = "db1" }) included. stackctl exits 1 when a
host is unhealthy: no release, the serving slot down, a process not running
the current release, nginx down, or the
health check not answering 200. --json prints it for scripts.

Without hosts (--host, deploy.hosts) it acts on this machine when systemd
runs it, as root or with passwordless sudo.`,
		Example: `  stackctl status
  stackctl status --host web1 --json | jq '.[] | select(.healthy | not)'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return runF(c.Context(), opts) },
	}
	addConfigFlag(cmd, &opts.Config)
	addHostFlags(cmd, &opts.Hosts)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON for scripts")
	return cmd
}

func runStatus(ctx context.Context, o *statusOptions) error {
	c, err := serverConfig(o.Config, &o.Hosts, "status")
	if err != nil {
		return err
	}
	var list []deploy.HostStatus
	err = onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) (err error) {
		list, err = deploy.Status(ctx, ho)
		return err
	})
	if err != nil {
		return err
	}
	healthy := true
	for _, s := range list {
		healthy = healthy && s.Healthy
	}
	if o.JSON {
		if err := printJSON(o.IO.Out, list); err != nil {
			return err
		}
	} else {
		p := o.IO.OutColors()
		for _, s := range list {
			mark := p.Green("✓ healthy")
			if !s.Healthy {
				mark = p.Red("✗ unhealthy")
			}
			fmt.Fprintf(o.IO.Out, "%s  %s\n", p.Bold(s.Host), mark)
			if s.Role == "services" {
				fmt.Fprintf(o.IO.Out, "  role     services only ([services])\n")
				printProcesses(o.IO, s)
				if len(s.Problems) > 0 {
					fmt.Fprintf(o.IO.Out, "  %s %s\n", p.Red("problem:"), strings.Join(s.Problems, "; "))
				}
				continue
			}
			if s.Role == "lb" {
				fmt.Fprintf(o.IO.Out, "  role     load balancer (nginx only)\n")
			} else {
				fmt.Fprintf(o.IO.Out, "  release  %s\n", dash(s.Release))
			}
			for _, slot := range deploy.Slots {
				if s.Role == "lb" {
					break
				}
				serving := ""
				if slot == s.Slot {
					serving = " (takes traffic)"
				}
				fmt.Fprintf(o.IO.Out, "  slot %s   %s%s\n", slot, s.Slots[slot], serving)
			}
			printProcesses(o.IO, s)
			fmt.Fprintf(o.IO.Out, "  nginx    %s\n", s.Nginx)
			code := "no answer"
			if s.Health != 0 {
				code = fmt.Sprint(s.Health)
			}
			fmt.Fprintf(o.IO.Out, "  health   GET %s (Host: %s) → %s\n", s.HealthURL, s.HealthHost, code)
			if s.Cert != nil {
				fmt.Fprintf(o.IO.Out, "  cert     %s\n", certLine(*s.Cert, time.Now()))
			}
			if len(s.Problems) > 0 {
				fmt.Fprintf(o.IO.Out, "  %s %s\n", p.Red("problem:"), strings.Join(s.Problems, "; "))
			}
		}
	}
	if !healthy {
		return &ui.ExitError{Code: 1}
	}
	return nil
}

// printProcesses prints a host's processes and schedules.
func printProcesses(io *ui.IOStreams, s deploy.HostStatus) {
	p := io.OutColors()
	for _, ps := range s.Processes {
		state := ps.State
		if ps.State == "active" {
			state = p.Green(state)
		} else if ps.State == "failed" {
			state = p.Red(state)
		}
		note := ""
		if ps.Release != s.Release {
			note = " (not the current release)"
		}
		fmt.Fprintf(io.Out, "  process  %s-%d  %s, release %s%s\n", ps.Process, ps.Copy, state, ps.Release, note)
	}
	for _, sv := range s.Services {
		state := sv.State
		if state == "active" {
			state = p.Green(state)
		} else {
			state = p.Red(state)
		}
		line := fmt.Sprintf("  %-8s %s, %s", sv.Name, state, sv.Version)
		if sv.Name == "postgres" {
			last := sv.LastBackup
			if last == "" {
				last = "none yet"
			}
			line += fmt.Sprintf(", database %s, last backup %s", deploy.HumanSize(sv.Size), last)
		}
		fmt.Fprintln(io.Out, line)
	}
	for _, sc := range s.Schedules {
		if !sc.Enabled {
			fmt.Fprintf(io.Out, "  schedule %s  not on this host\n", sc.Name)
			continue
		}
		last := "never ran"
		if !sc.LastRun.IsZero() {
			last = "last run " + sc.LastRun.Local().Format("Jan 02 15:04:05")
			switch {
			case sc.Running:
				last += " (running)"
			case sc.Result == "success":
				last += " " + p.Green("(success)")
			case sc.Result != "":
				last += " " + p.Red("("+sc.Result+")")
			}
		}
		next := ""
		if !sc.NextRun.IsZero() {
			next = ", next " + sc.NextRun.Local().Format("Jan 02 15:04:05")
		}
		fmt.Fprintf(io.Out, "  schedule %s  %s%s\n", sc.Name, last, next)
	}
}

// certLine is a certificate in one line: its names, when it expires and
// its issuer.
func certLine(c deploy.CertStatus, now time.Time) string {
	return fmt.Sprintf("%s, expires %s (in %d days), issuer %s", strings.Join(c.Names, ", "), c.NotAfter.UTC().Format("2006-01-02"), c.DaysLeft(now), c.Issuer)
}
