package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/hosttest"
)

// A ProxyJump hop is checked as strictly as the destination, whatever the
// user's config says for it: web2 reached through web1, with a config
// that lets web1 accept a new key (a common ~/.ssh/config line), and a
// known_hosts that lacks web1's key, is refused naming the jump host and
// its fingerprint, and nothing is learned; with both keys pinned it works,
// and the connection really comes through web1. A chain (web3 through
// web1 then web2) whose second hop's key changed is refused naming that
// hop; pinned, it works.
func TestSSHProxyJumpStrict(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1", "web2", "web3")
	ctx := context.Background()
	w1, w2, w3 := cl.Host("web1"), cl.Host("web2"), cl.Host("web3")
	pinned, err := os.ReadFile(cl.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	var onlyWeb2, web2Changed []string
	for _, line := range strings.Split(string(pinned), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "web2,"):
			onlyWeb2 = append(onlyWeb2, line)
		case strings.HasPrefix(line, "web1,"):
			// web1's key pinned under web2's address too: web2's changed.
			web2Changed = append(web2Changed, line, w2.Addr+" "+f[1]+" "+f[2])
		case len(f) == 3:
			web2Changed = append(web2Changed, line)
		}
	}
	dir := t.TempDir()
	writeConfig := func(known string) string {
		cfg := filepath.Join(dir, "ssh_config")
		body := fmt.Sprintf(`Host web1
	HostName %s
	StrictHostKeyChecking accept-new
Host web2
	HostName %s
	ProxyJump web1
Host web3
	HostName %s
	ProxyJump web1,web2
Host *
	User root
	IdentityFile %q
	IdentitiesOnly yes
	UserKnownHostsFile %q
	GlobalKnownHostsFile /dev/null
`, w1.Addr, w2.Addr, w3.Addr, cl.Key, known)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(strings.Join(onlyWeb2, "\n")+"\n"), 0o600)
	h, err := host.Dial(ctx, "web2", host.SSHOptions{Config: writeConfig(known)})
	if err == nil {
		h.Close()
		t.Fatalf("web2 through web1 with web1's key unknown: connected")
	}
	msg := err.Error()
	t.Logf("refused: %s", msg)
	for _, want := range []string{"jump host web1", w1.Addr, "host key is not known", "SHA256:", "ssh-keyscan -p 22 -t ed25519 " + w1.Addr + " >> " + known} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal lacks %q:\n%s", want, msg)
		}
	}
	if after, _ := os.ReadFile(known); strings.Contains(string(after), w1.Addr) {
		t.Errorf("the jump host's key was learned:\n%s", after)
	}

	changed := filepath.Join(dir, "known_hosts_changed")
	os.WriteFile(changed, []byte(strings.Join(web2Changed, "\n")+"\n"), 0o600)
	h, err = host.Dial(ctx, "web3", host.SSHOptions{Config: writeConfig(changed)})
	if err == nil {
		h.Close()
		t.Fatalf("web3 through web1 and web2, web2's key changed: connected")
	}
	t.Logf("refused: %s", err)
	for _, want := range []string{"web3: the jump host web2 (" + w2.Addr, "CHANGED", "ssh-keygen -R " + w2.Addr + " -f " + changed} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q:\n%s", want, err)
		}
	}

	h3, err := host.Dial(ctx, "web3", host.SSHOptions{Config: writeConfig(cl.KnownHosts)})
	if err != nil {
		t.Fatalf("web3 through web1 and web2, keys pinned: %v", err)
	}
	defer h3.Close()
	if out, err := host.Output(ctx, h3, false, "sh", "-c", "hostname; echo $SSH_CONNECTION"); err != nil || !strings.HasPrefix(out, "web3\n"+w2.Addr+" ") {
		t.Errorf("web3 through the chain: %q %v, want web3 reached from %s", out, err, w2.Addr)
	}

	h, err = host.Dial(ctx, "web2", host.SSHOptions{Config: writeConfig(cl.KnownHosts)})
	if err != nil {
		t.Fatalf("web2 through web1, both keys pinned: %v", err)
	}
	defer h.Close()
	out, err := host.Output(ctx, h, false, "sh", "-c", "hostname; echo $SSH_CONNECTION")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "web2" || f[1] != w1.Addr {
		t.Errorf("hostname and SSH_CONNECTION: %q, want web2 reached from %s", out, w1.Addr)
	}
}

// A line ssh cannot read in the user's own config is reported under that
// file's name, not the link stackctl's config includes it by.
func TestDialNamesTheUsersConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "my_config")
	if err := os.WriteFile(cfg, []byte("Host web1\n\tNoSuchOption yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := host.Dial(context.Background(), "web1", host.SSHOptions{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), cfg+": line 2") || strings.Contains(err.Error(), "user_config") {
		t.Errorf("a bad line in the user's config: %v", err)
	}
}
