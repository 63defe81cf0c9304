package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/ui"
)

// DeployHosts deploys the project to every host as a new release, host by
// host, each through its two-slot switch (DEPLOY.md). Nothing changes on
// any host until every host answered and the build succeeded. A host that
// fails is undone, and the hosts already switched go back to the release
// they ran, so every host ends on one release.
//
// The flow, step by step (rollout.go): lock every host, read it (and
// converge what a cut-off command left), build and plan, name the
// release; then per batch of hosts: prepare (record, send, install), the
// release command once, start → switch → finish; on failure revert.
func DeployHosts(ctx context.Context, o HostsOptions) error {
	f, err := newFleet(o)
	if err != nil {
		return err
	}
	d := newRollout(f)
	unlock, err := f.lockAll(ctx, d.runs, "deploy")
	defer unlock()
	if err != nil {
		return err
	}
	if err := d.read(ctx); err != nil {
		return err
	}
	if err := d.build(ctx); err != nil {
		return err
	}
	if d.settled() {
		return d.finishTLS(ctx)
	}
	if err := d.services(ctx); err != nil {
		return err
	}
	if err := d.name(); err != nil {
		return err
	}
	for _, group := range d.batches() {
		if err := d.rollOut(ctx, group); err != nil {
			return err
		}
	}
	return d.complete(ctx)
}

// parallel runs fn on every host at once and returns their errors in order.
func parallel(runs []*hostRun, fn func(*hostRun) error) []error {
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(r)
		}()
	}
	wg.Wait()
	return errs
}

// stage sends the release and installs the system files (DEPLOY.md step 1).
func (r *hostRun) stage(ctx context.Context) error {
	if err := r.prepare(ctx); err != nil {
		return err
	}
	faultPoint("prepared", r.h)
	if err := r.installFiles(ctx); err != nil {
		return err
	}
	faultPoint("installed", r.h)
	return nil
}

// goLive starts the new slot, switches nginx to it and finishes (DEPLOY.md
// steps 3–6).
func (r *hostRun) goLive(ctx context.Context, info *ReleaseInfo) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: interrupted: %w", r.h.Name(), err)
	}
	if err := r.startSlot(ctx, r.id); err != nil {
		return err
	}
	faultPoint("started", r.h)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: interrupted: %w", r.h.Name(), err)
	}
	if err := r.switchTraffic(ctx, r.id); err != nil {
		return err
	}
	faultPoint("switched", r.h)
	// From here the new release serves: finishing does not undo it.
	r.prepared = false
	r.touched = nil
	r.switched = false
	r.slotBefore = HostFile{}
	return r.finish(context.WithoutCancel(ctx), r.id, info)
}

// revert switches hosts that this command switched back to the release
// each ran before it (ranBefore), through the same two-slot switch, on a
// context of its own: Ctrl-C still reverts. With forget, the release they
// leave (a deploy's refused release) is removed from their history and
// disk; a rollback's target stays, as it was before.
func (f *fleet) revert(done []*hostRun, forget bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var errs []error
	for _, r := range done {
		left := r.state.Current
		prev := r.ranBefore
		if prev == "" {
			// A first deploy: nothing to go back to, so the host keeps
			// serving the release it passed its health check with.
			r.say(r.h, "%s keeps release %s: it had no earlier release to go back to", f.p.Yellow("!"), left)
			continue
		}
		if prev == left {
			continue
		}
		r.say(r.h, "%s back to release %s", f.p.Yellow("↩"), prev)
		if err := r.switchTo(ctx, prev); err != nil {
			errs = append(errs, err)
			continue
		}
		if forget {
			if err := r.forget(ctx, left); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// switchTo makes release id current through the idle slot (DEPLOY.md
// steps 3–6): a rollback.
func (r *hostRun) switchTo(ctx context.Context, id string) error {
	r.oldSlot = r.state.Slot
	var err error
	if r.newSlot, err = r.pickNewSlot(); err != nil {
		return err
	}
	r.id = ""
	if err := r.record(ctx, "rollback", ReleaseInfo{ID: id}, false, nil); err != nil {
		return err
	}
	faultPoint("rollback-recorded", r.h)
	if err := r.startSlot(ctx, id); err != nil {
		if uerr := r.undo(); uerr != nil {
			err = errors.Join(err, uerr)
		}
		return err
	}
	faultPoint("rollback-started", r.h)
	if err := r.switchTraffic(ctx, id); err != nil {
		if uerr := r.undo(); uerr != nil {
			err = errors.Join(err, uerr)
		}
		return err
	}
	faultPoint("rollback-switched", r.h)
	r.switched = false
	r.slotBefore = HostFile{}
	return r.finish(context.WithoutCancel(ctx), id, nil)
}

// RollbackHosts makes a release still on disk current on every host:
// target, or the one each host ran before its current one. No build, no
// transfer: the idle slot starts it, nginx switches, the other slot stops.
func RollbackHosts(ctx context.Context, o HostsOptions, target string) error {
	f, err := newFleet(o)
	if err != nil {
		return err
	}
	if target != "" && !releaseIDRE.MatchString(target) {
		return ui.Usagef("name a release as 'stackctl releases' lists it (20261202T101500Z)", "%q is not a release id", target)
	}
	start := time.Now()
	runs := make([]*hostRun, len(o.Hosts))
	for i, h := range o.Hosts {
		runs[i] = &hostRun{fleet: f, h: h}
	}
	unlock, err := f.lockAll(ctx, runs, "rollback")
	defer unlock()
	if err != nil {
		return err
	}
	for _, r := range runs {
		h := r.h
		if err := r.probe(ctx); err != nil {
			return err
		}
		if !f.DryRun {
			if err := r.recover(ctx); err != nil {
				return err
			}
		}
		to := target
		if to == "" {
			to = r.previous()
		}
		switch {
		case r.state.Current == "":
			return ui.Errorf("deploy first", "%s: %s has no release to roll back", h.Name(), f.c.Name)
		case to == "":
			return ui.Errorf("deploy again, or name a release with 'stackctl rollback RELEASE'", "%s: no earlier release of %s is left on disk", h.Name(), f.c.Name)
		case !r.facts.OnDisk[to]:
			return ui.Errorf("choose one of 'stackctl releases'", "%s: release %s is not on disk", h.Name(), to)
		}
		r.id = to
	}
	if f.DryRun {
		for _, r := range runs {
			r.say(r.h, "would start release %s on slot %s, switch nginx to it and stop slot %s", r.id, otherSlot(r.state.Slot), r.state.Slot)
		}
		return nil
	}
	// Host by host; when one fails, the hosts already rolled back switch
	// back to the release they ran, so every host keeps running one
	// release (DEPLOY.md "Several hosts").
	var done []*hostRun
	for _, r := range runs {
		to := r.id
		if to == r.state.Current {
			r.say(r.h, "already runs release %s", to)
			continue
		}
		r.ranBefore = r.state.Current
		if err := r.switchTo(ctx, to); err != nil {
			return f.undoRollback(done, err)
		}
		done = append(done, r)
	}
	fmt.Fprintf(f.Out, "\n%s %s on %s in %s.\n", f.p.Bold("Rolled back"), f.c.Name, hostNames(runs), since(start))
	return nil
}

// undoRollback switches the hosts a rollback already switched (done) back
// to the release each ran before, after cause stopped the rollback on the
// next host, and says so in the error it returns.
func (f *fleet) undoRollback(done []*hostRun, cause error) error {
	if len(done) == 0 {
		return cause
	}
	was := make([]string, len(done))
	for i, r := range done {
		was[i] = r.h.Name() + " back on " + r.ranBefore
	}
	if err := f.revert(done, false); err != nil {
		return errors.Join(cause, ui.WithFix(fmt.Errorf("switching %s back to the release they ran before the rollback failed, so the hosts may run different releases: %w", hostNames(done), err),
			"see 'stackctl releases', then 'stackctl rollback RELEASE' to put every host on one release"))
	}
	fmt.Fprintf(f.Out, "\n%s every host is back on the release it ran before the rollback.\n", f.p.Yellow("Rollback undone:"))
	return errors.Join(cause, fmt.Errorf("rollback undone: every host runs the release it ran before the rollback (%s)", strings.Join(was, ", ")))
}

// HostReleases is one host's releases, oldest first.
type HostReleases struct {
	Host     string
	Slot     string
	Releases []ReleaseInfo
}

// ListReleases reads every host's releases.
func ListReleases(ctx context.Context, o HostsOptions) ([]HostReleases, error) {
	f, err := newReadOnlyFleet(o)
	if err != nil {
		return nil, err
	}
	var out []HostReleases
	for _, h := range o.Hosts {
		r := &hostRun{fleet: f, h: h}
		if err := r.probe(ctx); err != nil {
			return nil, err
		}
		hr := HostReleases{Host: h.Name(), Slot: r.state.Slot}
		seen := map[string]bool{}
		for _, ri := range r.state.Releases {
			ri.OnDisk = r.facts.OnDisk[ri.ID]
			ri.Current = ri.ID == r.state.Current
			seen[ri.ID] = true
			hr.Releases = append(hr.Releases, ri)
		}
		for id := range r.facts.OnDisk {
			if !seen[id] {
				hr.Releases = append(hr.Releases, ReleaseInfo{ID: id, OnDisk: true, Current: id == r.state.Current})
			}
		}
		sort.Slice(hr.Releases, func(i, j int) bool { return hr.Releases[i].ID < hr.Releases[j].ID })
		out = append(out, hr)
	}
	return out, nil
}

func hostNames(runs []*hostRun) string {
	names := make([]string, len(runs))
	for i, r := range runs {
		names[i] = r.h.Name()
	}
	return strings.Join(names, ", ")
}

func hostFlags(runs []*hostRun) string {
	var b strings.Builder
	for _, r := range runs {
		if !host.IsLocal(r.h) {
			b.WriteString(" --host " + host.Quote(r.h.Name()))
		}
	}
	return b.String()
}

// printDryRun shows what a deploy would do on the host: every file of the
// release (which are sent) and the rule that chose them, the diff of
// every system file, and the commands.
func (r *hostRun) printDryRun() {
	p := r.p
	if r.noop() {
		r.say(r.h, "%s already runs this release (%s): a deploy would change nothing", p.Green("no changes:"), r.state.Current)
		return
	}
	// As prepare: without the current release on disk, everything is sent.
	oldSums, oldModes := r.oldSums, r.oldModes
	if r.state.Current == "" || !r.facts.OnDisk[r.state.Current] {
		oldSums, oldModes = nil, nil
	}
	changed, n := r.bundle.Changed(oldSums, oldModes)
	slot, err := r.pickNewSlot()
	if err != nil {
		r.say(r.h, "%s %v", p.Red("would stop:"), err)
		return
	}
	r.say(r.h, "would send %d of %d files (%s) as a new release under %s", len(changed), len(r.bundle.Files), humanBytes(n), r.l.Releases())
	fmt.Fprintf(r.Out, "    release files: %s%s (+ sent: new or changed; = unchanged, linked from the current release; - removed)\n", r.bundle.Rule, builtBy(r.bundle.BuildArgv))
	for _, l := range releaseListing(r.bundle, oldSums, oldModes) {
		mark := l[:1]
		switch mark {
		case "+":
			mark = p.Green(mark)
		case "-":
			mark = p.Red(mark)
		}
		fmt.Fprintf(r.Out, "    %s%s\n", mark, l[1:])
	}
	for _, w := range r.filesChanged() {
		b := r.before[w.Path]
		switch {
		case w.Link != "":
			fmt.Fprintf(r.Out, "    %s %s -> %s\n", p.Green("+"), w.Path, w.Link)
		case w.Path == r.l.AppEnv():
			// app.env is root-only on the host; its values stay out of diffs.
			fmt.Fprintf(r.Out, "    %s %s (0600, values not shown)\n", p.Yellow("~"), w.Path)
		default:
			fmt.Fprint(r.Out, indent(UnifiedDiff(w.Path+" (now)", w.Path+" (new)", b.Data, w.Data)))
			fmt.Fprintln(r.Out)
		}
	}
	fmt.Fprintf(r.Out, "    then: nginx -t; systemctl restart %s; GET %s (Host: %s) on :%d until 2xx/3xx;\n", r.l.Instance(slot), r.c.App.Health, servedName(r.c), SlotPort(r.c, slot))
	fmt.Fprintf(r.Out, "          point %s at slot %s; nginx -t; systemctl reload nginx", r.l.UpstreamFile(), slot)
	if r.state.Slot != "" {
		fmt.Fprintf(r.Out, "; systemctl disable --now %s", r.l.Instance(r.state.Slot))
	}
	fmt.Fprintln(r.Out)
	if r.c.Deploy.ReleaseCommand != "" {
		fmt.Fprintf(r.Out, "    release_command (before the switch, as %s): %s\n", r.c.Deploy.User, r.c.Deploy.ReleaseCommand)
	}
}

// builtBy names the build whose output the release holds besides the
// project's files ("" for none).
func builtBy(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	return ", plus the output of '" + strings.Join(argv, " ") + "'"
}

// releaseListing lists every file of b against the release described by
// oldSums and oldModes (Changed), one line each, sorted: "+ path" for a
// file sent (new, or changed in content or mode: "(mode 644 → 755)" when
// only its mode changed), "= path" for one kept from the current release,
// "- path" for a file of the current release that the new one lacks.
func releaseListing(b *Bundle, oldSums map[string]string, oldModes map[string]fs.FileMode) []string {
	sent := map[string]bool{}
	changed, _ := b.Changed(oldSums, oldModes)
	for _, f := range changed {
		sent[f.Rel] = true
	}
	var lines []string
	for _, f := range b.Files {
		old, known := oldModes[f.Rel]
		switch {
		case !sent[f.Rel]:
			lines = append(lines, "= "+f.Rel)
		case oldSums[f.Rel] == b.Sums[f.Rel] && known:
			lines = append(lines, fmt.Sprintf("+ %s (mode %o → %o)", f.Rel, old, f.Mode.Perm()))
		default:
			lines = append(lines, "+ "+f.Rel)
		}
	}
	for p := range oldSums {
		if _, ok := b.Sums[p]; !ok {
			lines = append(lines, "- "+p)
		}
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][2:] < lines[j][2:] })
	return lines
}
