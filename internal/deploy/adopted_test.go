package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/detect"
	"github.com/stackctl/stackctl/internal/flasktest"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
)

func TestGoMainPackage(t *testing.T) {
	for build, want := range map[string]string{
		"go build -o .stackctl/app .":                     ".",
		"go build -o .stackctl/app ./cmd/server":          "./cmd/server",
		"go build -o .stackctl/app":                       ".",
		"make app":                                        ".",
		"go build -tags netgo -o .stackctl/app ./cmd/api": "./cmd/api",
	} {
		c := stack.Default("x", "go")
		c.App.Build = build
		if got := goMainPackage(c); got != want {
			t.Errorf("goMainPackage(%q) = %q, want %q", build, got, want)
		}
	}
}

// A Django project as its users make it (django-admin startproject, a
// virtualenv seeing Debian's Django), adopted by init's detection and
// deployed with --root: collectstatic fills the static folder of the
// release, gunicorn serves mysite.wsgi:application behind the real nginx.
func TestDeployAdoptedDjango(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	requireFlask(t) // gunicorn
	project := flasktest.DjangoProject(t)
	site, c, root := adoptAndDeploy(t, project, "mysite.localhost") // allowed by DEBUG's ALLOWED_HOSTS
	app := filepath.Join(root, c.Nginx.AppDir)
	css, err := os.ReadFile(filepath.Join(app, "staticfiles/admin/css/base.css"))
	if err != nil {
		t.Fatalf("collectstatic did not fill the release's staticfiles/: %v", err)
	}
	for _, p := range []string{"manage.py", "mysite/settings.py", "mysite/wsgi.py"} {
		if _, err := os.Stat(filepath.Join(app, p)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(project, "staticfiles")); !os.IsNotExist(err) {
		t.Errorf("collectstatic wrote into the project, not only the release: %v", err)
	}
	if _, err := os.Stat(filepath.Join(app, ".venv")); !os.IsNotExist(err) {
		t.Errorf(".venv was installed: %v", err)
	}
	unit, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system/mysite.service"))
	if !bytes.Contains(unit, []byte(" -b 127.0.0.1:"+strconv.Itoa(c.App.Port)+" mysite.wsgi:application\n")) {
		t.Errorf("the unit does not run gunicorn on mysite.wsgi:application:\n%s", unit)
	}
	if status, body, _ := get(t, site+"/", "mysite.localhost"); status != 200 || !strings.Contains(body, "The install worked successfully!") {
		t.Errorf("GET / through nginx: %d\n%s", status, body)
	}
	status, body, hdr := get(t, site+"/static/admin/css/base.css", "mysite.localhost")
	if status != 200 || body != string(css) || hdr.Get("Cache-Control") != "max-age=2592000" {
		t.Errorf("GET /static/admin/css/base.css through nginx: %d, Cache-Control %q, same bytes %v", status, hdr.Get("Cache-Control"), body == string(css))
	}
}

// adoptAndDeploy detects the project in dir as init does, points it at
// free ports, deploys it with --root behind a real nginx, starts the unit
// as systemd would and returns the site's base URL, the Config deployed
// and the root.
func adoptAndDeploy(t *testing.T, dir, host string) (string, *stack.Config, string) {
	t.Helper()
	p, err := detect.Detect(dir, detect.Options{Domain: host})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config()
	c.App.Port = nginxtest.FreePort(t)
	c.Proxy.ServerNames = []string{host}
	c.Nginx.Listen = "127.0.0.1:" + strconv.Itoa(nginxtest.FreePort(t))
	path := filepath.Join(dir, stack.FileName)
	if err := detect.WriteNew(path, c); err != nil {
		t.Fatal(err)
	}
	if c, err = stack.Load(path); err != nil {
		t.Fatal(err)
	}
	ngx := newDebianRoot(t)
	ngx.start(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := Run(ctx, deployOpts(c, ngx.root, &out)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	startUnit(t, ngx.root, filepath.Join(ngx.root, "etc/systemd/system", c.Deploy.Service+".service"))
	site := "http://" + c.Nginx.Listen
	waitFor(t, 30*time.Second, func() error {
		return checkHealth(context.Background(), HealthTarget{URL: site + c.App.Health, Host: host}, time.Second)
	})
	return site, c, ngx.root
}

// A Flask factory package in a src/ layout: gunicorn imports
// shop:create_app() with PYTHONPATH=src from the installed files.
func TestDeployAdoptedFlaskSrc(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	requireFlask(t)
	dir := nginxtest.TempDir(t)
	mustWrite(t, filepath.Join(dir, "pyproject.toml"), "[project]\nname = \"shop\"\n", 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "src/shop/static"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "src/shop/__init__.py"), "from flask import Flask\n\n\ndef create_app():\n    app = Flask(__name__)\n\n    @app.get(\"/\")\n    def index():\n        return \"shop home\\n\"\n\n    @app.get(\"/healthz\")\n    def healthz():\n        return \"ok\\n\"\n\n    return app\n", 0o644)
	mustWrite(t, filepath.Join(dir, "src/shop/static/shop.css"), "body { color: green }\n", 0o644)
	site, c, root := adoptAndDeploy(t, dir, "shop.test")
	unit, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system", c.Deploy.Service+".service"))
	// app.env (PYTHONPATH=src here) lives in a root-only file the unit loads.
	env, _ := os.ReadFile(filepath.Join(root, "etc/stackctl", c.Name, "app.env"))
	if c.App.WSGI != "shop:create_app()" || !bytes.Contains(unit, []byte("shop:create_app()")) || !bytes.Contains(env, []byte("PYTHONPATH=")) || !bytes.Contains(env, []byte("src")) {
		t.Errorf("the unit does not run gunicorn on shop:create_app() with PYTHONPATH=src:\n%s\napp.env:\n%s", unit, env)
	}
	if status, body, _ := get(t, site+"/", "shop.test"); status != 200 || body != "shop home\n" {
		t.Errorf("GET / through nginx: %d %q", status, body)
	}
	if status, body, _ := get(t, site+"/static/shop.css", "shop.test"); status != 200 || body != "body { color: green }\n" {
		t.Errorf("GET /static/shop.css through nginx: %d %q", status, body)
	}
}

// A Go module whose program is cmd/server: deploy builds that package.
func TestDeployAdoptedGoCmdServer(t *testing.T) {
	t.Parallel()
	nginxtest.Require(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool")
	}
	dir := nginxtest.TempDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "cmd/server"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "go.mod"), "module example.com/acme/api\n\ngo 1.22\n", 0o644)
	mustWrite(t, filepath.Join(dir, "cmd/server/main.go"), `package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("acme api")) })
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`, 0o644)
	site, c, root := adoptAndDeploy(t, dir, "api.test")
	if _, err := os.Stat(filepath.Join(root, c.Nginx.AppDir, "bin", c.Name)); err != nil {
		t.Errorf("the binary is not installed: %v", err)
	}
	if status, body, _ := get(t, site+"/", "api.test"); status != 200 || body != "acme api" {
		t.Errorf("GET / through nginx: %d %q", status, body)
	}
}
