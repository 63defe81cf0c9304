package deploy

import (
	"context"
	"fmt"
	"path"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/ui"
)

// A machine the single-unit engine deployed (deploy before releases, or
// without systemd at the time) runs the app as <service>.service on
// app.port, with the site pointing at that port. The first release deploy
// takes it over without failing a request: the new release starts in the
// slot whose port is free, nginx switches to it, and only then is the old
// unit stopped and disabled, its file kept among the backups.

// legacyUnit is the single-unit engine's unit name ("myapp.service").
func (l HostLayout) legacyUnit() string { return l.Service + ".service" }

// retireLegacyScript stops and disables unit $1, moves its file $2 to $3
// (a backup folder) and reloads systemd.
const retireLegacyScript = `set -eu
systemctl disable --now --quiet "$1" 2>/dev/null || systemctl stop "$1"
mkdir -p "$3"
if [ -f "$2" ]; then mv -f "$2" "$3/"; fi
systemctl daemon-reload
systemctl reset-failed "$1" 2>/dev/null || true
`

// foreignPort reports whether something other than slot's own unit
// listens on slot's port (the single-unit service of an earlier deploy,
// or another program).
func (r *hostRun) foreignPort(slot string) bool {
	return r.facts.Busy[slot] && r.facts.Active[slot] != "active"
}

// pickNewSlot chooses the slot the next release starts in: the idle one,
// or on a host without releases yet the first whose port is free (slot b
// when the single-unit service of an earlier deploy holds app.port). A
// port held by anything else stops the command before it changes anything.
func (r *hostRun) pickNewSlot() (string, error) {
	slot := "a"
	if r.state.Slot != "" {
		slot = otherSlot(r.state.Slot)
	} else if r.foreignPort("a") {
		slot = "b"
	}
	if r.foreignPort(slot) {
		port := SlotPort(r.c, slot)
		what := "another program"
		if r.facts.Legacy == "active" && slot == "a" {
			what = r.l.legacyUnit()
		}
		return "", ui.WithFix(fmt.Errorf("%s: port %d, which slot %s of %s runs on, is taken by %s; nothing was changed", r.h.Name(), port, slot, r.c.Name, what),
			fmt.Sprintf("free it (%s shows who holds it), or change app.port in stack.toml", onHost(r.h, fmt.Sprintf("sudo ss -ltnp 'sport = :%d'", port))))
	}
	return slot, nil
}

// retireLegacy stops and disables the single-unit service of an earlier
// deploy, once nginx sends every request to release id's slot, and keeps
// its unit file in the backups.
func (r *hostRun) retireLegacy(ctx context.Context, id string) {
	if r.facts.Legacy == "" {
		return
	}
	unit := r.l.legacyUnit()
	backup := path.Join(r.l.StateDir, "backups", id+"-takeover")
	if _, err := host.Output(ctx, r.h, true, "sh", "-c", retireLegacyScript, "stackctl", unit, path.Join(unitDir, unit), backup); err != nil {
		r.say(r.h, "%s could not stop the earlier deploy's %s: %v (stop it: %s)", r.p.Yellow("warning:"), unit, err,
			onHost(r.h, "sudo systemctl disable --now "+unit))
		return
	}
	r.facts.Legacy = ""
	r.say(r.h, "%s took over from the earlier single-unit deploy: %s is stopped and disabled, its unit file kept in %s (the files it ran from in %s are left as they were)",
		r.p.Cyan("⏹"), unit, backup, r.l.AppDir)
}

// onHost is how the user runs a shell command line on h: over ssh for a
// server, as it is on this machine.
func onHost(h host.Host, cmdline string) string {
	if host.IsLocal(h) {
		return cmdline
	}
	return "ssh " + host.Quote(h.Name()) + " " + cmdline
}

// onWhere names h's place for a fix: "on the server" or "on this machine".
func onWhere(h host.Host) string {
	if host.IsLocal(h) {
		return "on this machine"
	}
	return "on the server"
}
