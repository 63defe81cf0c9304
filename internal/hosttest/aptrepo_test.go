package hosttest

import (
	"strings"
	"testing"
)

// TestBareHostInstalls boots a server as a provider hands it over and
// installs packages on it for real from the cluster's repository.
func TestBareHostInstalls(t *testing.T) {
	t.Parallel()
	c := StartWith(t, Options{Bare: true}, "fresh")
	if !strings.HasPrefix(c.AptSource, "deb [trusted=yes] http://"+c.BridgeAddr+":") {
		t.Errorf("AptSource = %q, want the bridge address %s", c.AptSource, c.BridgeAddr)
	}
	// Bare: no nginx, no sudo, no deploy user; root gets in with the key.
	for _, probe := range []string{"command -v nginx", "command -v sudo", "id deploy", "test -d /home/deploy"} {
		if out, err := c.TrySSH("fresh", probe); err == nil {
			t.Errorf("bare host: `%s` succeeded: %s", probe, out)
		}
	}
	if out, err := sshAs(c, "deploy", "fresh", "true"); err == nil {
		t.Errorf("bare host: deploy@ logged in: %s", out)
	}
	if got := strings.TrimSpace(c.SSH(t, "fresh", "cat /etc/apt/sources.list")); got != c.AptSource {
		t.Errorf("sources.list = %q, want %q", got, c.AptSource)
	}
	out, err := c.runSSH(installTimeout, "fresh",
		"export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq nginx sudo redis-server >/dev/null && "+
			"systemctl is-active nginx redis-server && sudo -n true && echo installed")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "installed") {
		t.Fatalf("apt-get install on the bare host: %v\n%s", err, out)
	}
	if got := c.SSH(t, "fresh", "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/"); got != "200" {
		t.Errorf("nginx installed from the repository answers %q, want 200", got)
	}
}
