package cmd

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/flasktest"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
)

// adopt runs `init --yes` in dir with free ports, then checks what serve
// and gen-nginx make of the stack.toml: the app's pages (path → what the
// body holds) through serve's
// proxy, and a site real nginx accepts (nginx -t in the distribution's
// own nginx.conf).
func adopt(t *testing.T, dir string, pages map[string]string, args ...string) *stack.Config {
	t.Helper()
	port := testutil.PortRange(t, 2)
	code, out, errOut := initIn(t, dir, append([]string{"--yes", "--port", strconv.Itoa(port), "--listen", strconv.Itoa(port + 1)}, args...)...)
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	t.Logf("init:\n%s", out)
	path := filepath.Join(dir, stack.FileName)
	c, err := stack.Load(path)
	if err != nil {
		t.Fatal(err)
	}

	s := startServe(t, &ServeOptions{Config: path, HoldTimeout: time.Minute})
	url := s.waitFor(`proxy \| listening on (http://127\.0\.0\.1:\d+)`)[1]
	s.waitFor(`app \| ready in `)
	for page, want := range pages {
		if code, body := httpGet(t, url+page); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s through serve: %d\n%s", page, code, body)
		}
	}
	if err := s.stop(); err != nil {
		t.Errorf("serve: %v", err)
	}

	ngx := nginxtest.Require(t)
	code, site, errOut := genNginx(t, "--config", path)
	if code != 0 {
		t.Fatalf("gen-nginx: exit %d: %s", code, errOut)
	}
	if err := nginxtest.Test(t, ngx, nginxtest.Stock, []byte(site)); err != nil {
		t.Errorf("nginx rejects the site:\n%v\n%s", err, site)
	}
	return c
}

// django-admin startproject with a virtualenv that sees Debian's Django:
// init picks .venv's python for runserver and serve shows Django's page.
func TestInitDjangoServes(t *testing.T) {
	project := flasktest.DjangoProject(t)
	c := adopt(t, project, map[string]string{"/": "The install worked successfully!"}, "--domain", "mysite.localhost")
	if c.App.Template != "django" || c.App.WSGI != "mysite.wsgi:application" || !strings.HasPrefix(c.App.Command, ".venv/bin/python manage.py runserver 127.0.0.1:$PORT --noreload") {
		t.Errorf("app %+v", c.App)
	}
}

// A Flask factory package at the top of the project, as the Flask
// tutorial lays it out.
func TestInitFlaskFactoryServes(t *testing.T) {
	dir := nginxtest.TempDir(t)
	testutil.WriteFiles(t, dir, flaskFactory)
	c := adopt(t, dir, map[string]string{"/": "shop home", "/static/shop.css": "color: green"})
	if c.App.WSGI != "shop:create_app()" || c.App.Health != "/healthz" || len(c.App.Env) != 0 {
		t.Errorf("config %+v", c.App)
	}
}

// A Flask factory package in a src/ layout: serve runs flask --app
// src/shop:create_app with the first python3 on PATH.
func TestInitFlaskSrcServes(t *testing.T) {
	dir := nginxtest.TempDir(t)
	files := map[string]string{"pyproject.toml": "[project]\nname = \"shop\"\n"}
	for p, s := range flaskFactory {
		files["src/"+p] = s
	}
	testutil.WriteFiles(t, dir, files)
	c := adopt(t, dir, map[string]string{"/": "shop home", "/static/shop.css": "color: green"})
	if c.App.WSGI != "shop:create_app()" || c.App.Env["PYTHONPATH"] != "src" || c.Proxy.Static[0].Dir != "src/shop/static" {
		t.Errorf("config %+v %+v", c.App, c.Proxy.Static)
	}
}

// A Go module with its program in cmd/server.
func TestInitGoCmdServerServes(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool")
	}
	dir := nginxtest.TempDir(t)
	testutil.WriteFiles(t, dir, map[string]string{
		"go.mod": "module example.com/acme/api\n\ngo 1.22\n",
		"cmd/server/main.go": `package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("acme api")) })
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`,
	})
	c := adopt(t, dir, map[string]string{"/": "acme api"})
	if c.Name != "api" || c.App.Build != "go build -o .stackctl/app ./cmd/server" || c.App.Health != "/healthz" {
		t.Errorf("config %+v", c.App)
	}
}
