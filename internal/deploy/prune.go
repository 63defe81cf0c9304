package deploy

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/stackctl/stackctl/internal/host"
)

// listDirsScript prints, for each folder named as an argument, a line
// "dir=<folder>" and then the names it holds (none when it is missing).
const listDirsScript = `for d in "$@"; do echo "dir=$d"; [ -d "$d" ] && ls -A -- "$d"; done; exit 0`

// leftovers picks what finish removes besides the pruned releases, from
// the names in the backups folder, the state folder and the releases
// folder: the backups of releases no longer kept (keep says which are;
// a takeover's backup "<id>-takeover" goes with release id), the staging
// folders of file writes (".stage-N") and the temporary copies of
// releases (".<id>.tmp", ".have", ".want") that an interrupted command
// left. Names of any other shape (the lb's "lb-…" backups, files of the
// user's) are never picked. Only a command that holds the lock calls it,
// so no other command's temporary folder is in use.
func leftovers(backups, state, releases []string, keep func(id string) bool) (oldBackups, temps []string) {
	for _, n := range backups {
		id := strings.TrimSuffix(n, "-takeover")
		if releaseIDRE.MatchString(id) && !keep(id) {
			oldBackups = append(oldBackups, n)
		}
	}
	for _, n := range state {
		if strings.HasPrefix(n, ".stage-") {
			temps = append(temps, n)
		}
	}
	for _, n := range releases {
		for _, ext := range []string{".tmp", ".have", ".want"} {
			if id, ok := strings.CutSuffix(strings.TrimPrefix(n, "."), ext); ok && strings.HasPrefix(n, ".") && releaseIDRE.MatchString(id) {
				temps = append(temps, n)
			}
		}
	}
	return oldBackups, temps
}

// pruneLeftovers removes the backups of the releases the host no longer
// keeps and the temporary folders interrupted commands left (leftovers),
// after finish pruned the releases. It only warns when it fails, and
// returns what it removed, for finish's line ("" for nothing).
func (r *hostRun) pruneLeftovers(ctx context.Context) string {
	backups := path.Join(r.l.StateDir, "backups")
	out, err := host.Output(ctx, r.h, true, "sh", "-c", listDirsScript, "stackctl", backups, r.l.StateDir, r.l.Releases())
	if err != nil {
		r.say(r.h, "%s list the backups: %v", r.p.Yellow("warning:"), err)
		return ""
	}
	names := map[string][]string{}
	dir := ""
	for _, line := range strings.Split(out, "\n") {
		if d, ok := strings.CutPrefix(line, "dir="); ok {
			dir = d
		} else if line != "" && !strings.Contains(line, "/") {
			names[dir] = append(names[dir], line)
		}
	}
	keep := func(id string) bool { return id == r.state.Current || id == r.id || r.facts.OnDisk[id] }
	old, temps := leftovers(names[backups], names[r.l.StateDir], names[r.l.Releases()], keep)
	var paths []string
	for _, n := range old {
		paths = append(paths, path.Join(backups, n))
	}
	for _, n := range temps {
		if strings.HasPrefix(n, ".stage-") {
			paths = append(paths, path.Join(r.l.StateDir, n))
		} else {
			paths = append(paths, path.Join(r.l.Releases(), n))
		}
	}
	if len(paths) == 0 {
		return ""
	}
	if _, err := host.Output(ctx, r.h, true, append([]string{"rm", "-rf", "--"}, paths...)...); err != nil {
		r.say(r.h, "%s remove old backups and temporary folders: %v", r.p.Yellow("warning:"), err)
		return ""
	}
	return fmt.Sprintf("removed %d old backups and %d temporary folders", len(old), len(temps))
}
