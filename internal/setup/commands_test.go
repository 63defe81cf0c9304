package setup

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestRuleset(t *testing.T) {
	open, err := Firewall{SSHPort: 22}.Ruleset()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "open.nft", open)
	behind, err := Firewall{SSHPort: 2222, HTTPFrom: []string{"10.0.0.5", "fd00::5"}}.Ruleset()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "behind-lb.nft", behind)
	if strings.Contains(behind, "443") || !strings.Contains(behind, "tcp dport 2222 accept") {
		t.Errorf("behind an lb: 443 closed, the ssh port open:\n%s", behind)
	}
	db, err := Firewall{SSHPort: 22, ServicePorts: []int{5432, 6379}, ServicesFrom: []string{"10.0.0.12", "10.0.0.13"}}.Ruleset()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "services.nft", db)
	for _, bad := range []Firewall{{SSHPort: 0}, {SSHPort: 70000}, {SSHPort: 22, HTTPFrom: []string{"10.0.0.5; accept"}},
		{SSHPort: 22, ServicePorts: []int{5432}, ServicesFrom: []string{"any"}}, {SSHPort: 22, ServicePorts: []int{0}, ServicesFrom: []string{"10.0.0.2"}}} {
		if _, err := bad.Ruleset(); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
}

func TestFirewallUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	root := t.TempDir()
	for p, data := range map[string]string{
		firewallUnit:    firewallUnitContent(),
		"/usr/sbin/nft": "#!/bin/sh\n",
		firewallRules:   "",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasPrefix(p, "/usr/sbin/") {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sa, "verify", "--recursive-errors=no", "--root="+root, firewallUnit).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestPackages(t *testing.T) {
	flask := stack.Default("shop", "flask")
	goApp := stack.Default("svc", "go")
	tls := stack.Default("shop", "flask")
	tls.Nginx.TLS.Enabled = true
	behind := stack.Default("shop", "flask")
	behind.Nginx.TLS.Enabled = true
	behind.Deploy.LB = "lb1"
	for _, c := range []struct {
		c    *stack.Config
		role Role
		want string
	}{
		{flask, App, "nginx sudo nftables unattended-upgrades python3-venv"},
		{goApp, App, "nginx sudo nftables unattended-upgrades"},
		{tls, App, "nginx sudo nftables unattended-upgrades python3-venv certbot"},
		{behind, App, "nginx sudo nftables unattended-upgrades python3-venv"},
		{behind, LB, "nginx sudo nftables unattended-upgrades certbot"},
	} {
		if got := strings.Join(Packages(c.c, c.role), " "); got != c.want {
			t.Errorf("%s %s tls=%v lb=%q: %q, want %q", c.c.App.Template, c.role, c.c.Nginx.TLS.Enabled, c.c.Deploy.LB, got, c.want)
		}
	}
	tls.Nginx.TLS.Cert, tls.Nginx.TLS.Key = "/etc/ssl/shop.pem", "/etc/ssl/shop.key"
	if slices.Contains(Packages(tls, App), "certbot") {
		t.Errorf("certbot with a certificate of the user's")
	}
}

func TestCheckUser(t *testing.T) {
	c := stack.Default("shop", "flask")
	if err := CheckUser(c, "deploy"); err != nil {
		t.Errorf("deploy: %v", err)
	}
	for name, want := range map[string]string{
		"root":           "root keeps key-only logins",
		c.Deploy.User:    "the app's own user",
		"-oProxyCommand": "not a login name",
		"Deploy":         "not a login name",
		"de ploy":        "not a login name",
		"":               "not a login name",
	} {
		if err := CheckUser(c, name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckUser(%q) = %v, want %q", name, err, want)
		}
	}
}

func TestParseKey(t *testing.T) {
	const k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKgvQ3JmZ2Jz7Hb0sQk2x3n2XxqvOqzq2v3eXl3aXq8a me@laptop"
	if got, err := ParseKey("  " + k + "\n"); err != nil || got != k {
		t.Errorf("ParseKey = %q, %v", got, err)
	}
	for in, want := range map[string]string{
		"":                                    "empty",
		"-----BEGIN OPENSSH PRIVATE KEY-----": "not an OpenSSH public key",
		"ssh-ed25519 !!!!":                    "not valid",
		"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIKgvQ3JmZ2Jz7Hb0sQk2x3n2XxqvOqzq2v3eXl3aXq8a": "not valid",
		k + "\n" + k:              "more than one line",
		`command="rm -rf /" ` + k: "not an OpenSSH public key",
	} {
		if _, err := ParseKey(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKey(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestKeysOnly(t *testing.T) {
	on := "passwordauthentication no\nkbdinteractiveauthentication no\npermitrootlogin without-password\n"
	if !keysOnly(on) {
		t.Errorf("keysOnly(%q) = false", on)
	}
	for _, off := range []string{
		"passwordauthentication yes\nkbdinteractiveauthentication no\npermitrootlogin without-password\n",
		"passwordauthentication no\nkbdinteractiveauthentication no\npermitrootlogin yes\n",
		"sshd: no hostkeys available -- exiting.\n",
	} {
		if keysOnly(off) {
			t.Errorf("keysOnly(%q) = true", off)
		}
	}
}
