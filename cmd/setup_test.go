package cmd

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
	"github.com/stackctl/stackctl/internal/ui"
)

// flaskrProject copies the Flask tutorial's app (an app factory keeping
// SQLite in its instance folder) into a new folder, adopts it with
// `stackctl init --yes --domain app.test`, and points deploy.ssh_config at
// a copy of the cluster's ssh config. It returns the stack.toml path.
func flaskrProject(t *testing.T, cl *hosttest.Cluster) string {
	t.Helper()
	dir := filepath.Join(nginxtest.TempDir(t), "flaskr")
	src := filepath.Join("..", "internal", "deploy", "testdata", "flaskr")
	testutil.CopyTree(t, src, dir)
	ios, _, out, errOut := ui.Test()
	if code := runRoot(t, ios, "init", dir, "--yes", "--domain", "app.test"); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	cfg, err := os.ReadFile(cl.SSHConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ssh_config"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, stack.FileName)
	c, err := stack.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Deploy.SSHConfig = "ssh_config"
	// The tutorial's home page needs the database init-db makes; /hello
	// answers without it.
	c.App.Health = "/hello"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// passwordOffered reports whether sshd on host offers password logins: a
// client that refuses keys is told which methods remain.
func passwordOffered(t *testing.T, cl *hosttest.Cluster, user, name string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ssh", "-F", cl.SSHConfig, "-o", "PubkeyAuthentication=no",
		"-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "NumberOfPasswordPrompts=0",
		user+"@"+name, "true").CombinedOutput()
	s := string(out)
	if !strings.Contains(s, "Permission denied (") {
		t.Fatalf("ssh without a key to %s@%s: %s", user, name, s)
	}
	methods := s[strings.Index(s, "Permission denied (")+len("Permission denied ("):]
	methods, _, _ = strings.Cut(methods, ")")
	return strings.Contains(methods, "password") || strings.Contains(methods, "keyboard-interactive")
}

// A server as its provider hands it over (root with a key, no nginx, no
// sudo, no package lists), set up with real apt-get, sshd and nftables:
// --dry-run changes nothing in /etc; a key the login user cannot use
// leaves password logins on and root still gets in; the right key
// finishes the job; a second run changes nothing; passwords are refused,
// the deploy user gets in with its key and sudo; a port nothing was
// opened for is closed; then a Flask app deploys as that user and
// answers through nginx across the firewall.
func TestSetupFreshServer(t *testing.T) {
	t.Parallel()
	cl := hosttest.StartWith(t, hosttest.Options{Bare: true}, "fresh")
	path := flaskrProject(t, cl)
	sh := func(args ...string) (int, string) {
		t.Helper()
		ios, _, out, errOut := ui.Test()
		code := runRoot(t, ios, append(args, "--config", path)...)
		return code, out.String() + errOut.String()
	}
	etc := func() string {
		return cl.SSH(t, "fresh", "find /etc -xdev -printf '%p %s %m %U %T@\\n' | sort | sha256sum")
	}
	if !passwordOffered(t, cl, "root", "fresh") {
		t.Fatal("the bare server does not offer password logins before setup: the test proves nothing")
	}

	before := etc()
	code, out := sh("setup", "--host", "fresh", "--key", cl.Key+".pub", "--dry-run")
	if code != 0 || !strings.Contains(out, "would install nginx sudo nftables unattended-upgrades python3-venv") ||
		!strings.Contains(out, "+PasswordAuthentication no") || !strings.Contains(out, "dry run: nothing was changed") {
		t.Fatalf("setup --dry-run: exit %d\n%s", code, out)
	}
	if after := etc(); after != before {
		t.Errorf("setup --dry-run changed /etc")
	}

	// A package source that fails: apt-get stops before it installs
	// anything, setup says so and goes no further.
	cl.SSH(t, "fresh", "echo 'deb [trusted=yes] http://"+cl.BridgeAddr+":1/ ./' >/etc/apt/sources.list.d/broken.list")
	code, out = sh("setup", "--host", "fresh", "--key", cl.Key+".pub")
	if code == 0 || !strings.Contains(out, "✗ packages: apt-get install nginx sudo nftables unattended-upgrades python3-venv failed") ||
		strings.Contains(out, "user deploy:") || !strings.Contains(out, "stopped there") {
		t.Errorf("setup with a broken package source: exit %d\n%s", code, out)
	}
	if out, err := cl.TrySSH("fresh", "dpkg-query -W -f '${db:Status-Status}' nginx"); err == nil && strings.Contains(out, "installed") {
		t.Errorf("nginx got installed although apt-get failed")
	}
	cl.SSH(t, "fresh", "rm /etc/apt/sources.list.d/broken.list")

	// The login user's key is not the one this machine logs in with: the
	// sshd change must not be applied.
	other := filepath.Join(t.TempDir(), "other")
	if b, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, b)
	}
	code, out = sh("setup", "--host", "fresh", "--key", other+".pub")
	if code == 0 || !strings.Contains(out, "✗ sshd: password logins stay on: deploy@fresh cannot log in") {
		t.Fatalf("setup with a key deploy cannot use: exit %d\n%s", code, out)
	}
	for _, want := range []string{"✎ packages: installed nginx sudo nftables unattended-upgrades python3-venv", "✎ sudo: wrote /etc/sudoers.d/stackctl-deploy (checked with visudo -c)", "✎ firewall: table inet stackctl loaded (22, 80, 443 open; the rest closed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("first setup lacks %q:\n%s", want, out)
		}
	}
	cl.SSH(t, "fresh", "test ! -e /etc/ssh/sshd_config.d/10-stackctl.conf")
	if !passwordOffered(t, cl, "root", "fresh") {
		t.Errorf("password logins went off although deploy could not log in")
	}

	code, out = sh("setup", "--host", "fresh", "--key", cl.Key+".pub")
	if code != 0 || !strings.Contains(out, "✎ user deploy: added ssh-ed25519 key hosttest to its authorized_keys") ||
		!strings.Contains(out, "✎ sshd: password logins off") || !strings.Contains(out, "✓ packages:") {
		t.Fatalf("setup with the right key: exit %d\n%s", code, out)
	}
	code, out = sh("setup", "--host", "fresh", "--key", cl.Key+".pub")
	if code != 0 || strings.Contains(out, "✎") || !strings.Contains(out, "nothing to change") {
		t.Errorf("second setup: exit %d, want no change\n%s", code, out)
	}

	if got := strings.TrimSpace(cl.SSH(t, "fresh", "stat -c '%a %U' /etc/systemd/journald.conf.d /etc/sudoers.d/stackctl-deploy /etc/stackctl/firewall.nft /home/deploy/.ssh/authorized_keys")); got != "755 root\n440 root\n644 root\n600 deploy" {
		t.Errorf("modes and owners of what setup wrote:\n%s", got)
	}
	for _, u := range []string{"root", "deploy"} {
		if passwordOffered(t, cl, u, "fresh") {
			t.Errorf("%s@fresh: password logins still offered", u)
		}
	}
	if got := strings.TrimSpace(cl.SSH(t, "fresh", "su -s /bin/sh deploy -c 'sudo -n id -un'")); got != "root" {
		t.Errorf("deploy's sudo: %q", got)
	}
	if out, err := exec.Command("ssh", "-F", cl.SSHConfig, "deploy@fresh", "sudo", "-n", "true").CombinedOutput(); err != nil {
		t.Errorf("deploy@fresh with its key: %v %s", err, out)
	}

	// A port nothing opened: listening on the host, closed from the bridge.
	cl.SSH(t, "fresh", "systemd-run --unit=probe8081 python3 -m http.server --bind 0.0.0.0 8081")
	fresh := cl.Host("fresh").Addr
	waitFor(t, 20*time.Second, "the listener on 8081", func() bool {
		_, err := cl.TrySSH("fresh", "python3 -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:8081/\", timeout=2)'")
		return err == nil
	})
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(fresh, "8081"), 2*time.Second); err == nil {
		c.Close()
		t.Errorf("port 8081 is reachable from the bridge through the firewall")
	}

	// Drift: a port opened by hand and password logins back on are what
	// doctor --host shows, with setup as the fix; setup undoes both.
	code, out = sh("doctor", "--host", "fresh")
	if code != 0 || !regexp.MustCompile(`✓ setup: firewall +table inet stackctl loaded`).MatchString(out) || !regexp.MustCompile(`✓ setup: sshd +password logins off`).MatchString(out) {
		t.Errorf("doctor --host on a server just set up: exit %d\n%s", code, out)
	}
	cl.SSH(t, "fresh", "nft add rule inet stackctl input tcp dport 8081 accept && rm /etc/ssh/sshd_config.d/10-stackctl.conf && systemctl reload ssh")
	// The reload re-executes sshd, which refuses connections for a moment.
	waitFor(t, 20*time.Second, "sshd after the reload", func() bool {
		_, err := cl.TrySSH("fresh", "true")
		return err == nil
	})
	waitFor(t, 20*time.Second, "port 8081 opened by hand", func() bool {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(fresh, "8081"), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	code, out = sh("doctor", "--host", "fresh")
	for _, want := range []string{"would reload table inet stackctl (22, 80, 443 open; the rest closed): the live table was changed by hand", "would turn password logins off", "fix: stackctl setup --host fresh"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor --host after drift lacks %q:\n%s", want, out)
		}
	}
	code, out = sh("setup", "--host", "fresh", "--key", cl.Key+".pub")
	if code != 0 || !strings.Contains(out, "✎ firewall: table inet stackctl reloaded: the live table had been changed by hand") ||
		!strings.Contains(out, "✎ sshd: password logins off") {
		t.Errorf("setup after drift: exit %d\n%s", code, out)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(fresh, "8081"), 2*time.Second); err == nil {
		c.Close()
		t.Errorf("port 8081 still reachable after setup reloaded the firewall")
	}
	if passwordOffered(t, cl, "root", "fresh") {
		t.Errorf("password logins still offered after setup ran again")
	}

	// PyPI is out of reach from the test servers (HOSTS.md): Debian's
	// Flask and gunicorn stand in for what pip would fetch.
	cl.SSH(t, "fresh", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-flask gunicorn >/dev/null")
	code, out = sh("deploy", "--host", "deploy@fresh")
	if code != 0 {
		t.Fatalf("deploy as deploy@fresh: exit %d\n%s", code, out)
	}
	if st, err := getThroughNginx(fresh, "/hello"); err != nil || st != 200 {
		t.Errorf("GET /hello through nginx across the firewall: %d %v", st, err)
	}
}

// Two app hosts behind an lb: setup opens the app hosts' port 80 to the lb
// only, so the site answers through the lb and an app host's nginx cannot
// be reached around it. Redis runs on a host of its own, db1: setup opens
// its 6379 to the app hosts only (and no web port), deploy installs it
// there, and doctor --host db1 checks it, warning with the fix when it is
// stopped.
func TestSetupBehindLB(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1", "web2", "lb", "db1")
	c, path := serverProject(t, cl, "web1", "web2")
	c.Deploy.LB = "lb"
	c.Services.Redis = stack.Service{Enabled: true, Host: "db1"}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	sh := func(args ...string) (int, string) {
		t.Helper()
		ios, _, out, errOut := ui.Test()
		code := runRoot(t, ios, append(args, "--config", path)...)
		return code, out.String() + errOut.String()
	}
	code, out := sh("setup", "--key", cl.Key+".pub")
	lbAddr, db1 := cl.Host("lb").Addr, cl.Host("db1").Addr
	for _, want := range []string{
		"table inet stackctl loaded (22, 80 from the lb (" + lbAddr + ") only; the rest closed)",
		"table inet stackctl loaded (22, 80, 443 open; the rest closed)",
		"table inet stackctl loaded (22, no web ports, 6379 from the app hosts (" + cl.Host("web1").Addr + ", " + cl.Host("web2").Addr + ") only; the rest closed)",
		`deploy.hosts = ["deploy@web1", "deploy@web2"]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("setup lacks %q", want)
		}
	}
	if code != 0 || t.Failed() {
		t.Fatalf("setup: exit %d\n%s", code, out)
	}
	// doctor audits the app hosts as behind the lb: no drift.
	code, out = sh("doctor", "--host", "web1", "--host", "web2")
	if n := len(regexp.MustCompile(`✓ setup: firewall +table inet stackctl loaded \(22, 80 from the lb \(`+regexp.QuoteMeta(lbAddr)+`\) only`).FindAllString(out, -1)); code != 0 || n != 2 || strings.Contains(out, "would") {
		t.Errorf("doctor --host web1 --host web2 after setup: exit %d, %d firewalls open to the lb only\n%s", code, n, out)
	}
	if code, out := sh("deploy"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	if st, err := getThroughNginx(lbAddr, "/"); err != nil || st != 200 {
		t.Errorf("GET / through the lb: %d %v", st, err)
	}
	for _, h := range []string{"web1", "web2"} {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(cl.Host(h).Addr, "80"), 2*time.Second); err == nil {
			c.Close()
			t.Errorf("%s:80 is reachable from the bridge, around the lb", h)
		}
		if got := cl.SSH(t, "lb", "curl -s -o /dev/null -w '%{http_code}' -H 'Host: app.test' http://"+cl.Host(h).Addr+"/"); got != "200" {
			t.Errorf("%s:80 from the lb: %q", h, got)
		}
	}

	// Redis on db1: the app hosts reach it, the lb and this machine do not.
	reach := "timeout 5 bash -c 'exec 3<>/dev/tcp/" + db1 + "/6379' && echo open || echo closed"
	if got := strings.TrimSpace(cl.SSH(t, "web2", reach)); !strings.HasSuffix(got, "open") {
		t.Errorf("db1:6379 from web2 (an app host): %s", got)
	}
	if got := strings.TrimSpace(cl.SSH(t, "lb", reach)); !strings.HasSuffix(got, "closed") {
		t.Errorf("db1:6379 from the lb: %s", got)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(db1, "6379"), 2*time.Second); err == nil {
		c.Close()
		t.Errorf("db1:6379 is reachable from the bridge")
	}
	// setup --host db1 acts on db1 alone, with deploy.hosts as the app
	// hosts it lets in: nothing to change.
	code, out = sh("setup", "--host", "db1", "--key", cl.Key+".pub")
	if code != 0 || !strings.Contains(out, "6379 from the app hosts (") || strings.Contains(out, "web1") || strings.Contains(out, "✎") {
		t.Errorf("setup --host db1 after setup: exit %d\n%s", code, out)
	}
	// doctor --host db1: the services' host needs no nginx; Redis runs,
	// listens where the app hosts reach it, has the app's user.
	code, out = sh("doctor", "--host", "db1")
	for _, want := range []string{"✓ redis: running", "✓ redis: listening", "✓ redis: user", "- nginx", "✓ setup: firewall"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor --host db1 lacks %q", want)
		}
	}
	if code != 0 || strings.Contains(out, "✗") || t.Failed() {
		t.Fatalf("doctor --host db1: exit %d\n%s", code, out)
	}
	cl.SSH(t, "db1", "systemctl stop redis-server")
	_, out = sh("doctor", "--host", "db1")
	if !strings.Contains(out, "✗ redis: running") || !strings.Contains(out, "fix: on db1 as root: systemctl start redis-server.service") {
		t.Errorf("doctor --host db1 with Redis stopped:\n%s", out)
	}
	cl.SSH(t, "db1", "systemctl start redis-server")
	if _, out = sh("doctor", "--host", "db1"); !strings.Contains(out, "✓ redis: running") {
		t.Errorf("doctor --host db1 with Redis started again:\n%s", out)
	}
}

// named is a host that only has a name: what servicePorts reads of one
// (its address comes from deploy.private_addresses).
type named struct {
	host.Local
	name string
}

func (n named) Name() string { return n.name }

// The host that runs a service opens its port to the other app hosts
// only; with one app host, or on a host that runs none, nothing opens.
func TestServicePortsOpenToTheOtherAppHosts(t *testing.T) {
	c := stack.Default("shop", "flask")
	c.Deploy.Hosts = []string{"web1", "web2", "web3"}
	c.Deploy.PrivateAddresses = map[string]string{"web1": "10.0.0.11", "web2": "10.0.0.12", "web3": "10.0.0.13"}
	c.Services.Postgres = stack.Service{Enabled: true}
	c.Services.Redis = stack.Service{Enabled: true, Host: "web2"}
	hs := []host.Host{named{name: "web1"}, named{name: "web2"}, named{name: "web3"}}
	for i, want := range []string{"[5432] [10.0.0.12 10.0.0.13]", "[6379] [10.0.0.11 10.0.0.13]", "[] []"} {
		ports, from := servicePorts(c, hs, c.Deploy.Hosts[i])
		if got := fmt.Sprint(ports, from); got != want {
			t.Errorf("web%d: %s, want %s", i+1, got, want)
		}
	}
	c.Deploy.Hosts = c.Deploy.Hosts[:1]
	if ports, _ := servicePorts(c, hs[:1], "web1"); ports != nil {
		t.Errorf("one app host opens %v", ports)
	}
	// A host of their own opens them to every app host, even one.
	c.Services.Postgres.Host, c.Services.Redis.Host = "db1", "db1"
	if got := fmt.Sprint(servicePorts(c, hs[:1], "db1")); got != "[5432 6379] [10.0.0.11]" {
		t.Errorf("db1: %s", got)
	}
	if ports, _ := servicePorts(c, hs[:1], "web1"); ports != nil {
		t.Errorf("web1 opens %v for services it does not run", ports)
	}
}

// The hosts of their own that [services] run on are dialed after the app
// hosts and the lb, and split back by destination; --host naming only
// them keeps deploy.hosts as the app hosts.
func TestServiceHostsDialedAndSplit(t *testing.T) {
	c := stack.Default("shop", "flask")
	c.Deploy.Hosts, c.Deploy.LB = []string{"web1", "web2"}, "lb1"
	c.Services.Postgres = stack.Service{Enabled: true, Host: "db1"}
	c.Services.Redis = stack.Service{Enabled: true, Host: "web2"}
	if got := fmt.Sprint(hostDests(c)); got != "[web1 web2 lb1 db1]" {
		t.Errorf("hostDests = %s", got)
	}
	hs := []host.Host{named{name: "web1"}, named{name: "web2"}, named{name: "lb1"}, named{name: "db1"}}
	apps, lb, own := splitHosts(c, hs)
	if len(apps) != 2 || lb.Name() != "lb1" || len(own) != 1 || own["db1"].Name() != "db1" {
		t.Errorf("splitHosts: %v %v %v", apps, lb, own)
	}
	hf := hostFlags{Hosts: []string{"db1"}}
	if only := hf.onlyServiceHosts(c); fmt.Sprint(only) != "[db1]" || hf.Hosts != nil {
		t.Errorf("--host db1: %v, flags left %v", only, hf.Hosts)
	}
	hf = hostFlags{Hosts: []string{"db1", "web3"}}
	if only := hf.onlyServiceHosts(c); only != nil || len(hf.Hosts) != 2 {
		t.Errorf("--host db1 --host web3: %v, flags left %v", only, hf.Hosts)
	}
}
