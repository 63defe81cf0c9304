package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/detect"
	"github.com/stackctl/stackctl/internal/flasktest"
	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
	"github.com/stackctl/stackctl/scaffold"
)

// serverProject scaffolds an app for the test servers: nginx on :80 with
// the domain app.test, the app on the default port.
func serverProject(t *testing.T, name, template string) *stack.Config {
	t.Helper()
	dir := nginxtest.TempDir(t)
	o := scaffold.Defaults(name)
	o.Dir = dir
	o.Template = template
	o.Domain = "app.test"
	if _, err := scaffold.Create(o); err != nil {
		t.Fatal(err)
	}
	c, err := stack.Load(filepath.Join(dir, name, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func renderServerSite(c *stack.Config, o SiteOptions) ([]byte, error) {
	return nginx.Render(c, nginx.Options{NginxVersion: o.NginxVersion, ACMEChallenge: o.ACMEChallenge, UpstreamInclude: o.UpstreamInclude, ReleaseInclude: o.ReleaseInclude, TrustedProxies: o.TrustedProxies, Balancer: o.Balancer, StackctlVersion: "test"})
}

// dial connects to the cluster's hosts as user ("" for the config's).
func dial(t *testing.T, cl *hosttest.Cluster, user string, names ...string) []host.Host {
	t.Helper()
	var hs []host.Host
	for _, n := range names {
		dest := n
		if user != "" {
			dest = user + "@" + n
		}
		h, err := host.Dial(context.Background(), dest, host.SSHOptions{Config: cl.SSHConfig})
		if err != nil {
			t.Fatalf("dial %s: %v", dest, err)
		}
		t.Cleanup(func() { h.Close() })
		hs = append(hs, h)
	}
	return hs
}

// hostOpts gives a healthy release the product's default minute: on a
// loaded 2-core CI, gunicorn's workers importing Django took over 20 s.
// Tests that want a release refused set a short HealthTimeout themselves.
func hostOpts(c *stack.Config, hs []host.Host, out io.Writer) HostsOptions {
	return HostsOptions{Config: c, Hosts: hs, Out: out, Colors: ui.NewPalette(false), RenderSite: renderServerSite,
		HealthTimeout: time.Minute, DrainTimeout: 20 * time.Second, By: "tester@laptop"}
}

// get asks the host's nginx for path with the site's Host header.
func getSite(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = "app.test"
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// hostSnapshot is every file deploy manages on a host, as a listing with
// checksums, to compare before and after a failed deploy.
func hostSnapshot(t *testing.T, cl *hosttest.Cluster, name string) string {
	t.Helper()
	return cl.SSH(t, name, `cd / && find etc/stackctl etc/systemd/system etc/nginx srv var/lib/stackctl \
		\( -path var/lib/stackctl/'*'/backups -prune \) -o \( -path '*/.venv' -prune \) -o -print 2>/dev/null | LC_ALL=C sort | while read -r f; do
		if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; elif [ -f "$f" ]; then echo "$f $(sha256sum <"$f" | cut -c1-16) $(stat -c %a "$f")"; else echo "$f/"; fi
	done; systemctl is-active myapp@a.service myapp@b.service || true`)
}

func deployOK(t *testing.T, o HostsOptions) string {
	t.Helper()
	var out bytes.Buffer
	o.Out = &out
	start := time.Now()
	if err := DeployHosts(context.Background(), o); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	t.Logf("deploy took %.1fs:\n%s", time.Since(start).Seconds(), out.String())
	return out.String()
}

// setHello changes the app's greeting (a one-line change) to text.
func setHello(t *testing.T, c *stack.Config, text string) {
	t.Helper()
	old := helloText[c.Dir()]
	if old == "" {
		old = "Hello, World!"
	}
	helloText[c.Dir()] = text
	p := filepath.Join(c.Dir(), "templates", "index.html")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s has no %q", p, old)
	}
	if err := os.WriteFile(p, bytes.ReplaceAll(data, []byte(old), []byte(text)), 0o644); err != nil {
		t.Fatal(err)
	}
}

var helloText = map[string]string{}

// The whole life of a Go app on a real server, as root: first deploy, a
// no-op redeploy, a one-line change and a rollback under a browser-like
// load with no failed request, releases, and keep_releases.
func TestHostDeployGo(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	c := serverProject(t, "myapp", "go")
	c.Deploy.KeepReleases = 3
	hs := dial(t, cl, "", "web1")
	o := hostOpts(c, hs, nil)

	out := deployOK(t, o)
	if !strings.Contains(out, "release ") || !strings.Contains(out, "nginx → slot a") {
		t.Errorf("first deploy's progress lacks the release or the switch:\n%s", out)
	}
	if code, body := getSite(t, web1.Addr, "/"); code != 200 || !strings.Contains(body, "Hello, World!") {
		t.Fatalf("GET / after the first deploy: %d %q", code, body)
	}
	// The unit runs the app as its own user, not root.
	if u := strings.TrimSpace(cl.SSH(t, "web1", "ps -o user= -p $(systemctl show -p MainPID --value myapp@a.service)")); u != "myapp" {
		t.Errorf("the app runs as %q, want myapp", u)
	}

	// Nothing changed: nothing sent, nothing restarted.
	pid := cl.SSH(t, "web1", "systemctl show -p MainPID --value myapp@a.service")
	start := time.Now()
	out = deployOK(t, o)
	t.Logf("no-op deploy: %.2fs", time.Since(start).Seconds())
	if !strings.Contains(out, "No changes") {
		t.Errorf("an unchanged redeploy did not say so:\n%s", out)
	}
	if again := cl.SSH(t, "web1", "systemctl show -p MainPID --value myapp@a.service"); strings.TrimSpace(again) != strings.TrimSpace(pid) {
		t.Errorf("a no-op deploy restarted the app (pid %s → %s)", pid, again)
	}

	// A one-line change, under load: slot b takes over, 0 failed requests.
	setHello(t, c, "Hello, release two!")
	l := hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 4)
	start = time.Now()
	out = deployOK(t, o)
	t.Logf("redeploy of a one-line change: %.2fs", time.Since(start).Seconds())
	l.Check(t, "redeploy")
	if !strings.Contains(out, "nginx → slot b") || !strings.Contains(out, "1 of") {
		t.Errorf("redeploy should send only the binary and switch to slot b:\n%s", out)
	}
	if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, "Hello, release two!") {
		t.Errorf("after the redeploy GET / = %q", body)
	}
	if st := strings.TrimSpace(cl.SSH(t, "web1", "systemctl is-active myapp@a.service || true")); st != "inactive" {
		t.Errorf("the old slot is %q after the switch, want inactive", st)
	}
	// The serving slot, and only it, starts at boot.
	if en := strings.Fields(cl.SSH(t, "web1", "systemctl is-enabled myapp@a.service myapp@b.service || true")); len(en) != 2 || en[0] != "disabled" || en[1] != "enabled" {
		t.Errorf("is-enabled a, b = %v, want disabled, enabled", en)
	}

	// Rollback under load: the first release again, in seconds.
	l = hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 4)
	start = time.Now()
	var rb bytes.Buffer
	o.Out = &rb
	if err := RollbackHosts(context.Background(), o, ""); err != nil {
		t.Fatalf("rollback: %v\n%s", err, rb.String())
	}
	t.Logf("rollback: %.2fs\n%s", time.Since(start).Seconds(), rb.String())
	l.Check(t, "rollback")
	if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, "Hello, World!") {
		t.Errorf("after the rollback GET / = %q", body)
	}

	// Releases: history with who and when; keep_releases prunes the oldest
	// but never the current or the previous one.
	for i := 3; i <= 5; i++ {
		setHello(t, c, fmt.Sprintf("Hello, release %d!", i))
		deployOK(t, o)
	}
	list, err := ListReleases(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk, current int
	for _, r := range list[0].Releases {
		if r.OnDisk {
			onDisk++
		}
		if r.Current {
			current++
		}
		if r.By != "tester@laptop" || r.DeployedAt.IsZero() {
			t.Errorf("release %+v lacks who or when", r)
		}
	}
	if onDisk != 3 || current != 1 || len(list[0].Releases) != 5 {
		t.Errorf("releases = %+v; want 5 in the history, 3 on disk, 1 current", list[0].Releases)
	}
	if n := len(strings.Fields(cl.SSH(t, "web1", "ls /srv/myapp/releases"))); n != 3 {
		t.Errorf("%d releases on disk, want keep_releases=3", n)
	}
}

// Every failure leaves the old release serving, every file as it was, and
// the lock released: a release that never becomes healthy, a failing
// release_command, a site nginx rejects, Ctrl-C during the health check,
// a stale lock, and a dropped connection.
func TestHostDeployFailuresLoseNothing(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	c := serverProject(t, "myapp", "go")
	hs := dial(t, cl, "", "web1")
	o := hostOpts(c, hs, nil)
	o.HealthTimeout = 5 * time.Second
	deployOK(t, o)
	before := hostSnapshot(t, cl, "web1")

	fail := func(what string, o HostsOptions, ctx context.Context, wantMsg string) {
		t.Helper()
		var out bytes.Buffer
		o.Out = &out
		err := DeployHosts(ctx, o)
		if err == nil {
			t.Fatalf("%s: deploy succeeded\n%s", what, out.String())
		}
		if !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("%s: error %q does not say %q", what, err, wantMsg)
		}
		t.Logf("%s: %v\n%s", what, err, out.String())
		if after := hostSnapshot(t, cl, "web1"); after != before {
			t.Errorf("%s changed the host:\n--- before\n%s\n--- after\n%s", what, before, after)
		}
		if code, body := getSite(t, web1.Addr, "/"); code != 200 || !strings.Contains(body, "Hello, World!") {
			t.Errorf("%s: the old release does not serve: %d %q", what, code, body)
		}
	}

	// A release that never becomes healthy, under load: 0 failed requests.
	c.App.Health = "/no-such-page"
	setHello(t, c, "Hello, broken!")
	l := hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 2)
	fail("unhealthy release", o, context.Background(), "not healthy on slot b")
	l.Check(t, "unhealthy release")
	c.App.Health = "/healthz"

	// A release that does not start at all.
	boom := filepath.Join(c.Dir(), "boom.go")
	os.WriteFile(boom, []byte("package main\n\nfunc init() { panic(\"no database\") }\n"), 0o644)
	fail("app that exits", o, context.Background(), "the app exited")
	os.Remove(boom)

	// A release that does not build: nothing is sent at all.
	os.WriteFile(boom, []byte("package main\n\nfunc init() { undefined() }\n"), 0o644)
	fail("build error", o, context.Background(), "build the app for linux/amd64")
	os.Remove(boom)

	// A failing release_command.
	c.Deploy.ReleaseCommand = "echo migrating; exit 7"
	fail("release_command", o, context.Background(), "release_command")
	c.Deploy.ReleaseCommand = ""

	// A site nginx rejects: another site already defines our upstream.
	cl.SSH(t, "web1", `printf 'upstream stackctl_myapp { server 127.0.0.1:1; }\n' >/etc/nginx/conf.d/clash.conf`)
	c.Proxy.ClientMaxBodySize = "2m" // the site changes, so deploy rewrites it
	before = hostSnapshot(t, cl, "web1")
	fail("nginx -t", o, context.Background(), "nginx rejects")
	cl.SSH(t, "web1", "rm /etc/nginx/conf.d/clash.conf")
	c.Proxy.ClientMaxBodySize = "1m"
	before = hostSnapshot(t, cl, "web1")

	// Ctrl-C while the new slot is being health-checked.
	c.App.Health = "/no-such-page"
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for i := 0; i < 600; i++ {
			if st, _ := cl.TrySSH("web1", "systemctl is-active myapp@b.service"); strings.TrimSpace(st) == "active" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
	}()
	fail("Ctrl-C", o, ctx, "interrupted")

	// The connection drops while the new slot is being checked: the
	// command in flight fails, the undo reconnects.
	go func() {
		for i := 0; i < 600; i++ {
			if st, _ := cl.TrySSH("web1", "systemctl is-active myapp@b.service"); strings.TrimSpace(st) == "active" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		hs[0].(*host.SSH).Drop()
	}()
	fail("dropped connection", o, context.Background(), "SSH connection failed")
	c.App.Health = "/healthz"

	// A stale lock names who held it and since when.
	cl.SSH(t, "web1", `mkdir /var/lib/stackctl/myapp/lock && echo '{"by":"bob@old-laptop","since":"2026-12-01T09:00:00Z","command":"deploy"}' >/var/lib/stackctl/myapp/lock/info`)
	before = hostSnapshot(t, cl, "web1")
	fail("stale lock", o, context.Background(), "bob@old-laptop holds the deploy lock of myapp since 2026-12-01T09:00:00Z")
	cl.SSH(t, "web1", "rm -r /var/lib/stackctl/myapp/lock")
	before = hostSnapshot(t, cl, "web1")

	// And after all that, a good deploy still works.
	deployOK(t, o)
	if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, "Hello, broken!") {
		t.Errorf("the deploy after the failures serves %q", body)
	}
}

// A Flask app deployed by a sudo user: its release gets a virtualenv with a
// requirement no Debian package has (a wheel the test builds, from the
// host's pip find-links), gunicorn runs from it, and a redeploy with the
// same requirements.txt reuses the virtualenv.
func TestHostDeployFlaskAsSudoUser(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	web1 := cl.Host("web1")
	c := serverProject(t, "shop", "flask")
	c.Deploy.ReleaseCommand = "python -c 'import greeting; print(greeting.WORD)'"
	putWheel(t, cl, "web1")
	req := filepath.Join(c.Dir(), "requirements.txt")
	data, _ := os.ReadFile(req)
	os.WriteFile(req, append(data, []byte("greeting==1.0\n")...), 0o644)
	app := filepath.Join(c.Dir(), "app.py")
	data, _ = os.ReadFile(app)
	data = bytes.Replace(data, []byte("\n@app."), []byte("\nimport greeting\n\n\n@app.route(\"/greeting\")\ndef greet():\n    return greeting.WORD\n\n\n@app."), 1)
	os.WriteFile(app, data, 0o644)

	hs := dial(t, cl, "deploy", "web1")
	o := hostOpts(c, hs, nil)
	out := deployOK(t, o)
	if !strings.Contains(out, "virtualenv built") || !strings.Contains(out, "release_command") {
		t.Errorf("first Flask deploy should build a virtualenv and run release_command:\n%s", out)
	}
	if code, body := getSite(t, web1.Addr, "/greeting"); code != 200 || body != "bonjour" {
		t.Fatalf("GET /greeting = %d %q, want the wheel's word", code, body)
	}
	if code, body := getSite(t, web1.Addr, "/"); code != 200 || !strings.Contains(body, "Hello, World!") {
		t.Fatalf("GET / = %d %q", code, body)
	}
	if cmd := cl.SSH(t, "web1", "ps -o args= -p $(systemctl show -p MainPID --value shop@a.service)"); !strings.Contains(cmd, "gunicorn") || !strings.Contains(cmd, "/srv/shop/slots/a/.venv/bin/python") {
		t.Errorf("slot a runs %q, want gunicorn from the release's virtualenv", cmd)
	}
	setHello(t, c, "Hello, Flask two!")
	l := hosttest.StartLoad(t, web1.Addr, "app.test", "/healthz", 4)
	out = deployOK(t, o)
	l.Check(t, "Flask redeploy")
	if !strings.Contains(out, "virtualenv reused") {
		t.Errorf("an unchanged requirements.txt should reuse the virtualenv:\n%s", out)
	}
	if _, body := getSite(t, web1.Addr, "/"); !strings.Contains(body, "Hello, Flask two!") {
		t.Errorf("after the redeploy GET / = %q", body)
	}
}

// putWheel builds a wheel of a tiny package "greeting" and makes it the
// host's only package index (pip's find-links, no index).
func putWheel(t *testing.T, cl *hosttest.Cluster, name string) {
	t.Helper()
	cl.SSH(t, name, `set -e
mkdir -p /tmp/w/greeting /tmp/w/greeting-1.0.dist-info /opt/wheels
cd /tmp/w
printf 'WORD = "bonjour"\n' >greeting/__init__.py
printf 'Metadata-Version: 2.1\nName: greeting\nVersion: 1.0\n' >greeting-1.0.dist-info/METADATA
printf 'Wheel-Version: 1.0\nGenerator: stackctl-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n' >greeting-1.0.dist-info/WHEEL
printf 'greeting/__init__.py,,\ngreeting-1.0.dist-info/METADATA,,\ngreeting-1.0.dist-info/WHEEL,,\ngreeting-1.0.dist-info/RECORD,,\n' >greeting-1.0.dist-info/RECORD
python3 -c 'import zipfile,sys; z=zipfile.ZipFile("/opt/wheels/greeting-1.0-py3-none-any.whl","w"); [z.write(f) for f in sys.argv[1:]]; z.close()' greeting/__init__.py greeting-1.0.dist-info/METADATA greeting-1.0.dist-info/WHEEL greeting-1.0.dist-info/RECORD
printf '[global]\nno-index = true\nfind-links = /opt/wheels\n' >/etc/pip.conf`)
}

// Refusals before anything is sent: an unknown host key, a changed one, a
// user sudo asks a password of, a user the server refuses, a certificate
// from ACME on two app hosts without an lb, an unreachable
// host, a host without python3-venv for a Python app.
func TestHostDeployRefusals(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1", "web2")
	ctx := context.Background()

	// Unknown key: an ssh config whose known_hosts lacks web1.
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	cfgData, _ := os.ReadFile(cl.SSHConfig)
	unknownCfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(unknownCfg, bytes.ReplaceAll(cfgData, []byte(cl.KnownHosts), []byte(empty)), 0o600)
	_, err := host.Dial(ctx, "web1", host.SSHOptions{Config: unknownCfg})
	if err == nil || !strings.Contains(err.Error(), "host key is not known") || !strings.Contains(err.Error(), "SHA256:") || !strings.Contains(err.Error(), "ssh-keyscan") {
		t.Errorf("unknown host key: %v", err)
	}
	// Changed key: web2's key pinned under web1's address.
	kh, _ := os.ReadFile(cl.KnownHosts)
	var swapped []string
	w1, w2 := cl.Host("web1").Addr, cl.Host("web2").Addr
	for _, line := range strings.Split(string(kh), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && strings.Contains(","+f[0]+",", ","+w2+",") {
			swapped = append(swapped, strings.Join([]string{w1, f[1], f[2]}, " "))
		}
	}
	changed := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(changed, []byte(strings.Join(swapped, "\n")+"\n"), 0o600)
	changedCfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(changedCfg, bytes.ReplaceAll(cfgData, []byte(cl.KnownHosts), []byte(changed)), 0o600)
	_, err = host.Dial(ctx, "web1", host.SSHOptions{Config: changedCfg})
	if err == nil || !strings.Contains(err.Error(), "CHANGED") || !strings.Contains(err.Error(), "ssh-keygen -R") {
		t.Errorf("changed host key: %v", err)
	}
	// sudo that wants a password.
	_, err = host.Dial(ctx, "nosudo@web1", host.SSHOptions{Config: cl.SSHConfig})
	if err == nil || !strings.Contains(err.Error(), "sudo asks for a password") || !strings.Contains(err.Error(), "nosudo ALL=(ALL) NOPASSWD: ALL") {
		t.Errorf("sudo with a password: %v", err)
	}
	// A user the server refuses.
	_, err = host.Dial(ctx, "nobody@web1", host.SSHOptions{Config: cl.SSHConfig})
	if err == nil || !strings.Contains(err.Error(), "refused user") {
		t.Errorf("refused user: %v", err)
	}
	// A certificate from ACME on two app hosts without an lb: refused
	// before anything changes (the CA could validate at either host).
	tc := serverProject(t, "tlsapp", "go")
	tc.Nginx.TLS.Enabled = true
	err = DeployHosts(ctx, hostOpts(tc, dial(t, cl, "", "web1", "web2"), io.Discard))
	if err == nil || !strings.Contains(err.Error(), "2 app hosts that each terminate TLS") || !strings.Contains(err.Error(), "deploy.lb") {
		t.Errorf("ACME on two hosts without an lb: %v", err)
	}
	for _, h := range []string{"web1", "web2"} {
		if ls := cl.SSH(t, h, "ls /srv /etc/stackctl 2>&1 || true"); strings.Contains(ls, "tlsapp") {
			t.Errorf("%s: a refused deploy wrote files: %s", h, ls)
		}
	}
	// A host that is down.
	cl.Host("web2").Stop()
	_, err = host.Dial(ctx, "web2", host.SSHOptions{Config: cl.SSHConfig, ConnectTimeout: 3 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("unreachable host: %v", err)
	}
	// A Python app on a host without python3-venv: refused, nothing written.
	cl.SSH(t, "web1", "mv /usr/lib/python3.11/ensurepip /usr/lib/python3.11/ensurepip.away")
	c := serverProject(t, "shop", "flask")
	hs := dial(t, cl, "", "web1")
	var out bytes.Buffer
	o := hostOpts(c, hs, &out)
	err = DeployHosts(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "lacks python3-venv") || !strings.Contains(err.Error(), "apt-get install python3-venv") {
		t.Errorf("no python3-venv: %v", err)
	}
	if ls := cl.SSH(t, "web1", "ls /srv /etc/stackctl 2>&1 || true"); strings.Contains(ls, "shop") {
		t.Errorf("a refused deploy wrote files: %s", ls)
	}
}

// A Django project as its users make it (startproject), adopted the way
// `stackctl init` adopts it, deployed to a real server: gunicorn on
// mysite.wsgi:application from the release's virtualenv (Debian's Django
// through --system-site-packages), collectstatic's files served by nginx,
// `manage.py check` as the release command.
func TestHostDeployAdoptedDjango(t *testing.T) {
	t.Parallel()
	project := flasktest.DjangoProject(t)
	cl := hosttest.Start(t, "web1")
	p, err := detect.Detect(project, detect.Options{Domain: "mysite.localhost"})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config()
	c.Proxy.ServerNames = []string{"mysite.localhost"} // allowed by startproject's DEBUG ALLOWED_HOSTS
	c.Deploy.ReleaseCommand = "python manage.py check"
	path := filepath.Join(project, stack.FileName)
	if err := detect.WriteNew(path, c); err != nil {
		t.Fatal(err)
	}
	if c, err = stack.Load(path); err != nil {
		t.Fatal(err)
	}
	o := hostOpts(c, dial(t, cl, "", "web1"), nil)
	out := deployOK(t, o)
	if !strings.Contains(out, "release_command") {
		t.Errorf("release_command did not run:\n%s", out)
	}
	addr := cl.Host("web1").Addr
	status, body := getHost(t, addr, "/", "mysite.localhost")
	if status != 200 || !strings.Contains(body, "The install worked successfully!") {
		t.Errorf("GET / through the server's nginx: %d %.300s", status, body)
	}
	if status, body := getHost(t, addr, "/static/admin/css/base.css", "mysite.localhost"); status != 200 || !strings.Contains(body, "body") {
		t.Errorf("GET /static/admin/css/base.css: %d %.200s", status, body)
	}
	if args := cl.SSH(t, "web1", "ps -o args= -p $(systemctl show -p MainPID --value mysite@a.service)"); !strings.Contains(args, "mysite.wsgi:application") {
		t.Errorf("slot a runs %q, want gunicorn on mysite.wsgi:application", args)
	}
}

// getHost asks addr's nginx for path with the given Host header.
func getHost(t *testing.T, addr, path, hostHeader string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = hostHeader
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TLS on a server with a certificate of one's own (nginx.tls.cert/key, no
// ACME; cmd/certs_hosts_test.go covers ACME): without the certificate the
// HTTP site goes first, still serving certbot's webroot challenge, and
// deploy says the certificate is missing; with it in place the next deploy
// serves HTTPS and redirects HTTP.
func TestHostDeployTLS(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	addr := cl.Host("web1").Addr
	c := serverProject(t, "myapp", "go")
	c.Nginx.TLS.Enabled = true
	c.Nginx.TLS.HSTS = false
	c.Nginx.TLS.Cert = "/etc/letsencrypt/live/app.test/fullchain.pem"
	c.Nginx.TLS.Key = "/etc/letsencrypt/live/app.test/privkey.pem"
	o := hostOpts(c, dial(t, cl, "", "web1"), nil)
	out := deployOK(t, o)
	if !strings.Contains(out, "no certificate at /etc/letsencrypt/live/app.test/fullchain.pem (nginx.tls.cert) yet") {
		t.Errorf("deploy does not say the certificate is missing:\n%s", out)
	}
	cl.SSH(t, "web1", "mkdir -p /var/www/letsencrypt/.well-known/acme-challenge && echo token-123 >/var/www/letsencrypt/.well-known/acme-challenge/t1")
	if status, body := getSite(t, addr, "/.well-known/acme-challenge/t1"); status != 200 || strings.TrimSpace(body) != "token-123" {
		t.Errorf("the ACME challenge through the HTTP site: %d %q", status, body)
	}

	// The certificate arrives (certbot's job; here a self-signed one).
	cert := nginxtest.SelfSignedCert(t, t.TempDir(), "app.test")
	pem, _ := os.ReadFile(cert.CertFile)
	key, _ := os.ReadFile(cert.KeyFile)
	dir := "/etc/letsencrypt/live/app.test"
	cl.SSH(t, "web1", "mkdir -p "+dir+" && printf '%s' '"+string(pem)+"' >"+dir+"/fullchain.pem && printf '%s' '"+string(key)+"' >"+dir+"/privkey.pem && chmod 600 "+dir+"/privkey.pem")
	out = deployOK(t, o)
	if strings.Contains(out, "no certificate") || strings.Contains(out, "certbot") {
		t.Errorf("with the certificate in place deploy still asks for it:\n%s", out)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool, ServerName: "app.test"}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	req.Host = "app.test"
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET https://%s/: %v", addr, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Hello, World!") {
		t.Errorf("HTTPS: %d %.200s", resp.StatusCode, body)
	}
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ = http.NewRequest("GET", "http://"+addr+"/x", nil)
	req.Host = "app.test"
	if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != 301 || resp.Header.Get("Location") != "https://app.test/x" {
		t.Errorf("HTTP after TLS: %v %v", err, resp)
	}
}
