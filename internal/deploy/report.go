package deploy

import (
	"path"

	"github.com/kballard/go-shellquote"

	"github.com/stackctl/stackctl/internal/ui"
)

func (r *run) summary(pending []Pending, backup string) {
	r.say("\n%s %s:", r.p.Bold("Deployed"), r.c.Name)
	for _, p := range pending {
		r.say("  %s", describe(p, r.p))
	}
	r.say("Backup of the previous files: %s\nUndo with: stackctl deploy --rollback%s", backup, rootFlag(r.Root))
}

func rootFlag(root string) string {
	if root == "" {
		return ""
	}
	return " --root " + shellquote.Join(root)
}

func describe(p Pending, pal *ui.Palette) string {
	label := ""
	if p.Label != "" {
		label = " (" + p.Label + ")"
	}
	switch {
	case p.Remove:
		return pal.Red("- removed  ") + p.Path + label
	case !p.Existed():
		what := "+ created  "
		if p.Link != "" {
			return pal.Green(what) + p.Path + " -> " + p.Link + label
		}
		return pal.Green(what) + p.Path + label
	default:
		return pal.Yellow("~ updated  ") + p.Path + label
	}
}

func (r *run) printDryRun(pending []Pending, unit *Unit, buildArgv []string, t HealthTarget) {
	if len(pending) == 0 {
		r.say("Dry run: %s is already deployed as it is now; nothing would change.", r.c.Name)
		return
	}
	r.say("%s nothing is written. %d change(s):\n", r.p.Bold("Dry run:"), len(pending))
	for _, p := range pending {
		r.say("%s", describe(p, r.p))
		switch {
		case p.Dir:
		case p.Remove:
			if p.Before() != nil {
				r.say("%s", UnifiedDiff(p.Path, "/dev/null", p.Before(), nil))
			}
		case p.Link != "":
			if p.BeforeLink() != "" {
				r.say("  link %s -> %s (was -> %s)", p.Path, p.Link, p.BeforeLink())
			}
		case p.Mode.Perm() == 0o600:
			// app.env is root-only; its values stay out of diffs.
			r.say("  (0600, values not shown)")
		default:
			oldName := p.Path
			if !p.Existed() {
				oldName = "/dev/null"
			}
			r.say("%s", UnifiedDiff(oldName, p.Path, p.Before(), p.Data))
		}
	}
	r.say("Commands deploy would run:")
	cmds := [][]string{}
	if buildArgv != nil {
		cmds = append(cmds, buildArgv)
	}
	cmds = append(cmds, []string{"systemd-analyze", "verify", r.j(path.Join(unitDir, unit.Name))}, r.layout.Args("-t"))
	cmds = append(cmds, r.layout.Args("-s", "reload"))
	for _, c := range cmds {
		r.say("  %s", shellquote.Join(c...))
	}
	r.say("  GET %s (Host: %s)", t.URL, t.Host)
	r.say("systemd is not running here: %s would not be started; it runs %s", unit.Name, r.localCommand(unit))
}
