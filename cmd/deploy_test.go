package cmd

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

func TestDeployFlags(t *testing.T) {
	ios, _, _, _ := ui.Test()
	f := &Factory{IO: ios}
	var got *deployOptions
	cmd := newCmdDeployWith(f, func(_ context.Context, o *deployOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--config", "p/stack.toml", "--app-dir", "/opt/x", "--sites-dir", "/etc/nginx/conf.d", "--dry-run", "--cert", "/c.pem", "--key", "/k.pem", "--host", "web1", "--host", "deploy@web2:2222", "--ssh-config", "cfg", "--lb", "lb1", "--lock-wait", "90s"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := deployOptions{IO: ios, Config: "p/stack.toml", AppDir: "/opt/x", SitesDir: "/etc/nginx/conf.d", DryRun: true, Cert: "/c.pem", Key: "/k.pem",
		Hosts: hostFlags{Hosts: []string{"web1", "deploy@web2:2222"}, LB: "lb1", SSHConfig: "cfg"}, LockWait: 90 * time.Second}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("options = %+v\nwant      %+v", *got, want)
	}
	// One engine: the single-unit engine's flags are gone.
	for _, gone := range []string{"--root=/tmp/r", "--certbot"} {
		cmd = newCmdDeployWith(f, func(context.Context, *deployOptions) error { return nil })
		cmd.SetArgs([]string{gone})
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "unknown flag") {
			t.Errorf("%s: %v, want an unknown flag", gone, err)
		}
	}
}

// Each flag overrides its key, and a bad value is a usage error naming it.
func TestApplyDeployFlags(t *testing.T) {
	c := stack.Default("myapp", "go")
	if err := applyDeployFlags(c, &deployOptions{AppDir: "/opt/myapp", SitesDir: "/etc/nginx/conf.d", Cert: "/c.pem", Key: "/k.pem"}); err != nil {
		t.Fatal(err)
	}
	if c.Nginx.AppDir != "/opt/myapp" || c.Deploy.SitesDir != "/etc/nginx/conf.d" || c.Nginx.TLS.Cert != "/c.pem" || c.Nginx.TLS.Key != "/k.pem" {
		t.Errorf("config after flags: %+v %+v", c.Nginx, c.Deploy)
	}
	for _, bad := range []deployOptions{{AppDir: "relative/dir"}, {SitesDir: "/etc/nginx/a b"}, {Cert: "/x;y"}} {
		c := stack.Default("myapp", "go")
		err := applyDeployFlags(c, &bad)
		if ui.ExitCode(err) != 2 {
			t.Errorf("%+v: err %v, want a usage error", bad, err)
		}
	}
}

// Without hosts on a machine systemd does not run, deploy and rollback
// stop before they touch anything and say how to name a server.
func TestDeployWithoutSystemdRefuses(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "stack.toml")
	if err := stack.Default("myapp", "go").Save(cfg); err != nil {
		t.Fatal(err)
	}
	was := systemdRunning
	systemdRunning = func() bool { return false }
	defer func() { systemdRunning = was }()
	ios, _, _, _ := ui.Test()
	for name, run := range map[string]func() error{
		"deploy":   func() error { return runDeploy(context.Background(), &deployOptions{IO: ios, Config: cfg}) },
		"rollback": func() error { return runRollback(context.Background(), &rollbackOptions{IO: ios, Config: cfg}) },
	} {
		err := run()
		if ui.ExitCode(err) == 0 || !strings.Contains(err.Error(), "systemd does not run this machine") || !strings.Contains(err.Error(), "--host") {
			t.Errorf("%s without hosts or systemd: %v", name, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the project folder changed: %v", entries)
	}
}
