package doctor

import (
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/deploy"
)

// A host that runs only services needs no nginx; its services are checked
// one by one, each miss a warning with the command that fixes it.
func TestServicesReport(t *testing.T) {
	p := deploy.ServerPrereqs{Login: "deploy", Systemd: true, Bash: true, Sudo: true}
	r := ServicesServer("db1", p)
	if !r.OK || checkNamed(r, "nginx").Status != Skip {
		t.Fatalf("a services host without nginx: %+v", r)
	}
	good := []deploy.ServiceFacts{
		{Name: "postgres", Installed: true, Unit: "postgresql@15-main.service", State: "active", Listen: []string{"127.0.0.1", "10.0.0.5"}, User: true,
			BackupAge: 3 * time.Hour, Timer: "enabled", BackupTimer: "notes-db-backup.timer"},
		{Name: "redis", Installed: true, Unit: "redis-server.service", State: "active", Listen: []string{"127.0.0.1", "::1", "10.0.0.5"}, User: true},
	}
	Services(&r, "db1", "notes", good, []string{"10.0.0.5"})
	for _, c := range r.Checks {
		if c.Status != OK && c.Status != Skip {
			t.Errorf("healthy services: %+v", c)
		}
	}
	if c := checkNamed(r, "redis: running"); c.Status != OK || !strings.Contains(c.Detail, "redis-server.service is active") {
		t.Errorf("redis running: %+v", c)
	}

	bad := []deploy.ServiceFacts{
		{Name: "postgres", Installed: true, Unit: "postgresql@15-main.service", State: "active", Listen: []string{"0.0.0.0"}, User: false,
			BackupAge: 5 * 24 * time.Hour, Timer: "disabled", BackupTimer: "notes-db-backup.timer"},
		{Name: "redis", Installed: true, Unit: "redis-server.service", State: "inactive"},
	}
	r = ServicesServer("db1", p)
	Services(&r, "db1", "notes", bad, []string{"10.0.0.5"})
	for name, fix := range map[string]string{
		"postgres: listening":    "stackctl deploy",
		"postgres: role":         "stackctl deploy",
		"postgres: backup":       "stackctl db backup",
		"postgres: daily backup": "systemctl enable --now notes-db-backup.timer",
		"redis: running":         "on db1 as root: systemctl start redis-server.service",
	} {
		if c := checkNamed(r, name); c.Status != Warn || !strings.Contains(c.Fix, fix) {
			t.Errorf("%s: %+v, want a warning fixed by %q", name, c, fix)
		}
	}
	if c := checkNamed(r, "postgres: listening"); !strings.Contains(c.Detail, "0.0.0.0 is beyond the app hosts") {
		t.Errorf("listening everywhere: %+v", c)
	}
	if c := checkNamed(r, "postgres: backup"); !strings.Contains(c.Detail, "5 days old") {
		t.Errorf("an old backup: %+v", c)
	}
	r = ServicesServer("db1", p)
	Services(&r, "db1", "notes", []deploy.ServiceFacts{{Name: "postgres", BackupAge: -1}}, nil)
	if c := checkNamed(r, "postgres: installed"); c.Status != Warn || !strings.Contains(c.Fix, "stackctl deploy") {
		t.Errorf("not installed: %+v", c)
	}
}
