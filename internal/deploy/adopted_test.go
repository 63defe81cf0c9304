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
	const py = "/usr/bin/python3"
	if _, ok := detect.Imports(py, "django"); !ok {
		if os.Getenv(nginxtest.RequireEnv) == "1" {
			t.Fatal("python3-django is required: apt-get install python3-django")
		}
		t.Skip("no Django (apt-get install python3-django)")
	}
	parent := nginxtest.TempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, argv := range [][]string{{py, "-m", "django", "startproject", "mysite"}, {py, "-m", "venv", "--system-site-packages", "--without-pip", "mysite/.venv"}} {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = parent
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	dir := filepath.Join(parent, "mysite")
	p, err := detect.Detect(dir, detect.Options{Domain: "mysite.localhost"})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config()
	c.App.Port = nginxtest.FreePort(t)
	c.Proxy.ServerNames = []string{"mysite.localhost"} // allowed by DEBUG's ALLOWED_HOSTS
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
	if _, err := Run(ctx, deployOpts(c, ngx.root, &out)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	app := filepath.Join(ngx.root, "srv/mysite")
	css, err := os.ReadFile(filepath.Join(app, "staticfiles/admin/css/base.css"))
	if err != nil {
		t.Fatalf("collectstatic did not fill the release's staticfiles/: %v\n%s", err, out.String())
	}
	for _, p := range []string{"manage.py", "mysite/settings.py", "mysite/wsgi.py"} {
		if _, err := os.Stat(filepath.Join(app, p)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(app, ".venv")); !os.IsNotExist(err) {
		t.Errorf(".venv was installed: %v", err)
	}
	unitPath := filepath.Join(ngx.root, "etc/systemd/system/mysite.service")
	unit, _ := os.ReadFile(unitPath)
	if !bytes.Contains(unit, []byte(" -b 127.0.0.1:"+strconv.Itoa(c.App.Port)+" mysite.wsgi:application\n")) {
		t.Errorf("the unit does not run gunicorn on mysite.wsgi:application:\n%s", unit)
	}
	startUnit(t, ngx.root, unitPath)
	site := "http://" + c.Nginx.Listen
	waitFor(t, 30*time.Second, func() error {
		return checkHealth(ctx, HealthTarget{URL: site + "/", Host: "mysite.localhost"}, time.Second)
	})
	if status, body, _ := get(t, site+"/", "mysite.localhost"); status != 200 || !strings.Contains(body, "The install worked successfully!") {
		t.Errorf("GET / through nginx: %d\n%s", status, body)
	}
	status, body, hdr := get(t, site+"/static/admin/css/base.css", "mysite.localhost")
	if status != 200 || body != string(css) || hdr.Get("Cache-Control") != "max-age=2592000" {
		t.Errorf("GET /static/admin/css/base.css through nginx: %d, Cache-Control %q, same bytes %v", status, hdr.Get("Cache-Control"), body == string(css))
	}
}
