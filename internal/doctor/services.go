package doctor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/deploy"
)

// BackupMaxAge is how old the newest database backup may be before doctor
// warns: the daily timer (with its random delay) runs well within it.
const BackupMaxAge = 48 * time.Hour

// ServicesServer is the report of `stackctl doctor --host` on a host of
// its own that runs only [services]: systemd, bash and sudo as on any
// server; nginx and python3-venv are not needed there.
func ServicesServer(name string, p deploy.ServerPrereqs) Report {
	r := Server(name, p, nil)
	for i, c := range r.Checks {
		if c.Name == "nginx" || c.Name == "python3-venv" {
			r.Checks[i] = Check{Name: c.Name, Status: Skip, Detail: "not needed on a host that runs only [services]"}
		}
	}
	return (&doctor{checks: r.Checks}).report(name)
}

// Services adds to r the checks of the services the server dest runs for
// app: each one installed and running, listening on 127.0.0.1 and the
// addresses in listen only, the app's role or user made, and for
// PostgreSQL a backup younger than BackupMaxAge and the daily timer on.
// Each miss is a warning with its fix.
func Services(r *Report, dest, app string, facts []deploy.ServiceFacts, listen []string) {
	on := "on " + dest + " as root: "
	for _, f := range facts {
		add := func(what string, ok bool, detail, fix string) {
			c := Check{Name: f.Name + ": " + what, Status: OK, Detail: detail}
			if !ok {
				c.Status, c.Fix = Warn, fix
			}
			r.Checks = append(r.Checks, c)
		}
		pkg := map[string]string{"postgres": "postgresql", "redis": "redis-server"}[f.Name]
		if !f.Installed {
			add("installed", false, pkg+" is not installed", "stackctl deploy (it installs "+pkg+")")
			continue
		}
		add("running", f.State == "active", f.Unit+" is "+orNone(f.State), on+"systemctl start "+f.Unit)
		want := append([]string{"127.0.0.1", "::1"}, listen...)
		var extra []string
		for _, a := range f.Listen {
			if !slices.Contains(want, a) {
				extra = append(extra, a)
			}
		}
		var missing []string
		for _, a := range append([]string{"127.0.0.1"}, listen...) {
			if !slices.Contains(f.Listen, a) {
				missing = append(missing, a)
			}
		}
		detail := "on " + strings.Join(f.Listen, ", ")
		switch {
		case len(f.Listen) == 0:
			detail = "not listening"
		case len(extra) > 0:
			detail += ": " + strings.Join(extra, ", ") + " is beyond the app hosts"
		case len(missing) > 0:
			detail += ": not on " + strings.Join(missing, ", ") + ", where the app hosts reach it"
		}
		if f.State == "active" {
			add("listening", len(extra) == 0 && len(missing) == 0, detail, "stackctl deploy (it writes where "+f.Name+" listens)")
		}
		if f.Name == "postgres" {
			add("role", f.User, found(f.User, "role and database "+app, "no role "+app), "stackctl deploy (it makes the role and the database)")
			switch {
			case f.BackupAge < 0:
				add("backup", false, "no backup yet", "stackctl db backup")
			default:
				add("backup", f.BackupAge <= BackupMaxAge, "the newest is "+ago(f.BackupAge)+" old", "stackctl db backup; then see why the daily one did not run: "+on+"journalctl -u "+strings.TrimSuffix(f.BackupTimer, ".timer"))
			}
			add("daily backup", f.Timer == "enabled", f.BackupTimer+" is "+orNone(f.Timer), on+"systemctl enable --now "+f.BackupTimer+" (or stackctl deploy)")
		} else {
			add("user", f.User, found(f.User, "user "+app, "no user "+app), "stackctl deploy (it makes the app's user)")
		}
	}
	r.OK = (&doctor{checks: r.Checks}).report(r.Host).OK
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// ago says a duration in hours or days.
func ago(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
