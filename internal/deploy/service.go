package deploy

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/kballard/go-shellquote"

	"github.com/stackctl/stackctl/internal/ui"
)

// verifyUnit runs systemd-analyze verify on the written unit when the tool
// is installed.
func (r *run) verifyUnit(ctx context.Context, unitPath string, unit *Unit) error {
	sa, err := r.System.LookPath("systemd-analyze")
	if err != nil {
		r.say("%s systemd-analyze is not installed: the unit is not verified (apt-get install systemd)", r.p.Yellow("note:"))
		return nil
	}
	argv := []string{sa, "verify"}
	target := unitPath
	if r.Root != "" {
		// Under a root the rest of the system's units are not there;
		// judge this unit alone.
		argv = append(argv, "--recursive-errors=no", "--root="+r.Root)
		target = strings.TrimPrefix(unitPath, r.Root)
	}
	out, err := r.System.run(ctx, "", append(argv, target)...)
	if err != nil && !r.onlyMissingSystemProgram(out, unit) {
		return ui.WithFix(fmt.Errorf("systemd rejects the unit %s:\n%s", unitPath, indent(strings.TrimSpace(out))), "fix app.command, app.env or deploy.user in stack.toml")
	}
	return nil
}

// onlyMissingSystemProgram reports whether systemd-analyze's sole complaint
// under --root is that ExecStart's program (gunicorn: installed on the
// machine, not inside the root) is missing from the root.
func (r *run) onlyMissingSystemProgram(out string, unit *Unit) bool {
	if r.Root == "" || strings.HasPrefix(unit.Argv[0], r.c.Nginx.AppDir+"/") {
		return false
	}
	if _, err := os.Stat(unit.Argv[0]); err != nil {
		return false
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return len(lines) == 1 && strings.Contains(lines[0], "Command "+unit.Argv[0]+" is not executable")
}

// localCommand is the unit's command as a shell line for this machine:
// under --root the installed binary is inside the root.
func (r *run) localCommand(u *Unit) string {
	argv := append([]string(nil), u.Argv...)
	if r.Root != "" && strings.HasPrefix(argv[0], r.c.Nginx.AppDir+"/") {
		argv[0] = r.j(argv[0])
	}
	// app.env is read from its root-only file (its double-quoted values
	// are valid shell), never printed.
	n := min(2, len(u.Env)) // HOST and PORT: in the unit itself
	line := "cd " + shellquote.Join(r.j(u.Dir)) + " && (set -a && . " + shellquote.Join(r.j(u.EnvFile)) + " && exec env " + shellquote.Join(u.Env[:n]...) + " " + shellquote.Join(argv...) + ")"
	return line
}
