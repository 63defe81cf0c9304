package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
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

// useraddArgv creates deploy.user as a system user with its own group, no
// login shell and no home folder of its own.
func (r *run) useraddArgv() []string {
	return []string{"useradd", "--system", "--user-group", "--no-create-home", "--home-dir", r.c.Nginx.AppDir, "--shell", "/usr/sbin/nologin", r.c.Deploy.User}
}

// userMissing reports whether deploy.user does not exist on this machine.
func (r *run) userMissing() bool {
	_, err := user.Lookup(r.c.Deploy.User)
	var unknown user.UnknownUserError
	return errors.As(err, &unknown)
}

// ensureUser creates deploy.user when it does not exist, so the unit's
// User= and Group= resolve.
func (r *run) ensureUser(ctx context.Context) error {
	if !r.userMissing() {
		return nil
	}
	argv := r.useraddArgv()
	if _, err := r.System.run(ctx, "", argv...); err != nil {
		return ui.WithFix(fmt.Errorf("create the user %s: %w", r.c.Deploy.User, err), "create it yourself or set deploy.user to an existing unprivileged user")
	}
	r.say("%s system user %s", r.p.Green("created:"), r.c.Deploy.User)
	return nil
}

func (r *run) startService(ctx context.Context) error {
	name := r.c.Deploy.Service + ".service"
	for _, argv := range [][]string{{"systemctl", "daemon-reload"}, {"systemctl", "enable", name}, {"systemctl", "restart", name}} {
		if _, err := r.System.run(ctx, "", argv...); err != nil {
			return ui.WithFix(fmt.Errorf("start the service: %w", err), "see 'systemctl status "+name+"' and 'journalctl -u "+name+"'")
		}
	}
	r.say("%s %s (re)started by systemd", r.p.Green("started:"), name)
	return nil
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
