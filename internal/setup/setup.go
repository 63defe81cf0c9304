// Package setup turns a fresh Debian or Ubuntu server into one `stackctl
// deploy` can use, and keeps it so: the packages the project needs, a
// login user for deploys with the laptop's key and passwordless sudo,
// key-only sshd, an nftables table of its own, unattended security
// upgrades and a capped journal (DEPLOY.md "Server setup").
//
// Each item first reads what the host has and changes only what differs,
// so a second run changes nothing. A changed file is backed up under
// /var/lib/stackctl/setup/backups/<time>/, checked (visudo -c, sshd -t,
// nft -c) before it takes effect, and put back when the check fails.
// Password logins go off only after a second connection as the login
// user worked, so setup never locks the user out.
package setup

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// Target is one server to set up.
type Target struct {
	// Host is the connection, as root or a user with passwordless sudo.
	Host host.Host
	// Role is what the host is for.
	Role Role
	// SSHPort is the port the connection reached; the firewall keeps it
	// open.
	SSHPort int
	// HTTPFrom limits port 80 to these addresses: an app host behind an
	// lb sees the lb at them. Empty: 80 and 443 are open to all.
	HTTPFrom []string
	// ServicePorts are the ports of the [services] this host runs (5432,
	// 6379), open to ServicesFrom: the other app hosts.
	ServicePorts []int
	ServicesFrom []string
	// LoginDest is the SSH destination of the login user on this host
	// ("deploy@203.0.113.10", "deploy@web1").
	LoginDest string
}

// Options are the inputs of Run.
type Options struct {
	Config  *stack.Config
	Targets []Target
	// User is the login user for deploys; Key its authorized_keys line.
	User, Key string
	// DryRun reports every change (diffs, packages) and makes none.
	DryRun bool
	// Dial opens a second connection, as the login user: setup turns
	// password logins off only when it works, before and after.
	Dial func(ctx context.Context, dest string) (host.Host, error)
	// Out receives the report; Colors paints it.
	Out    io.Writer
	Colors *ui.Palette
	// Now is the clock (backup folder names).
	Now func() time.Time
}

// Mark is the outcome of one item.
type Mark int

const (
	// Same: the host already had it.
	Same Mark = iota
	// Changed: setup changed it (or, with DryRun, would).
	Changed
	// Failed: setup could not, and left it as it was.
	Failed
)

// Result is one item on one host.
type Result struct {
	Item   string
	Mark   Mark
	Detail string
	// Diff is what a file change does (DryRun), as a unified diff.
	Diff string
}

// HostReport is what setup did on one host.
type HostReport struct {
	Host    string
	Results []Result
	// Err is the failure that stopped this host's items.
	Err error
	// SetUp is false when setup never ran on the host (Audit only).
	SetUp bool
}

// Changed reports whether any item changed (or would change).
func (r HostReport) Changed() bool {
	for _, x := range r.Results {
		if x.Mark == Changed {
			return true
		}
	}
	return false
}

// Run sets up every target at once and prints one report per host, in
// order. It returns an error when any host failed; the other hosts are
// set up all the same.
func Run(ctx context.Context, o Options) ([]HostReport, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Colors == nil {
		o.Colors = ui.NewPalette(false)
	}
	backup := backupRoot + "/" + o.Now().UTC().Format("20060102T150405Z")
	reports := make([]HostReport, len(o.Targets))
	var wg sync.WaitGroup
	for i, t := range o.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &run{o: &o, t: t, backup: backup}
			reports[i] = r.items(ctx)
		}()
	}
	wg.Wait()
	var failed []string
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(o.Out)
		}
		printReport(o.Out, o.Colors, r, o.DryRun)
		if r.Err != nil {
			failed = append(failed, r.Host)
		}
	}
	if len(failed) > 0 {
		return reports, ui.WithFix(fmt.Errorf("setup failed on %s; what it changed there before the failure stays, every refused file was put back", strings.Join(failed, ", ")),
			"fix what the ✗ line says and run setup again: it skips what is done")
	}
	return reports, nil
}

// Audit reads every item on each target as a dry run would and changes
// nothing: what doctor --host shows as drift from what setup makes. A host
// setup never ran on is reported as such (SetUp false), with no items.
// With an empty Key the login user's keys are not checked, only that it
// exists.
func Audit(ctx context.Context, o Options) []HostReport {
	o.DryRun = true
	reports := make([]HostReport, len(o.Targets))
	for i, t := range o.Targets {
		r := &run{o: &o, t: t}
		_, err := r.script(ctx, `[ -d "$1" ]`, nil, stateDir)
		if err != nil {
			reports[i] = HostReport{Host: t.Host.Name()}
			if status(err) < 0 {
				reports[i].Err = err
			}
			continue
		}
		reports[i] = r.items(ctx)
		reports[i].SetUp = true
	}
	return reports
}

func printReport(w io.Writer, p *ui.Palette, r HostReport, dry bool) {
	fmt.Fprintln(w, p.Bold(r.Host))
	for _, x := range r.Results {
		var mark string
		switch x.Mark {
		case Same:
			mark = p.Green("✓")
		case Changed:
			mark = p.Yellow("✎")
		case Failed:
			mark = p.Red("✗")
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, x.Item, x.Detail)
		if x.Diff != "" {
			for _, line := range strings.Split(strings.TrimRight(x.Diff, "\n"), "\n") {
				fmt.Fprintf(w, "      %s\n", line)
			}
		}
	}
	switch {
	case r.Err != nil && len(r.Results) > 0 && r.Results[len(r.Results)-1].Mark == Failed:
		fmt.Fprintf(w, "  %s\n", p.Red("stopped there: the items after it did not run"))
	case r.Err != nil:
		fmt.Fprintf(w, "  %s\n", p.Red("stopped: "+r.Err.Error()))
	case dry && r.Changed():
		fmt.Fprintln(w, "  dry run: nothing was changed")
	case !r.Changed():
		fmt.Fprintln(w, "  nothing to change: this host was already set up")
	}
}
