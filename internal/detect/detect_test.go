package detect

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
)

// requireDjango returns Debian's python3 with Django, skipping the test
// without it (failing under STACKCTL_REQUIRE_NGINX=1, where CI installed it).
func requireDjango(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, ok := Imports(py, "django"); !ok {
		if os.Getenv("STACKCTL_REQUIRE_NGINX") == "1" {
			t.Fatal("Debian's python3-django is required: apt-get install python3-django")
		}
		t.Skip("no Django for /usr/bin/python3 (apt-get install python3-django)")
	}
	return py
}

// startproject makes a Django project as its users do, in dir/name.
func startproject(t *testing.T, dir, name string) string {
	t.Helper()
	py := requireDjango(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-m", "django", "startproject", name)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("django startproject: %v\n%s", err, out)
	}
	return filepath.Join(dir, name)
}

func TestDjangoStartproject(t *testing.T) {
	t.Parallel()
	dir := startproject(t, t.TempDir(), "mysite")
	p, err := Detect(dir, Options{Domain: "mysite.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Template != Django || p.Name != "mysite" || p.WSGI != "mysite.wsgi:application" || p.Module != "django" {
		t.Errorf("project %+v", p)
	}
	if p.Command != "python3 manage.py runserver 127.0.0.1:$PORT --noreload" {
		t.Errorf("command %q", p.Command)
	}
	if want := (&stack.Static{URL: "/static/", Dir: "staticfiles", Expires: "30d"}); !reflect.DeepEqual(p.Static, want) {
		t.Errorf("static %+v, want %+v", p.Static, want)
	}
	found := strings.Join(p.Found, "\n")
	for _, want := range []string{"manage.py names mysite.settings → Django", "mysite/settings.py sets WSGI_APPLICATION = 'mysite.wsgi.application'", "STATIC_ROOT is not set"} {
		if !strings.Contains(found, want) {
			t.Errorf("findings lack %q:\n%s", want, found)
		}
	}
	warn := strings.Join(p.Warnings, "\n")
	for _, want := range []string{"DEBUG = True", `add "mysite.example.org" to ALLOWED_HOSTS`, "staticfiles/ does not exist yet"} {
		if !strings.Contains(warn, want) {
			t.Errorf("warnings lack %q:\n%s", want, warn)
		}
	}
	// Under DEBUG, Django allows .localhost itself.
	if p, _ := Detect(dir, Options{Domain: "mysite.localhost"}); strings.Contains(strings.Join(p.Warnings, "\n"), "ALLOWED_HOSTS") {
		t.Errorf("mysite.localhost is allowed under DEBUG; warnings:\n%s", strings.Join(p.Warnings, "\n"))
	}
	if err := p.Config().Validate(); err != nil {
		t.Errorf("the Config is invalid: %v", err)
	}

	// A virtualenv wins; STATIC_ROOT as the docs write it is the folder.
	if err := os.MkdirAll(filepath.Join(dir, ".venv", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/bin/python3", filepath.Join(dir, ".venv", "bin", "python")); err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(dir, "mysite", "settings.py")
	src, _ := os.ReadFile(settings)
	src = append(src, "STATIC_ROOT = BASE_DIR / 'collected'\nALLOWED_HOSTS = [\n    'localhost',  # for serve\n    '.example.org',\n]\n"...)
	testutil.WriteFiles(t, dir, map[string]string{"mysite/settings.py": string(src)})
	p, err = Detect(dir, Options{Domain: "mysite.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Command != ".venv/bin/python manage.py runserver 127.0.0.1:$PORT --noreload" || p.Static.Dir != "collected" {
		t.Errorf("with .venv and STATIC_ROOT: command %q, static %+v", p.Command, p.Static)
	}
	if strings.Contains(strings.Join(p.Warnings, "\n"), "ALLOWED_HOSTS") {
		t.Errorf(".example.org allows mysite.example.org; warnings:\n%s", strings.Join(p.Warnings, "\n"))
	}
}

// Settings split over a package, values taken from a sibling module.
func TestDjangoSplitSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"manage.py":                 "import os\nos.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"proj.settings\")\n",
		"proj/__init__.py":          "",
		"proj/settings/__init__.py": "from .base import *  # noqa\nDEBUG = False\n",
		"proj/settings/base.py": `import os
BASE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEBUG = True
STATIC_URL = "assets/"
STATIC_ROOT = os.path.join(BASE_DIR, "var", "static")  # collectstatic
WSGI_APPLICATION = "proj.wsgi_prod.application"
ALLOWED_HOSTS = ["*"]
`,
	})
	p, err := Detect(dir, Options{Domain: "proj.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if p.WSGI != "proj.wsgi_prod:application" || p.Static.URL != "/assets/" || p.Static.Dir != "var/static" {
		t.Errorf("wsgi %q, static %+v", p.WSGI, p.Static)
	}
	for _, w := range p.Warnings {
		if strings.Contains(w, "DEBUG") || strings.Contains(w, "ALLOWED_HOSTS") {
			t.Errorf("warning %q: DEBUG is False in the end, and * allows every host", w)
		}
	}
}

func TestFlaskLayouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   map[string]string
		command string
		wsgi    string
		env     map[string]string
		static  *stack.Static
		health  string
	}{
		{
			name: "app.py",
			files: map[string]string{
				"app.py":          "from flask import Flask\napp = Flask(__name__)\n\n@app.get('/healthz')\ndef h():\n    return 'ok'\n",
				"wsgi.py":         "from app import app\n",
				"static/site.css": "body{}",
			},
			command: "python3 -m flask --app app:app --debug run --no-reload --host $HOST --port $PORT",
			wsgi:    "app:app",
			static:  &stack.Static{URL: "/static/", Dir: "static", Expires: "30d"},
			health:  "/healthz",
		},
		{
			name: "factory package",
			files: map[string]string{
				"shop/__init__.py":   "from flask import Flask\n\ndef create_app(test_config=None):\n    app = Flask(__name__, instance_relative_config=True)\n    return app\n",
				"shop/views.py":      "from flask import Blueprint\nbp = Blueprint('v', __name__)\n",
				"shop/static/a.css":  "a{}",
				"tests/test_shop.py": "from flask import Flask\napp = Flask(__name__)\n",
			},
			command: "python3 -m flask --app shop:create_app --debug run --no-reload --host $HOST --port $PORT",
			wsgi:    "shop:create_app()",
			static:  &stack.Static{URL: "/static/", Dir: "shop/static", Expires: "30d"},
			health:  "/",
		},
		{
			name: "src layout",
			files: map[string]string{
				"pyproject.toml":         "[project]\nname = 'shop'\n",
				"src/shop/__init__.py":   "import flask\n\ndef create_app():\n    app = flask.Flask(__name__, static_folder='assets', static_url_path='/assets')\n    return app\n",
				"src/shop/assets/a.css":  "a{}",
				"src/shop/templates/x":   "",
				"src/shop/__main__.py":   "",
				"src/shop.egg-info/PKG":  "",
				"tests/test_factory.py":  "",
				"tests/conftest.py":      "",
				"src/shop/models.py":     "",
				"src/shop/static/no.css": "",
			},
			command: "python3 -m flask --app src/shop:create_app --debug run --no-reload --host $HOST --port $PORT",
			wsgi:    "shop:create_app()",
			env:     map[string]string{"PYTHONPATH": "src"},
			static:  &stack.Static{URL: "/assets/", Dir: "src/shop/assets", Expires: "30d"},
			health:  "/",
		},
		{
			name: "no static folder",
			files: map[string]string{
				"main.py":     "from flask import Flask\napplication = Flask(__name__, static_folder=None)\n",
				"static/x.js": "",
			},
			command: "python3 -m flask --app main:application --debug run --no-reload --host $HOST --port $PORT",
			wsgi:    "main:application",
			health:  "/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			testutil.WriteFiles(t, dir, tt.files)
			p, err := Detect(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Template != Flask || p.Command != tt.command || p.WSGI != tt.wsgi || !reflect.DeepEqual(p.Env, tt.env) || p.Health != tt.health {
				t.Errorf("got command %q wsgi %q env %v health %q\nfound:\n%s", p.Command, p.WSGI, p.Env, p.Health, strings.Join(p.Found, "\n"))
			}
			if !reflect.DeepEqual(p.Static, tt.static) {
				t.Errorf("static %+v, want %+v", p.Static, tt.static)
			}
			if err := p.Config().Validate(); err != nil {
				t.Errorf("the Config is invalid: %v", err)
			}
		})
	}
}

func TestTwoFlaskApps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"app.py":            "from flask import Flask\napp = Flask(__name__)\n",
		"admin/__init__.py": "from flask import Flask\ndef create_app():\n    return Flask(__name__)\n",
	})
	_, err := Detect(dir, Options{})
	var amb *AmbiguousError
	if !errors.As(err, &amb) {
		t.Fatalf("err %v, want an *AmbiguousError", err)
	}
	want := "2 Flask apps: admin (defines create_app()), app.py (app = Flask(...)) — pick one with --app admin or --app app.py"
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	p, err := Detect(dir, Options{App: "app.py"})
	if err != nil || p.WSGI != "app:app" {
		t.Fatalf("--app app.py: %v %+v", err, p)
	}
	if _, err := Detect(dir, Options{App: "nope"}); err == nil || !strings.Contains(err.Error(), "--app nope is not one of the Flask apps found: admin, app.py") {
		t.Errorf("--app nope: %v", err)
	}
}

func TestGo(t *testing.T) {
	t.Parallel()
	main := func(port string) string {
		return "package main\n\nimport (\n\t\"net/http\"\n\t\"os\"\n)\n\nfunc main() {\n\thttp.HandleFunc(\"/healthz\", func(http.ResponseWriter, *http.Request) {})\n\t_ = os.Args\n\thttp.ListenAndServe(" + port + ", nil)\n}\n"
	}
	t.Run("cmd/server reads PORT", func(t *testing.T) {
		dir := t.TempDir()
		testutil.WriteFiles(t, dir, map[string]string{
			"go.mod":                  "module example.com/acme/Web_API\n\ngo 1.22\n",
			"cmd/server/main.go":      main(`"127.0.0.1:"+os.Getenv("PORT")`),
			"internal/store/store.go": "package store\n",
			"cmd/server/main_test.go": "package main\n",
			"cmd/README.md":           "",
		})
		p, err := Detect(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Template != Go || p.Name != "web-api" || p.Build != "go build -o .stackctl/app ./cmd/server" || p.Command != ".stackctl/app" || p.Health != "/healthz" || p.Port != 0 || len(p.Warnings) != 0 {
			t.Errorf("project %+v", p)
		}
	})
	t.Run("two main packages", func(t *testing.T) {
		dir := t.TempDir()
		testutil.WriteFiles(t, dir, map[string]string{
			"go.mod":              "module shop\n",
			"main.go":             main(`":"+os.Getenv("PORT")`),
			"cmd/migrate/main.go": "package main\n\nfunc main() {}\n",
		})
		_, err := Detect(dir, Options{})
		if err == nil || err.Error() != "2 Go main packages: . (package main in main.go), ./cmd/migrate (package main in main.go) — pick one with --main . or --main ./cmd/migrate" {
			t.Fatalf("err %v", err)
		}
		p, err := Detect(dir, Options{Main: "."})
		if err != nil || p.Build != "go build -o .stackctl/app ." {
			t.Fatalf("--main .: %v %+v", err, p)
		}
		if _, err := Detect(dir, Options{Main: "cmd/migrate"}); err != nil {
			t.Errorf("--main cmd/migrate: %v", err)
		}
	})
	t.Run("fixed port", func(t *testing.T) {
		dir := t.TempDir()
		testutil.WriteFiles(t, dir, map[string]string{"go.mod": "module shop\n", "main.go": main(`":8081"`)})
		p, err := Detect(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Port != 8081 || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "no Go file of the module reads PORT: the app listens on the fixed port 8081") {
			t.Errorf("port %d, warnings %q", p.Port, p.Warnings)
		}
	})
}

func TestNothingRecognisable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{"README.md": "", "go.mod": "module lib\n", "lib.go": "package lib\n", "util.py": "import os\n"})
	_, err := Detect(dir, Options{})
	var nf *NotFoundError
	if !errors.As(err, &nf) || len(nf.Looked) != 3 {
		t.Fatalf("err %v, want a *NotFoundError listing 3 kinds", err)
	}
	for _, want := range []string{"manage.py", "Flask(...)", "cmd/NAME/", "stackctl new"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
	if _, err := Detect(dir, Options{Template: "rails"}); err == nil || !strings.Contains(err.Error(), "django, flask, go") {
		t.Errorf("--template rails: %v", err)
	}
	if _, err := Detect(dir, Options{Template: Go}); err == nil || !strings.Contains(err.Error(), "no main package") {
		t.Errorf("--template go on a library: %v", err)
	}
}

func TestTemplateChoosesAmongKinds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"go.mod":  "module both\n",
		"main.go": "package main\n\nimport \"os\"\n\nfunc main() { _ = os.Getenv(\"PORT\") }\n",
		"app.py":  "from flask import Flask\napp = Flask(__name__)\n",
	})
	_, err := Detect(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "2 kinds of project") || !strings.Contains(err.Error(), "--template flask or --template go") {
		t.Fatalf("err %v", err)
	}
	if p, err := Detect(dir, Options{Template: Flask}); err != nil || p.Template != Flask {
		t.Errorf("--template flask: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"go.mod": "module x\n\nrequire (\n"}, "go.mod:4: invalid go.mod: syntax error (unterminated block started at go.mod:3:1)"},
		{map[string]string{"go.mod": "module x\n", "main.go": "package main\n\nfunc main() {\n\tx := \n"}, "main.go:4: invalid Go"},
		{map[string]string{"go.mod": "module x\n", "cmd/api/main.go": "package main\nfunc main( {}\n"}, "cmd/api/main.go:2: invalid Go"},
		{map[string]string{"app.py": "from flask import Flask\napp = Flask(__name__)\n\ndef index(:\n    pass\n"}, "app.py:4: invalid Python"},
		{map[string]string{"manage.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site.settings')\n", "site/__init__.py": "", "site/settings.py": "DEBUG = True\nSTATIC_URL = '/static/'\nif True\n"}, "site/settings.py:3: invalid Python"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		testutil.WriteFiles(t, dir, tt.files)
		_, err := Detect(dir, Options{})
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want a *ParseError %q", tt.files, err, tt.want)
		}
	}
}

func TestProjectName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"mysite": "mysite", "My_Site": "my-site", "2048": "app-2048", "--": "app", "web.api": "web-api", strings.Repeat("a", 70): strings.Repeat("a", 63)} {
		if got := ProjectName(in); got != want {
			t.Errorf("ProjectName(%q) = %q, want %q", in, got, want)
		}
	}
}

// The first python3 on PATH lacks a module: the warning names it, its path,
// and a fix.
func TestCheckImport(t *testing.T) {
	t.Parallel()
	in := FindInterpreter(t.TempDir())
	if in.Path == "" {
		t.Skip("no python3 on PATH")
	}
	if w := CheckImport(in, "sys"); w != "" {
		t.Errorf("sys: %s", w)
	}
	w := CheckImport(in, "no_such_module_stackctl")
	if !strings.HasPrefix(w, "python3 ("+in.Path+", first on PATH; the project has no .venv) cannot import no_such_module_stackctl — ") {
		t.Errorf("warning %q", w)
	}
	if _, ok := Imports(in.Path, "django"); !ok {
		if _, debian := Imports("/usr/bin/python3", "django"); debian {
			if w := CheckImport(in, "django"); !strings.Contains(w, "/usr/bin/python3 -m venv --system-site-packages .venv") {
				t.Errorf("django missing from %s but not from /usr/bin/python3: %s", in.Path, w)
			}
		}
	}
}
