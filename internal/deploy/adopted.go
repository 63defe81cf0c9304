package deploy

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kballard/go-shellquote"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// What deploy needs for projects `stackctl init` adopted rather than `new`
// made: the WSGI target of app.wsgi, a Go main package elsewhere than the
// module root, and Django's collectstatic.

// wsgiTarget is what gunicorn serves: app.wsgi, or the scaffolded Flask
// app's wsgi:app for a Config built in memory without it.
func wsgiTarget(c *stack.Config) string {
	if c.App.WSGI != "" {
		return c.App.WSGI
	}
	return stack.DefaultWSGI(c.App.Template)
}

// goMainPackage is the package `go build` compiles for deploy: the last
// argument of app.build when app.build is a `go build` naming one
// ("go build -o .stackctl/app ./cmd/server"), else the module root.
func goMainPackage(c *stack.Config) string {
	words, err := shellquote.Split(c.App.Build)
	if err != nil || len(words) < 3 || words[0] != "go" || words[1] != "build" {
		return "."
	}
	last := words[len(words)-1]
	prev := words[len(words)-2]
	if strings.HasPrefix(last, "-") || prev == "-o" || prev == "-tags" || prev == "-ldflags" || prev == "-gcflags" {
		return "."
	}
	return last
}

// collectstaticPy runs Django's collectstatic with STATIC_ROOT pointed at a
// folder of deploy's, whatever the settings say (startproject sets none).
// Arguments: the settings module, the folder.
const collectstaticPy = `import os, secrets, sys
sys.path.insert(0, os.getcwd())
os.environ["DJANGO_SETTINGS_MODULE"] = sys.argv[1]
# Production settings read the secret key from the environment, which has
# it only on the servers; collectstatic's output does not depend on it.
for name in ("SECRET_KEY", "DJANGO_SECRET_KEY"):
    os.environ.setdefault(name, "collectstatic-only-" + secrets.token_hex(16))
# So do the services' URLs ([services]); collectstatic connects to neither.
os.environ.setdefault("DATABASE_URL", "postgresql://collectstatic@localhost:5432/collectstatic")
os.environ.setdefault("REDIS_URL", "redis://localhost:6379/0")
import django
from django.conf import settings
settings.STATIC_ROOT = sys.argv[2]
django.setup()
from django.core.management import call_command
call_command("collectstatic", interactive=False, verbosity=0)
`

// settingsRE finds the settings module that manage.py and wsgi.py name in
// os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings').
var settingsRE = regexp.MustCompile(`DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_.]*)['"]`)

// djangoSettings is the settings module production uses: app.env's
// DJANGO_SETTINGS_MODULE, else the one app.wsgi's module names, else
// manage.py's.
func djangoSettings(c *stack.Config) (string, error) {
	if m := c.App.Env["DJANGO_SETTINGS_MODULE"]; m != "" {
		return m, nil
	}
	mod, _, _ := strings.Cut(wsgiTarget(c), ":")
	for _, f := range []string{filepath.FromSlash(strings.ReplaceAll(mod, ".", "/")) + ".py", "manage.py"} {
		data, err := os.ReadFile(filepath.Join(c.Dir(), f))
		if err != nil {
			continue
		}
		if m := settingsRE.FindSubmatch(data); m != nil {
			return string(m[1]), nil
		}
	}
	return "", ui.Errorf("set DJANGO_SETTINGS_MODULE in app.env of stack.toml", "neither %s nor manage.py names the settings module (DJANGO_SETTINGS_MODULE)", mod)
}

// djangoPython is the interpreter of app.command (".venv/bin/python",
// "python3"), which serve runs manage.py with and which therefore imports
// Django.
func djangoPython(sys System, c *stack.Config) (string, error) {
	words, err := shellquote.Split(c.App.Command)
	if err != nil || len(words) == 0 {
		return "", fmt.Errorf("app.command %q: cannot split it into words: %v", c.App.Command, err)
	}
	py := words[0]
	switch {
	case filepath.IsAbs(py):
		return py, nil
	case strings.Contains(py, "/"):
		return filepath.Join(c.Dir(), py), nil
	}
	if !strings.HasPrefix(py, "python") {
		py = "python3"
	}
	p, err := sys.LookPath(py)
	if err != nil {
		return "", ui.Errorf("install python3-django, or make .venv in the project", "%s is not installed: deploy runs Django's collectstatic with it", py)
	}
	return p, nil
}

// buildDjango returns a Django project's files (as pf chooses them) and,
// when the site has a static folder (proxy.static[0], STATIC_ROOT's), the
// files collectstatic gathers into it, in place of whatever that folder
// holds in the project.
func buildDjango(ctx context.Context, sys System, c *stack.Config, pf *projectFiles) ([]AppFile, []string, error) {
	dir := c.Dir()
	all, err := pf.files(".")
	if err != nil {
		return nil, nil, err
	}
	if len(c.Proxy.Static) == 0 {
		return all, nil, nil
	}
	static := path.Clean(c.Proxy.Static[0].Dir)
	files := all[:0]
	for _, f := range all {
		if f.Rel != static && !strings.HasPrefix(f.Rel, static+"/") {
			files = append(files, f)
		}
	}
	settings, err := djangoSettings(c)
	if err != nil {
		return nil, nil, err
	}
	py, err := djangoPython(sys, c)
	if err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp("", "stackctl-collectstatic-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "static"), 0o755); err != nil {
		return nil, nil, err
	}
	script := filepath.Join(tmp, "collectstatic.py")
	if err := os.WriteFile(script, []byte(collectstaticPy), 0o644); err != nil {
		return nil, nil, err
	}
	if _, err := sys.run(ctx, dir, py, script, settings, filepath.Join(tmp, "static")); err != nil {
		return nil, nil, ui.WithFix(fmt.Errorf("collectstatic: %w", err), "try '"+py+" manage.py collectstatic' in "+dir)
	}
	collected, err := collect(tmp, "static", nil)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range collected {
		f.Rel = static + strings.TrimPrefix(f.Rel, "static")
		files = append(files, f)
	}
	return files, []string{py, "manage.py", "collectstatic", "--noinput"}, nil
}
