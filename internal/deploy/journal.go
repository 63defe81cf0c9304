package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/ui"
)

// Crash safety (DEPLOY.md "Crash safety: the host is the record"): before
// a deploy or a rollback changes a host, it writes what it is about to do
// to the host (journal.json beside state.json). The record goes when the
// command finishes or is undone. A command that finds a record left by one
// that was cut off (Ctrl-C, SIGKILL, a dropped connection) first finishes
// or reverts it — from what the host shows (the slot nginx's upstream file
// names, the slots' links), never from what a laptop remembers.

// journal is the record of one change in progress on a host.
type journal struct {
	// Command is "deploy" or "rollback".
	Command string `json:"command"`
	// Release is the release going live (with who, when, commit for a
	// deploy's new release).
	Release ReleaseInfo `json:"release"`
	// NewRelease is true when the release folder is this command's: a
	// revert removes it.
	NewRelease bool `json:"new_release"`
	// OldSlot served before ("" on a first deploy); NewSlot takes over.
	OldSlot string `json:"old_slot"`
	NewSlot string `json:"new_slot"`
	// RanBefore is the release current before the command.
	RanBefore string `json:"ran_before"`
	// SlotBefore is where NewSlot's link pointed ("" for no link).
	SlotBefore string `json:"slot_before"`
	// Files are the system files the command writes; Backup holds the
	// old content of those that existed.
	Files  []journalFile `json:"files,omitempty"`
	Backup string        `json:"backup,omitempty"`
	// By and PID say who wrote the record, Since when.
	By    string    `json:"by"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
}

// journalFile is one system file a command writes.
type journalFile struct {
	Path    string `json:"path"`
	Existed bool   `json:"existed"`
}

// Journal is the host's record of the change in progress.
func (l HostLayout) Journal() string { return path.Join(l.StateDir, "journal.json") }

// record writes the journal of the change r is about to make.
func (r *hostRun) record(ctx context.Context, command string, info ReleaseInfo, newRelease bool, files []HostFile) error {
	j := journal{Command: command, Release: info, NewRelease: newRelease, OldSlot: r.state.Slot, NewSlot: r.newSlot,
		RanBefore: r.state.Current, SlotBefore: r.facts.SlotLink[r.newSlot], By: r.by, PID: os.Getpid(), Since: r.Now().UTC()}
	if len(files) > 0 {
		j.Backup = path.Join(r.l.StateDir, "backups", info.ID)
	}
	for _, f := range files {
		j.Files = append(j.Files, journalFile{Path: f.Path, Existed: r.before[f.Path].Exists})
	}
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return writeHostFiles(ctx, r.h, r.l.StateDir, "", []HostFile{{Path: r.l.Journal(), Exists: true, Data: append(data, '\n'), Mode: 0o600}})
}

// readJournal reads the host's journal; nil when there is none.
func (r *hostRun) readJournal(ctx context.Context) (*journal, error) {
	files, err := readHostFiles(ctx, r.h, r.l.Journal())
	if err != nil {
		return nil, err
	}
	f := files[r.l.Journal()]
	if !f.Exists {
		return nil, nil
	}
	var j journal
	if err := json.Unmarshal(f.Data, &j); err != nil || !releaseIDRE.MatchString(j.Release.ID) || (j.NewSlot != "a" && j.NewSlot != "b") {
		return nil, fmt.Errorf("%s: %s is not a record stackctl wrote (%v): move it away", r.h.Name(), r.l.Journal(), err)
	}
	return &j, nil
}

// dropJournal removes the host's journal: the change is finished or undone.
func (r *hostRun) dropJournal(ctx context.Context) error {
	_, err := host.Output(ctx, r.h, true, "rm", "-f", "--", r.l.Journal())
	return err
}

// servingSlot is the slot nginx's upstream file names ("" for none).
func servingSlot(r *hostRun, f hostFacts) string {
	for _, s := range Slots {
		if f.Serving == AppHost+":"+strconv.Itoa(SlotPort(r.c, s)) {
			return s
		}
	}
	return ""
}

// switched tells whether the host shows j's switch done: nginx's upstream
// names the new slot, and that slot runs j's release.
func (j *journal) switched(serving string, f hostFacts) bool {
	return serving == j.NewSlot && f.SlotLink[j.NewSlot] == "../releases/"+j.Release.ID
}

// converge finishes or reverts the change the host's journal records,
// from what the host shows: when nginx's upstream already names the new
// slot, the change is finished (the new release serves, the old slot
// stops); otherwise it is reverted (the old slot serves, every file is put
// back from the backup, the new release folder goes). It returns whether
// the change was finished, and does nothing without a journal.
func (r *hostRun) converge(ctx context.Context) (finished bool, err error) {
	j, err := r.readJournal(ctx)
	if err != nil || j == nil {
		return false, err
	}
	f, err := probeHost(ctx, r.h, r.l.AppDir, r.l.Service, "", r.l.UpstreamFile(), SlotPort(r.c, "a"), SlotPort(r.c, "b"))
	if err != nil {
		return false, err
	}
	if j.switched(servingSlot(r, f), f) {
		return true, r.rollForward(ctx, j, f)
	}
	return false, r.rollBack(ctx, j, f)
}

// rollForward finishes a change whose switch the host shows done.
func (r *hostRun) rollForward(ctx context.Context, j *journal, f hostFacts) error {
	if f.Active[j.NewSlot] != "active" {
		if _, err := host.Output(ctx, r.h, true, "systemctl", "start", r.l.Instance(j.NewSlot)); err != nil {
			return fmt.Errorf("%s: start %s: %w", r.h.Name(), r.l.Instance(j.NewSlot), err)
		}
	}
	// nginx may not have reloaded after the upstream file changed, and
	// the current link may lag: both follow the upstream file now.
	rel, err := r.releaseFile(j.Release.ID)
	if err != nil {
		return err
	}
	if out, err := host.Output(ctx, r.h, true, "sh", "-c", pointScript, "stackctl", r.l.Current(), "releases/"+j.Release.ID, strconv.Itoa(int(r.DrainTimeout/time.Second)), r.l.ReleaseFile(), string(rel)); err != nil {
		return fmt.Errorf("%s: reload nginx on slot %s: %s: %w", r.h.Name(), j.NewSlot, strings.TrimSpace(out), err)
	}
	if j.OldSlot != "" && j.OldSlot != j.NewSlot {
		host.Output(ctx, r.h, true, "systemctl", "disable", "--now", "--quiet", "--no-reload", r.l.Instance(j.OldSlot))
	}
	host.Output(ctx, r.h, true, "systemctl", "enable", "--quiet", "--no-reload", r.l.Instance(j.NewSlot))
	if err := r.syncProcesses(ctx, j.Release.ID); err != nil {
		return err
	}
	if err := r.loadState(ctx); err != nil {
		return err
	}
	// The switch happened: the history holds it, or "the previous
	// release" skips it (a no-op when finish already recorded it).
	r.state.recordSwitch(r.state.Current, j.Release.ID)
	r.state.Slot, r.state.Current = j.NewSlot, j.Release.ID
	if r.state.find(j.Release.ID) == nil && j.Release.By != "" {
		r.state.Releases = append(r.state.Releases, j.Release)
	}
	if err := r.saveState(ctx); err != nil {
		return err
	}
	if err := r.dropJournal(ctx); err != nil {
		return err
	}
	r.say(r.h, "%s the %s of release %s by %s (since %s) was cut off after nginx switched to it: finished it, release %s is current",
		r.p.Yellow("↻"), j.Command, j.Release.ID, orUnknown(j.By), j.Since.Format(time.RFC3339), j.Release.ID)
	return nil
}

// rollBack reverts a change whose switch the host does not show done.
func (r *hostRun) rollBack(ctx context.Context, j *journal, f hostFacts) (err error) {
	if j.OldSlot != "" && servingSlot(r, f) != j.OldSlot {
		// The upstream file was moved but the slot link does not match:
		// point nginx back at the slot that served.
		up, args, err := r.switchArgs(j.OldSlot, j.RanBefore)
		if err != nil {
			return err
		}
		if out, err := rootOutput(ctx, r.h, bytes.NewReader(up), args...); err != nil {
			return fmt.Errorf("%s: switch nginx back to slot %s: %s: %w", r.h.Name(), j.OldSlot, strings.TrimSpace(out), err)
		}
	}
	if j.NewSlot != j.OldSlot {
		host.Output(ctx, r.h, true, "systemctl", "stop", r.l.Instance(j.NewSlot))
	}
	rel := []byte{}
	if j.RanBefore != "" {
		if rel, err = r.releaseFile(j.RanBefore); err != nil {
			return err
		}
	}
	args := []string{"sh", "-c", revertScript, "stackctl", r.l.SlotLink(j.NewSlot), j.SlotBefore, r.l.Current(), j.RanBefore, j.Backup, r.l.ReleaseFile(), string(rel)}
	for _, jf := range j.Files {
		if jf.Existed {
			args = append(args, "restore:"+jf.Path)
		} else {
			args = append(args, "rm:"+jf.Path)
		}
	}
	if out, err := host.Output(ctx, r.h, true, args...); err != nil {
		return fmt.Errorf("%s: put the files back from %s: %s: %w", r.h.Name(), j.Backup, strings.TrimSpace(out), err)
	}
	if j.NewRelease && j.Release.ID != j.RanBefore {
		if _, err := host.Output(ctx, r.h, true, "sh", "-c", removeReleasesScript, "stackctl", r.l.Releases(), j.Release.ID); err != nil {
			return fmt.Errorf("%s: remove release %s: %w", r.h.Name(), j.Release.ID, err)
		}
		delete(r.facts.OnDisk, j.Release.ID)
	}
	if err := r.dropJournal(ctx); err != nil {
		return err
	}
	r.say(r.h, "%s the %s of release %s by %s (since %s) stopped before nginx switched to it: reverted, release %s keeps serving",
		r.p.Yellow("↺"), j.Command, j.Release.ID, orUnknown(j.By), j.Since.Format(time.RFC3339), orUnknown(j.RanBefore))
	return nil
}

// loadState reads state.json into r.state.
func (r *hostRun) loadState(ctx context.Context) error {
	files, err := readHostFiles(ctx, r.h, r.l.StateFile())
	if err != nil {
		return err
	}
	r.state = hostState{}
	if sf := files[r.l.StateFile()]; sf.Exists {
		if err := json.Unmarshal(sf.Data, &r.state); err != nil {
			return fmt.Errorf("%s: %s is not valid: %w", r.h.Name(), r.l.StateFile(), err)
		}
	}
	return nil
}

// pointScript makes the link $1 point at $2, the release file $4 hold $5,
// and reloads nginx gracefully, waiting at most $3 seconds for its old
// workers: a cut-off switch, finished.
const pointScript = reloadAndDrain + `set -eu
ln -sfn "$2" "$1.new"
mv -fT "$1.new" "$1"
printf '%s' "$5" >"$4.new"
mv -fT "$4.new" "$4"
nginx -t 2>&1
reload_and_drain "$3"
`

// revertScript puts a host back as a journal says it was: the slot link
// $1 points at $2 again (removed when $2 is empty), the current link $3 at
// releases/$4 and the release file $6 holds $7 (when $4 is set), and each
// "restore:PATH" is copied back from the backup folder $5, each "rm:PATH"
// (a file the change created) removed. Then systemd and nginx reread
// their files (nginx only when its configuration is valid: a site that
// never served is simply gone).
const revertScript = `set -eu
link=$1; before=$2; cur=$3; ran=$4; backup=$5; rel=$6; relbody=$7; shift 7
if [ -n "$before" ]; then ln -sfn "$before" "$link.new" && mv -fT "$link.new" "$link"; else rm -f "$link"; fi
if [ -n "$ran" ]; then
	ln -sfn "releases/$ran" "$cur.new" && mv -fT "$cur.new" "$cur"
	printf '%s' "$relbody" >"$rel.new" && mv -fT "$rel.new" "$rel"
fi
for op in "$@"; do
	kind=${op%%:*}; p=${op#*:}
	case $kind in
	restore) [ -e "$backup$p" ] || [ -L "$backup$p" ] && { cp -a "$backup$p" "$p.stackctl-restore"; mv -fT "$p.stackctl-restore" "$p"; } ;;
	rm) rm -f "$p" ;;
	esac
done
systemctl daemon-reload
if nginx -t >/dev/null 2>&1; then systemctl reload nginx; fi
`

// recover converges a change a cut-off command left on the host (r holds
// its lock), then reads the host again; it does nothing when the probe
// found no record.
func (r *hostRun) recover(ctx context.Context) error {
	if !r.pending {
		return nil
	}
	if _, err := r.converge(ctx); err != nil {
		return ui.WithFix(err, "the host keeps the record "+r.l.Journal()+": run the command again")
	}
	r.pending = false
	return r.probe(ctx)
}
