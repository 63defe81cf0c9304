package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
	"github.com/stackctl/stackctl/scaffold"
)

func renderSite(c *stack.Config, o SiteOptions) ([]byte, error) {
	return nginx.Render(c, nginx.Options{NginxVersion: o.NginxVersion, HTTPSPort: o.HTTPSPort, ACMEChallenge: o.ACMEChallenge, StackctlVersion: "test"})
}

// project scaffolds a Go app with `stackctl new`'s code and points its
// nginx and app at free loopback ports.
func project(t *testing.T, name string) *stack.Config {
	t.Helper()
	dir := nginxtest.TempDir(t)
	o := scaffold.Defaults(name)
	o.Dir = dir
	o.Port = nginxtest.FreePort(t)
	o.Domain = name + ".test"
	o.Listen = "127.0.0.1:" + strconv.Itoa(nginxtest.FreePort(t))
	if _, err := scaffold.Create(o); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name, stack.FileName)
	c, err := stack.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Nginx.Listen = "127.0.0.1:" + strconv.Itoa(nginxtest.FreePort(t))
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if c, err = stack.Load(path); err != nil {
		t.Fatal(err)
	}
	return c
}

func deployOpts(c *stack.Config, root string, out *bytes.Buffer) Options {
	return Options{
		Config:        c,
		Root:          root,
		Out:           out,
		Colors:        ui.NewPalette(false),
		System:        RealSystem(),
		RenderSite:    renderSite,
		HealthTimeout: 300 * time.Millisecond, // nobody runs the app during most deploys
	}
}

// skipState leaves out of tree comparisons what deploy keeps for itself
// on every run (its backups and lock) and the logs nginx writes.
func skipState(name string) []string {
	return []string{"var/lib/stackctl/" + name + "/backups", "var/lib/stackctl/" + name + "/lock", "var/log/nginx"}
}

// The whole flow against a real nginx: deploy a scaffolded Go app with
// --root, start it as the unit would, reach it through nginx; change it and
// deploy again; an unchanged deploy changes nothing; a config nginx rejects
// changes nothing; --rollback brings the previous deploy back.
func TestDeployWithRealNginx(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	ngx := newDebianRoot(t)
	ngx.start(t)
	root := ngx.root
	c := project(t, "myapp")
	ctx := context.Background()
	site := "http://" + c.Nginx.Listen
	host := c.Proxy.ServerNames[0]

	// 1. First deploy.
	var out bytes.Buffer
	res, err := Run(ctx, deployOpts(c, root, &out))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	t.Logf("first deploy:\n%s", out.String())
	for _, p := range []string{"srv/myapp/bin/myapp", "srv/myapp/static/style.css", "etc/systemd/system/myapp.service", "etc/nginx/sites-available/myapp.conf"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	link := filepath.Join(root, "etc/nginx/sites-enabled/myapp.conf")
	if target, err := os.Readlink(link); err != nil || target != filepath.Join(root, "etc/nginx/sites-available/myapp.conf") {
		t.Errorf("sites-enabled link: %q, %v", target, err)
	}
	if res.Healthy {
		t.Error("healthy before anyone started the app")
	}
	for _, want := range []string{"systemd is not running", "cannot be started here", filepath.Join(root, "srv/myapp/bin/myapp"), "warning: health check through nginx failed (advisory", "reloaded:", "Deployed myapp"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	unitPath := filepath.Join(root, "etc/systemd/system/myapp.service")
	stop := startUnit(t, root, unitPath)
	waitFor(t, 30*time.Second, func() error { return checkHealth(ctx, HealthTarget{URL: site + "/healthz", Host: host}, time.Second) })
	status, body, _ := get(t, site+"/", host)
	if status != 200 || !strings.Contains(body, "Hello, World!") || !strings.Contains(body, "127.0.0.1") {
		t.Fatalf("GET / through nginx: %d\n%s", status, body)
	}
	// Static files come from nginx, out of the installed folder.
	css, _ := os.ReadFile(filepath.Join(c.Dir(), "static/style.css"))
	status, body, hdr := get(t, site+"/static/style.css", host)
	if status != 200 || body != string(css) || hdr.Get("Cache-Control") == "" {
		t.Errorf("GET /static/style.css: %d, Cache-Control %q, same bytes %v", status, hdr.Get("Cache-Control"), body == string(css))
	}
	v1 := snapshot(t, root, skipState("myapp")...)

	// 2. An unchanged project deploys nothing.
	out.Reset()
	again := deployOpts(c, root, &out)
	again.HealthTimeout = 15 * time.Second // the app runs: this check passes
	res, err = Run(ctx, again)
	if err != nil {
		t.Fatalf("second deploy: %v\n%s", err, out.String())
	}
	if len(res.Changes) != 0 || res.Backup != "" || !strings.Contains(out.String(), "No changes:") {
		t.Errorf("unchanged deploy: %d changes, backup %q\n%s", len(res.Changes), res.Backup, out.String())
	}
	if !res.Healthy {
		t.Errorf("the running app is not healthy through nginx:\n%s", out.String())
	}
	if d := diffSnapshots(v1, snapshot(t, root, skipState("myapp")...)); d != "" {
		t.Errorf("an unchanged deploy changed files:\n%s", d)
	}

	// 3. Change the app and deploy again.
	page := filepath.Join(c.Dir(), "templates/index.html")
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, page, strings.Replace(string(html), "Hello, World!", "Hello, v2!", 1), 0o644)
	out.Reset()
	res, err = Run(ctx, deployOpts(c, root, &out))
	if err != nil {
		t.Fatalf("deploy v2: %v\n%s", err, out.String())
	}
	if len(res.Changes) != 1 || res.Changes[0].Path != filepath.Join(root, "srv/myapp/bin/myapp") {
		t.Errorf("deploy v2 changed %d paths, want only the binary:\n%s", len(res.Changes), out.String())
	}
	stop()
	stop = startUnit(t, root, unitPath)
	waitFor(t, 30*time.Second, func() error { return checkHealth(ctx, HealthTarget{URL: site + "/healthz", Host: host}, time.Second) })
	if status, body, _ := get(t, site+"/", host); status != 200 || !strings.Contains(body, "Hello, v2!") {
		t.Fatalf("after deploy v2: %d\n%s", status, body)
	}
	v2 := snapshot(t, root, skipState("myapp")...)

	// 4. A deploy whose site nginx rejects leaves every file as it was and
	// nginx serving the running site.
	broken := deployOpts(c, root, &out)
	broken.RenderSite = func(sc *stack.Config, o SiteOptions) ([]byte, error) {
		text, err := renderSite(sc, o)
		return bytes.Replace(text, []byte("server_tokens off;"), []byte("server_tokens off;\n    bogus_directive on;"), 1), err
	}
	out.Reset()
	if _, err := Run(ctx, broken); err == nil {
		t.Fatal("deploy of a site nginx rejects succeeded")
	} else {
		msg := err.Error()
		for _, want := range []string{`unknown directive "bogus_directive"`, "myapp.conf:", "bogus_directive on;", "every file is restored"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q:\n%s", want, msg)
			}
		}
	}
	if d := diffSnapshots(v2, snapshot(t, root, skipState("myapp")...)); d != "" {
		t.Errorf("a rejected deploy left changes:\n%s", d)
	}
	if status, body, _ := get(t, site+"/", host); status != 200 || !strings.Contains(body, "Hello, v2!") {
		t.Errorf("nginx stopped serving the site after a rejected deploy: %d\n%s", status, body)
	}

	// 5. --rollback restores the deploy before the last one (v1).
	out.Reset()
	txn, err := Rollback(ctx, deployOpts(c, root, &out))
	if err != nil {
		t.Fatalf("rollback: %v\n%s", err, out.String())
	}
	if d := diffSnapshots(v1, snapshot(t, root, skipState("myapp")...)); d != "" {
		t.Errorf("after --rollback the files differ from v1:\n%s", d)
	}
	if !strings.HasSuffix(txn.Dir, rolledBackTag) {
		t.Errorf("backup %s not marked rolled back", txn.Dir)
	}
	stop()
	startUnit(t, root, unitPath)
	waitFor(t, 30*time.Second, func() error { return checkHealth(ctx, HealthTarget{URL: site + "/healthz", Host: host}, time.Second) })
	if status, body, _ := get(t, site+"/", host); status != 200 || !strings.Contains(body, "Hello, World!") {
		t.Errorf("after rollback: %d\n%s", status, body)
	}
}

// --dry-run prints what would change and writes nothing at all.
func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	ngx := newDebianRoot(t)
	c := project(t, "dryapp")
	before := snapshot(t, ngx.root)
	var out bytes.Buffer
	o := deployOpts(c, ngx.root, &out)
	o.DryRun = true
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out.String())
	}
	if d := diffSnapshots(before, snapshot(t, ngx.root)); d != "" {
		t.Errorf("--dry-run wrote:\n%s", d)
	}
	sitePath := filepath.Join(ngx.root, "etc/nginx/sites-available/dryapp.conf")
	text := out.String()
	for _, want := range []string{
		"Dry run:",
		"--- /dev/null\n+++ " + sitePath + "\n@@ -0,0 +1,",
		"+    server_name dryapp.test;",
		"+ExecStart=/srv/dryapp/bin/dryapp",
		"binary content differs (0 bytes ->",
		"-p " + ngx.root + "/ -c " + ngx.conf + " -t",
		"-s reload",
		"GET http://" + c.Nginx.Listen + "/healthz (Host: dryapp.test)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	if len(res.Changes) == 0 {
		t.Error("dry run found nothing to change")
	}
	if t.Failed() {
		t.Logf("output:\n%s", text)
	}
}

// The unit a --root deploy wrote passes systemd-analyze verify against
// that root; a stopped nginx is a warning, not a failure.
func TestDeployedUnitVerifies(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	ngx := newDebianRoot(t)
	c := project(t, "unitapp")
	var out bytes.Buffer
	if _, err := Run(context.Background(), deployOpts(c, ngx.root, &out)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	if o, err := verifyUnitFile(t, sa, ngx.root, "/etc/systemd/system/unitapp.service"); err != nil || o != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, o)
	}
	// This nginx was never started: the site passed nginx -t and stays;
	// deploy says how to start nginx.
	if !strings.Contains(out.String(), "warning: nginx was not reloaded") || !strings.Contains(out.String(), "start nginx with: ") {
		t.Errorf("no warning about the stopped nginx:\n%s", out.String())
	}
}

// TLS without a certificate deploys the HTTP site first and prints the one
// certbot command; once a certificate is there, the next deploy turns
// HTTPS on and the app answers through it.
func TestDeployTLS(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	ngx := newDebianRoot(t)
	ngx.start(t)
	root := ngx.root
	c := project(t, "tlsapp")
	c.Nginx.TLS.Enabled = true
	ctx := context.Background()
	httpsPort := nginxtest.FreePort(t)

	var out bytes.Buffer
	o := deployOpts(c, root, &out)
	o.HTTPSPort = httpsPort
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	webroot := filepath.Join(root, "var/www/letsencrypt")
	for _, want := range []string{
		"TLS is disabled for this run: there is no certificate at " + filepath.Join(root, "etc/letsencrypt/live/tlsapp.test/fullchain.pem"),
		"certbot certonly --webroot -w " + webroot + " -d tlsapp.test",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if res.TLS {
		t.Error("TLS on without a certificate")
	}
	if st, err := os.Stat(webroot); err != nil || !st.IsDir() {
		t.Errorf("ACME webroot not created: %v", err)
	}
	site, _ := os.ReadFile(res.SitePath)
	if bytes.Contains(site, []byte("ssl_certificate")) {
		t.Error("the HTTP-only site names a certificate")
	}
	// certbot's challenge is answered from the webroot through the HTTP site.
	mustWrite(t, filepath.Join(webroot, ".well-known/acme-challenge/tok-123"), "tok-123.key\n", 0o644)
	if status, body, _ := get(t, "http://"+c.Nginx.Listen+"/.well-known/acme-challenge/tok-123", "tlsapp.test"); status != 200 || body != "tok-123.key\n" {
		t.Errorf("ACME challenge through the HTTP site: %d %q", status, body)
	}

	// certbot's result, made by hand: the live path of the first name.
	live := filepath.Join(root, "etc/letsencrypt/live/tlsapp.test")
	if err := os.MkdirAll(live, 0o755); err != nil {
		t.Fatal(err)
	}
	cert := nginxtest.SelfSignedCert(t, live, "tlsapp.test")
	if err := os.Rename(cert.CertFile, filepath.Join(live, "fullchain.pem")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(cert.KeyFile, filepath.Join(live, "privkey.pem")); err != nil {
		t.Fatal(err)
	}
	startUnit(t, root, filepath.Join(root, "etc/systemd/system/tlsapp.service"))
	out.Reset()
	o.HealthTimeout = 15 * time.Second // the app runs: the check through HTTPS passes
	res, err = Run(ctx, o)
	if err != nil {
		t.Fatalf("deploy with a certificate: %v\n%s", err, out.String())
	}
	if !res.TLS || !res.Healthy || strings.Contains(out.String(), "TLS is disabled") {
		t.Errorf("TLS=%v healthy=%v\n%s", res.TLS, res.Healthy, out.String())
	}
	// Plain HTTP now redirects to HTTPS. `nginx -s reload` only signals
	// the master, which then loads the new site while its old workers
	// still answer: wait for the new configuration, not for a fixed time.
	waitFor(t, 10*time.Second, func() error {
		status, _, hdr := get(t, "http://"+c.Nginx.Listen+"/", "tlsapp.test")
		if status != 301 || !strings.HasPrefix(hdr.Get("Location"), "https://tlsapp.test") {
			return fmt.Errorf("HTTP: %d Location %q, want a 301 to https://tlsapp.test", status, hdr.Get("Location"))
		}
		return nil
	})
}

// A wildcard name with TLS needs a certificate the user brings.
func TestDeployTLSWildcardNeedsCert(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	ngx := newDebianRoot(t)
	c := project(t, "wildapp")
	c.Proxy.ServerNames = []string{"*.wildapp.test"}
	c.Nginx.TLS.Enabled = true
	before := snapshot(t, ngx.root)
	var out bytes.Buffer
	_, err := Run(context.Background(), deployOpts(c, ngx.root, &out))
	after := snapshot(t, ngx.root)
	var ue *ui.UsageError
	if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), "wildcard") || !strings.Contains(err.Error(), "--cert and --key") {
		t.Fatalf("err = %v", err)
	}
	if d := diffSnapshots(before, after); d != "" {
		t.Errorf("a refused deploy wrote:\n%s", d)
	}
}

// A file the project no longer has is removed from the app folder by the
// next deploy (and comes back with --rollback).
func TestDeployRemovesFilesTheProjectDropped(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	ngx := newDebianRoot(t)
	c := project(t, "dropapp")
	extra := filepath.Join(c.Dir(), "static/old.css")
	mustWrite(t, extra, "body{}\n", 0o644)
	var out bytes.Buffer
	ctx := context.Background()
	if _, err := Run(ctx, deployOpts(c, ngx.root, &out)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	installed := filepath.Join(ngx.root, "srv/dropapp/static/old.css")
	if _, err := os.Stat(installed); err != nil {
		t.Fatal(err)
	}
	os.Remove(extra)
	res, err := Run(ctx, deployOpts(c, ngx.root, &out))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(installed); !os.IsNotExist(err) {
		t.Errorf("%s still installed: %v", installed, err)
	}
	removed := false
	for _, p := range res.Changes {
		removed = removed || (p.Path == installed && p.Remove)
	}
	if !removed {
		t.Error("the summary does not list the removal")
	}
	if _, err := Rollback(ctx, deployOpts(c, ngx.root, &out)); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(installed); err != nil || string(data) != "body{}\n" {
		t.Errorf("rollback did not bring %s back: %q %v", installed, data, err)
	}
}

// --certbot runs certbot after the HTTP site is up, then deploys HTTPS with
// the certificate it got. certbot here is a script that records its
// arguments and writes a self-signed certificate where Let's Encrypt's
// would go.
func TestDeployCertbot(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	ngx := newDebianRoot(t)
	ngx.start(t)
	c := project(t, "botapp")
	c.Nginx.TLS.Enabled = true
	tools := nginxtest.TempDir(t)
	cert := nginxtest.SelfSignedCert(t, tools, "botapp.test")
	live := filepath.Join(ngx.root, "etc/letsencrypt/live/botapp.test")
	script := filepath.Join(tools, "certbot")
	mustWrite(t, script, "#!/bin/sh\necho \"$@\" > "+tools+"/args\nmkdir -p "+live+"\ncp "+cert.CertFile+" "+live+"/fullchain.pem\ncp "+cert.KeyFile+" "+live+"/privkey.pem\n", 0o755)

	sys := RealSystem()
	sys.Interactive = nil
	realLook := sys.LookPath
	sys.LookPath = func(name string) (string, error) {
		if name == "certbot" {
			return script, nil
		}
		return realLook(name)
	}
	var out bytes.Buffer
	o := deployOpts(c, ngx.root, &out)
	o.System = sys
	o.Certbot = true
	o.HTTPSPort = nginxtest.FreePort(t)
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("deploy --certbot: %v\n%s", err, out.String())
	}
	args, _ := os.ReadFile(filepath.Join(tools, "args"))
	if want := "certonly --webroot -w " + filepath.Join(ngx.root, "var/www/letsencrypt") + " -d botapp.test\n"; string(args) != want {
		t.Errorf("certbot ran with %q, want %q", args, want)
	}
	if !res.TLS || !strings.Contains(out.String(), "certificate ready: deploying the HTTPS site") {
		t.Errorf("TLS=%v\n%s", res.TLS, out.String())
	}
	site, _ := os.ReadFile(res.SitePath)
	if !bytes.Contains(site, []byte("ssl_certificate "+filepath.Join(live, "fullchain.pem"))) {
		t.Errorf("the site does not use certbot's certificate:\n%s", site)
	}
}

// requireFlask skips a test without gunicorn and Flask (fails instead under
// STACKCTL_REQUIRE_NGINX=1, where CI installed them).
func requireFlask(t *testing.T) {
	t.Helper()
	_, gerr := exec.LookPath("gunicorn")
	ferr := exec.Command("python3", "-c", "import flask").Run()
	if gerr == nil && ferr == nil {
		return
	}
	if os.Getenv(nginxtest.RequireEnv) == "1" {
		t.Fatalf("gunicorn and Flask are required (%s=1): apt-get install gunicorn python3-flask", nginxtest.RequireEnv)
	}
	t.Skip("gunicorn or Flask is missing (apt-get install gunicorn python3-flask)")
}

// A Flask app is installed as its files and runs under gunicorn behind nginx.
func TestDeployFlaskWithRealNginx(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	requireFlask(t)
	ngx := newDebianRoot(t)
	ngx.start(t)
	dir := nginxtest.TempDir(t)
	mustWrite(t, filepath.Join(dir, "app.py"), "from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.get(\"/\")\ndef index():\n    return \"hello from flask\\n\"\n\n\n@app.get(\"/healthz\")\ndef health():\n    return \"ok\\n\"\n", 0o644)
	mustWrite(t, filepath.Join(dir, "wsgi.py"), "from app import app\n", 0o644)
	mustWrite(t, filepath.Join(dir, ".env"), "SECRET=dev-only\n", 0o600)
	c := stack.Default("flaskapp", "flask")
	c.App.Port = nginxtest.FreePort(t)
	c.Proxy.ServerNames = []string{"flaskapp.test"}
	c.Nginx.Listen = "127.0.0.1:" + strconv.Itoa(nginxtest.FreePort(t))
	if err := c.Save(filepath.Join(dir, stack.FileName)); err != nil {
		t.Fatal(err)
	}
	c, err := stack.Load(filepath.Join(dir, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Run(context.Background(), deployOpts(c, ngx.root, &out)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(ngx.root, "srv/flaskapp/.env")); !os.IsNotExist(err) {
		t.Errorf(".env was installed: %v", err)
	}
	unit, _ := os.ReadFile(filepath.Join(ngx.root, "etc/systemd/system/flaskapp.service"))
	if !bytes.Contains(unit, []byte(" -b 127.0.0.1:"+strconv.Itoa(c.App.Port)+" wsgi:app\n")) {
		t.Errorf("unit does not run gunicorn on the app port:\n%s", unit)
	}
	startUnit(t, ngx.root, filepath.Join(ngx.root, "etc/systemd/system/flaskapp.service"))
	site := "http://" + c.Nginx.Listen
	waitFor(t, 30*time.Second, func() error {
		return checkHealth(context.Background(), HealthTarget{URL: site + "/healthz", Host: "flaskapp.test"}, time.Second)
	})
	if status, body, _ := get(t, site+"/", "flaskapp.test"); status != 200 || body != "hello from flask\n" {
		t.Errorf("GET / through nginx: %d %q", status, body)
	}
}

// Where nginx has no sites-available/, the site goes to conf.d/ with no
// link, and nginx serves it.
func TestDeployConfD(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	ngx := newConfDRoot(t)
	ngx.start(t)
	c := project(t, "confapp")
	var out bytes.Buffer
	res, err := Run(context.Background(), deployOpts(c, ngx.root, &out))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	if res.SitePath != filepath.Join(ngx.root, "etc/nginx/conf.d/confapp.conf") || res.SiteLink != "" {
		t.Errorf("site at %s, link %q", res.SitePath, res.SiteLink)
	}
	if strings.Contains(out.String(), "does not seem to include") {
		t.Errorf("warned about an included folder:\n%s", out.String())
	}
	startUnit(t, ngx.root, filepath.Join(ngx.root, "etc/systemd/system/confapp.service"))
	site := "http://" + c.Nginx.Listen
	waitFor(t, 30*time.Second, func() error {
		return checkHealth(context.Background(), HealthTarget{URL: site + "/healthz", Host: "confapp.test"}, time.Second)
	})
}

func TestRollbackWithoutBackup(t *testing.T) {
	var out bytes.Buffer
	_, err := Rollback(context.Background(), Options{Config: stack.Default("none", "go"), Root: t.TempDir(), Out: &out})
	if !errors.Is(err, ErrNoBackup) || !strings.Contains(err.Error(), "deploy first") {
		t.Errorf("err = %v", err)
	}
}
