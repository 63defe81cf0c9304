package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/ui"
)

// rollout is one deploy over every host: the steps of DeployHosts, each a
// method, in the order the flow runs them.
type rollout struct {
	f    *fleet
	runs []*hostRun
	lb   *lbRun
	// svcRuns are the services' hosts of their own (servicesHost).
	svcRuns []*hostRun
	info    *ReleaseInfo
	done    []*hostRun // hosts switched to the new release
	first   bool       // the next batch is the first (release_command)
	backup  string     // the database backup taken before release_command
	tls     []*tlsSite // the hosts that terminate TLS, when deploy gets the certificate
	certs   []*tlsSite // those that got a certificate in this deploy
	start   time.Time
}

func newRollout(f *fleet) *rollout {
	d := &rollout{f: f, first: true, start: time.Now()}
	for _, h := range f.Hosts {
		d.runs = append(d.runs, &hostRun{fleet: f, h: h})
	}
	return d
}

// read probes every host (under its lock), converging first what a
// cut-off command left there, then the lb.
func (d *rollout) read(ctx context.Context) error {
	for _, r := range d.runs {
		if err := r.probe(ctx); err != nil {
			return err
		}
		if !d.f.DryRun {
			if err := r.recover(ctx); err != nil {
				return err
			}
		}
	}
	if d.f.LB != nil {
		lb, err := d.f.probeLB(ctx, d.runs)
		if err != nil {
			return err
		}
		d.lb = lb
	}
	return d.readCerts(ctx)
}

// build makes one bundle per host architecture and plans each host's
// files (and the lb's).
func (d *rollout) build(ctx context.Context) error {
	f := d.f
	bundles := map[string]*Bundle{}
	for _, r := range d.runs {
		arch, err := GOARCH(r.facts.Arch)
		if err != nil {
			return fmt.Errorf("%s: %w", r.h.Name(), err)
		}
		if bundles[arch] == nil {
			t := time.Now()
			if bundles[arch], err = BuildBundle(ctx, f.c, arch); err != nil {
				return err
			}
			if f.c.App.Template == "go" {
				fmt.Fprintf(f.Out, "built %s for linux/%s %s\n", f.c.Name, arch, since(t))
			}
			// Said once: every bundle holds the same project files.
			if note := uncommittedNote(bundles[arch].Uncommitted); note != "" && len(bundles) == 1 {
				fmt.Fprintf(f.Out, "%s %s\n", f.p.Yellow("note:"), note)
			}
		}
		if err := r.plan(ctx, bundles[arch]); err != nil {
			return err
		}
	}
	if d.lb != nil {
		return d.lb.plan(ctx, d.runs)
	}
	return nil
}

// settled prints the dry run, or says that nothing would change, and
// reports whether the deploy ends there (with the certificates step).
func (d *rollout) settled() bool {
	f := d.f
	if f.DryRun {
		for _, r := range d.runs {
			r.printDryRun()
		}
		if d.lb != nil {
			d.lb.printDryRun()
		}
		return true
	}
	if d.lb != nil && len(d.lb.changed()) > 0 {
		return false
	}
	for _, r := range d.runs {
		if !r.noop() {
			return false
		}
	}
	for _, r := range d.runs {
		r.say(r.h, "%s already runs release %s on slot %s: nothing sent, nothing restarted", f.p.Green("No changes:"), r.state.Current, r.state.Slot)
		// A process that a cut-off command left stopped starts now.
		if err := r.syncProcesses(context.Background(), r.state.Current); err != nil {
			r.say(r.h, "%s %v", f.p.Yellow("warning:"), err)
		}
	}
	return true
}

// name gives the release its id, one for every host so they all run "the
// same release", and each host its new slot. A slot port another program
// holds stops the deploy here, before anything on any host changes.
func (d *rollout) name() error {
	f := d.f
	for _, r := range d.runs {
		if _, err := r.pickNewSlot(); err != nil {
			return err
		}
	}
	d.info = &ReleaseInfo{By: f.by, Commit: f.commit, DeployedAt: f.Now().UTC()}
	if f.commit != "" && !f.clean {
		d.info.Commit += "+changes"
	}
	id := d.runs[0].newID()
	for _, r := range d.runs[1:] {
		if cand := r.newID(); cand > id {
			id = cand
		}
	}
	d.info.ID = id
	for _, r := range d.runs {
		r.id = id
		r.ranBefore = r.state.Current
		r.oldSlot = r.state.Slot
		var err error
		if r.newSlot, err = r.pickNewSlot(); err != nil {
			return err
		}
	}
	return nil
}

// batches splits the hosts into groups of deploy.batch, switched at once.
func (d *rollout) batches() [][]*hostRun {
	var out [][]*hostRun
	n := max(d.f.c.Deploy.Batch, 1)
	for b := 0; b < len(d.runs); b += n {
		out = append(out, d.runs[b:min(b+n, len(d.runs))])
	}
	return out
}

// rollOut takes one batch live: prepare on every host of the batch (the
// record first), release_command once before the first switch, then each
// host's start → switch → finish. A failure undoes the batch from each
// host's record and reverts the hosts already switched.
func (d *rollout) rollOut(ctx context.Context, group []*hostRun) error {
	errs := parallel(group, func(r *hostRun) error {
		if err := r.record(ctx, "deploy", *d.info, true, r.filesChanged()); err != nil {
			return err
		}
		faultPoint("recorded", r.h)
		return r.stage(ctx)
	})
	if err := errors.Join(errs...); err == nil && d.first {
		if err := d.backupBeforeRelease(ctx); err != nil {
			errs[0] = err
		} else if err := d.runs[0].releaseCommand(ctx); err != nil {
			errs[0] = err
		}
	}
	d.first = false
	if errors.Join(errs...) == nil {
		errs = parallel(group, func(r *hostRun) error { return r.goLive(ctx, d.info) })
	}
	var failed []error
	for i, r := range group {
		if errs[i] == nil && r.state.Current == d.info.ID {
			d.done = append(d.done, r)
			continue
		}
		if errs[i] != nil {
			failed = append(failed, errs[i])
		}
		if uerr := r.undo(); uerr != nil {
			failed = append(failed, uerr)
		}
		if r.state.Current == d.info.ID {
			// The host showed the switch done: it serves the new
			// release, and goes back with the others.
			d.done = append(d.done, r)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return d.revert(errors.Join(failed...))
}

// backupBeforeRelease takes a backup of the app's database before
// release_command runs (a migration): a bad one can be undone with
// 'stackctl db restore'. It is named after the new release.
func (d *rollout) backupBeforeRelease(ctx context.Context) error {
	f := d.f
	if strings.TrimSpace(f.c.Deploy.ReleaseCommand) == "" || !f.c.Services.Postgres.Enabled {
		return nil
	}
	r := d.servicesHost(f.c.Services.Postgres)
	start := time.Now()
	name, err := r.backup(ctx, "before-"+d.info.ID)
	if err != nil {
		return ui.WithFix(err, "nothing switched; the old release keeps serving")
	}
	d.backup = name
	r.say(r.h, "%s backup %s before release_command %s", f.p.Green("✓"), name, since(start))
	return nil
}

// revert switches the hosts already on the new release back to the one
// each ran, after cause stopped the rollout.
func (d *rollout) revert(cause error) error {
	f := d.f
	if len(d.done) == 0 {
		return cause
	}
	if rerr := f.revert(d.done, true); rerr != nil {
		return errors.Join(cause, ui.WithFix(fmt.Errorf("switching %s back to the release they ran failed, so the hosts may run different releases: %w", hostNames(d.done), rerr),
			"see 'stackctl releases', then 'stackctl rollback RELEASE' to put every host on one release"))
	}
	fmt.Fprintf(f.Out, "\n%s the hosts that took the refused release are back on the release they ran before.\n", f.p.Yellow("Rolled back:"))
	return cause
}

// complete updates the lb's site once every app host runs the release,
// and prints the summary.
func (d *rollout) complete(ctx context.Context) error {
	f := d.f
	if d.lb != nil {
		if err := d.lb.apply(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("every app host runs release %s, but the lb's site failed: %w", d.info.ID, err)
		}
	}
	certErr := d.certificates(ctx)
	fmt.Fprintf(f.Out, "\n%s %s release %s on %s in %s.\nRoll back with: stackctl rollback%s\n", f.p.Bold("Deployed"), f.c.Name, d.info.ID, hostNames(d.runs), since(d.start), hostFlags(d.runs))
	if d.backup != "" {
		fmt.Fprintf(f.Out, "The database as it was before release_command: stackctl db restore %s\n", d.backup)
	}
	fmt.Fprint(f.Out, d.certSummary())
	if certErr != nil {
		return fmt.Errorf("release %s is deployed, but getting the certificate failed: %w", d.info.ID, certErr)
	}
	return nil
}

// finishTLS is the end of a deploy that changed no release: the
// certificates step alone, and its summary.
func (d *rollout) finishTLS(ctx context.Context) error {
	if err := d.certificates(ctx); err != nil {
		return err
	}
	if s := d.certSummary(); s != "" {
		fmt.Fprint(d.f.Out, "\n"+s)
	}
	return nil
}
