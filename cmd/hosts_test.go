package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
	"github.com/stackctl/stackctl/scaffold"
)

// The server commands as a user types them: deploy.hosts and a relative
// deploy.ssh_config in stack.toml, deploy, a --dry-run that shows the diff
// and changes nothing, releases --json, rollback RELEASE, and hostile
// --host values refused as usage errors naming the key.
func TestServerCommands(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	c, path := serverProject(t, cl, "web1")

	sh := func(args ...string) (int, string, string) {
		t.Helper()
		ios, _, out, errOut := ui.Test()
		code := runRoot(t, ios, append(args, "--config", path)...)
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := sh("deploy"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errOut)
	}
	first := strings.TrimSpace(cl.SSH(t, "web1", "readlink /srv/myapp/current"))

	// --dry-run: the diff of the changed site, and nothing changes.
	c.Proxy.ClientMaxBodySize = "5m"
	c.Save(path)
	before := cl.SSH(t, "web1", "cat /etc/nginx/sites-available/myapp.conf; ls /srv/myapp/releases")
	code, out, errOut := sh("deploy", "--dry-run")
	if code != 0 || !strings.Contains(out, "+    client_max_body_size 5m;") || !strings.Contains(out, "systemctl reload nginx") {
		t.Errorf("deploy --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if after := cl.SSH(t, "web1", "cat /etc/nginx/sites-available/myapp.conf; ls /srv/myapp/releases"); after != before {
		t.Errorf("--dry-run changed the host")
	}
	if code, out, errOut := sh("deploy"); code != 0 {
		t.Fatalf("second deploy: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = sh("releases", "--json")
	var list []struct {
		Host     string
		Slot     string
		Releases []struct {
			ID      string
			Current bool
			By      string
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || len(list[0].Releases) != 2 || !list[0].Releases[1].Current || list[0].Slot != "b" {
		t.Fatalf("releases --json: exit %d %+v\n%s%s", code, list, out, errOut)
	}
	if code, out, _ := sh("releases"); code != 0 || !strings.Contains(out, "* slot b") {
		t.Errorf("releases:\n%s", out)
	}
	id := strings.TrimPrefix(first, "releases/")
	if code, out, errOut := sh("rollback", id); code != 0 || !strings.Contains(out, "Rolled back") {
		t.Errorf("rollback %s: exit %d\n%s%s", id, code, out, errOut)
	}
	if cur := strings.TrimSpace(cl.SSH(t, "web1", "readlink /srv/myapp/current")); cur != first {
		t.Errorf("after rollback current = %s, want %s", cur, first)
	}
	if code, _, errOut := sh("rollback", "not-a-release"); code != 2 || !strings.Contains(errOut, "not a release id") {
		t.Errorf("rollback not-a-release: exit %d %s", code, errOut)
	}

	for _, bad := range []string{"-oProxyCommand=touch /tmp/pwned", "web1;reboot", "web1 -p 2"} {
		code, _, errOut := sh("deploy", "--host", bad)
		if code != 2 || !strings.Contains(errOut, "deploy.hosts[0]") {
			t.Errorf("deploy --host %q: exit %d, %s", bad, code, errOut)
		}
	}
	if code, _, errOut := sh("deploy", "--host", "web1", "--root", t.TempDir()); code != 2 || !strings.Contains(errOut, "--root") {
		t.Errorf("deploy --host --root: exit %d, %s", code, errOut)
	}
}

// serverProject scaffolds the Go app "myapp" for app.test whose stack.toml
// deploys to hosts through a copy of the cluster's ssh config kept in the
// project (deploy.ssh_config = "ssh_config", relative), as a user would.
func serverProject(t *testing.T, cl *hosttest.Cluster, hosts ...string) (*stack.Config, string) {
	t.Helper()
	dir := nginxtest.TempDir(t)
	o := scaffold.Defaults("myapp")
	o.Dir = dir
	o.Domain = "app.test"
	if _, err := scaffold.Create(o); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(dir, "myapp")
	cfgData, err := os.ReadFile(cl.SSHConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "ssh_config"), cfgData, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(proj, stack.FileName)
	c, err := stack.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Deploy.Hosts = hosts
	c.Deploy.SSHConfig = "ssh_config"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	return c, path
}
