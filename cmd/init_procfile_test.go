package cmd

import (
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
)

// initLoad runs `init --yes` in a project made of files and returns what
// it printed and the stack.toml it wrote, loaded as every command loads it.
func initLoad(t *testing.T, files map[string]string) (string, *stack.Config) {
	t.Helper()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, files)
	code, out, errOut := initIn(t, dir, "--yes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	c, err := stack.Load(filepath.Join(dir, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return out, c
}

// A Flask app deployed to Heroku before: the flaskr factory, a wsgi.py
// for gunicorn, and its Procfile.
func TestInitFlaskProcfile(t *testing.T) {
	files := maps.Clone(flaskTutorial)
	files["wsgi.py"] = "from flaskr import create_app\n\napp = create_app()\n"
	files["worker.py"] = "import time\n\nwhile True:\n    time.sleep(60)\n"
	files["clock.py"] = "print('tick')\n"
	files["Procfile"] = "# Heroku\nweb: gunicorn wsgi:app --bind 0.0.0.0:$PORT --workers 3\r\n" +
		"release: flask db upgrade\r\n" +
		"worker: python -m worker\r\n" +
		"clock: python clock.py\r\n" +
		"celery-beat: celery -A flaskr.tasks beat -s /tmp/beat:schedule\r\n" +
		"exec: python -m jobs\r\n" +
		"just text\r\n"
	out, c := initLoad(t, files)
	t.Logf("init:\n%s", out)

	if c.App.WSGI != "wsgi:app" {
		t.Errorf("app.wsgi %q, want the Procfile's wsgi:app", c.App.WSGI)
	}
	if strings.Contains(c.App.Command, "gunicorn") || !strings.Contains(c.App.Command, "flask --app flaskr") {
		t.Errorf("app.command %q: serve's dev server, not the web line", c.App.Command)
	}
	if c.Deploy.ReleaseCommand != "flask db upgrade" {
		t.Errorf("release_command %q", c.Deploy.ReleaseCommand)
	}
	want := map[string]string{"worker": "python -m worker", "clock": "python clock.py", "celery_beat": "celery -A flaskr.tasks beat -s /tmp/beat:schedule"}
	got := map[string]string{}
	for name, p := range c.Processes {
		got[name] = p.Command
		if p.Count != 1 || p.StopTimeout != stack.DefaultStopTimeout {
			t.Errorf("process %s: %+v", name, p)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("processes %v, want %v", got, want)
	}
	for _, w := range []string{
		"  • Procfile: web → app.wsgi wsgi:app, what its gunicorn serves, instead of flaskr:create_app(), which detection found; app.command stays serve's dev server\n",
		"  • Procfile: release → deploy.release_command \"flask db upgrade\"\n",
		"  • Procfile: worker → [processes] worker\n",
		"  • Procfile: clock → [processes] clock\n",
		"  • Procfile: celery-beat → [processes] celery_beat (a process name is lower-case letters, digits and _)\n",
		"  ! Procfile:7: \"exec\" is reserved: stackctl exec runs as <service>-exec-… — skipped; to run it beside the app, add it to stack.toml by hand under [processes]",
		"  ! Procfile:8: \"just text\" has no colon: a line is \"name: command\" — skipped; fix the line",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// A Django project as startproject makes it, with a Procfile that migrates
// on release: the web line's gunicorn target is what detection found.
func TestInitDjangoProcfile(t *testing.T) {
	out, c := initLoad(t, map[string]string{
		"manage.py": `#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)


if __name__ == '__main__':
    main()
`,
		"mysite/__init__.py": "",
		"mysite/settings.py": `from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = 'django-insecure-x'
DEBUG = False
ALLOWED_HOSTS = ['*']
ROOT_URLCONF = 'mysite.urls'
WSGI_APPLICATION = 'mysite.wsgi.application'
STATIC_URL = 'static/'
STATIC_ROOT = BASE_DIR / 'staticfiles'
`,
		"mysite/wsgi.py":    "import os\n\nfrom django.core.wsgi import get_wsgi_application\n\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n\napplication = get_wsgi_application()\n",
		"staticfiles/.keep": "",
		"Procfile":          "release: python manage.py migrate\nweb: gunicorn mysite.wsgi --log-file -\n",
	})
	if c.App.Template != "django" || c.App.WSGI != "mysite.wsgi:application" || !strings.Contains(c.App.Command, "manage.py runserver") {
		t.Errorf("app %+v", c.App)
	}
	if c.Deploy.ReleaseCommand != "python manage.py migrate" || len(c.Processes) != 0 {
		t.Errorf("release_command %q, processes %v", c.Deploy.ReleaseCommand, c.Processes)
	}
	for _, w := range []string{
		"  • Procfile: web → app.wsgi mysite.wsgi:application, what its gunicorn serves, as detected; app.command stays serve's dev server\n",
		"  • Procfile: release → deploy.release_command \"python manage.py migrate\"\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "! Procfile") {
		t.Errorf("a warning about a good Procfile:\n%s", out)
	}
}
