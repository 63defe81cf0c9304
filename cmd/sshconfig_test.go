package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
	"github.com/stackctl/stackctl/scaffold"
)

// A deploy.ssh_config that came with the project (a cloned repository)
// and would run a command here is refused before ssh starts: exit 1,
// naming the file, the line and the fix, and the command never runs. The
// same file passed with --ssh-config is the user's choice: ssh reads it
// and runs the ProxyCommand.
func TestProjectSSHConfigRefused(t *testing.T) {
	dir := nginxtest.TempDir(t)
	o := scaffold.Defaults("myapp")
	o.Dir = dir
	o.Domain = "app.test"
	if _, err := scaffold.Create(o); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(dir, "myapp")
	marker := filepath.Join(t.TempDir(), "pwned")
	cfg := fmt.Sprintf("Host web1\n\tHostName 192.0.2.1\n\tproxycommand=sh -c 'touch %s; exit 1'\n", marker)
	if err := os.WriteFile(filepath.Join(proj, "ssh_config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(proj, stack.FileName)
	c, err := stack.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Deploy.Hosts = []string{"web1"}
	c.Deploy.SSHConfig = "ssh_config"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}

	for _, cmd := range [][]string{{"deploy"}, {"status"}, {"doctor", "--host", "web1"}} {
		ios, _, out, errOut := ui.Test()
		code := runRoot(t, ios, append(cmd, "--config", path)...)
		msg := errOut.String()
		want := filepath.Join(proj, "ssh_config") + ":3: ProxyCommand runs a command on this machine"
		if code != 1 || !strings.Contains(msg, want) || !strings.Contains(msg, "--ssh-config") {
			t.Errorf("%s: exit %d, want 1 and %q\n%s%s", cmd, code, want, out, msg)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s: the project's ProxyCommand ran", cmd)
		}
	}

	ios, _, out, errOut := ui.Test()
	code := runRoot(t, ios, "deploy", "--config", path, "--ssh-config", filepath.Join(proj, "ssh_config"))
	if _, err := os.Stat(marker); err != nil || code == 0 {
		t.Errorf("--ssh-config FILE: exit %d, ProxyCommand ran: %v\n%s%s", code, err == nil, out, errOut)
	}
}
