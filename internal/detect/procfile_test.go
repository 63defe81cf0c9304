package detect

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
)

func TestParseProcfile(t *testing.T) {
	t.Parallel()
	type e = ProcfileEntry
	type p = ProcfileProblem
	tests := []struct {
		name     string
		in       string
		entries  []ProcfileEntry
		problems []ProcfileProblem
	}{
		{"empty", "", nil, nil},
		{"comments and blank lines",
			"# the app\n\nweb: gunicorn app:app\n   \n  # indented comment\nworker: python -m worker\n",
			[]e{{3, "web", "gunicorn app:app"}, {6, "worker", "python -m worker"}}, nil},
		{"CRLF and a byte order mark",
			"\xef\xbb\xbfweb: gunicorn app:app\r\nrelease: flask db upgrade\r\n\r\n",
			[]e{{1, "web", "gunicorn app:app"}, {2, "release", "flask db upgrade"}}, nil},
		{"no newline at the end", "worker:python -m worker", []e{{1, "worker", "python -m worker"}}, nil},
		{"colons inside the command",
			"worker: celery -A proj worker --pool=solo -Q a:b\nweb: gunicorn -b 0.0.0.0:$PORT 'app:create_app()'\n",
			[]e{{1, "worker", "celery -A proj worker --pool=solo -Q a:b"}, {2, "web", "gunicorn -b 0.0.0.0:$PORT 'app:create_app()'"}}, nil},
		{"spaces around the name and command kept inside",
			"  clock :   python  clock.py  --every 5  \n",
			[]e{{1, "clock", "python  clock.py  --every 5"}}, nil},
		{"names needing conversion are entries",
			"celery-beat: celery -A proj beat\nWorker: python -m worker\n",
			[]e{{1, "celery-beat", "celery -A proj beat"}, {2, "Worker", "python -m worker"}}, nil},
		{"malformed lines",
			"web: gunicorn app:app\njust some text\n: python -m nameless\nworker:\n   \ncelery -A proj worker -Q a:b\nmailer: python -m mailer\n",
			[]e{{1, "web", "gunicorn app:app"}, {7, "mailer", "python -m mailer"}},
			[]p{
				{2, `"just some text" has no colon: a line is "name: command"`},
				{3, `no name before the colon: a line is "name: command"`},
				{4, "worker has no command after the colon"},
				{6, `"celery -A proj worker -Q a", before the first colon, is not a name (letters, digits, _ and -): a line is "name: command"`},
			}},
		{"duplicate names: the first counts",
			"worker: python -m worker\nweb: gunicorn a:app\nworker: python -m other\nweb: gunicorn b:app\n",
			[]e{{1, "worker", "python -m worker"}, {2, "web", "gunicorn a:app"}},
			[]p{{3, "worker is given again (first on line 1, which counts)"}, {4, "web is given again (first on line 2, which counts)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, problems := ParseProcfile([]byte(tt.in))
			if !reflect.DeepEqual(entries, tt.entries) {
				t.Errorf("entries\n%+v, want\n%+v", entries, tt.entries)
			}
			if !reflect.DeepEqual(problems, tt.problems) {
				t.Errorf("problems\n%+v, want\n%+v", problems, tt.problems)
			}
		})
	}
}

func TestReadProcfile(t *testing.T) {
	t.Parallel()
	pf := ReadProcfile([]byte(`web: gunicorn myproj.wsgi:application --bind 0.0.0.0:$PORT
release: python manage.py migrate
worker: celery -A proj worker --pool=solo -Q a:b
celery-beat: celery -A proj beat
Mailer: python -m mailer
celery_beat: celery -A proj beat --other
exec: python -m jobs
Web: gunicorn other:app
2fa: python -m twofactor
this_name_is_far_too_long_for_a_unit_name: python -m long
oops
`))
	if pf.Web == nil || *pf.Web != (ProcfileEntry{1, "web", "gunicorn myproj.wsgi:application --bind 0.0.0.0:$PORT"}) {
		t.Errorf("web %+v", pf.Web)
	}
	if pf.Release == nil || *pf.Release != (ProcfileEntry{2, "release", "python manage.py migrate"}) {
		t.Errorf("release %+v", pf.Release)
	}
	want := []ProcfileProcess{
		{ProcfileEntry{3, "worker", "celery -A proj worker --pool=solo -Q a:b"}, "worker"},
		{ProcfileEntry{4, "celery-beat", "celery -A proj beat"}, "celery_beat"},
		{ProcfileEntry{5, "Mailer", "python -m mailer"}, "mailer"},
	}
	if !reflect.DeepEqual(pf.Processes, want) {
		t.Errorf("processes\n%+v, want\n%+v", pf.Processes, want)
	}
	wantWarn := []string{
		`Procfile:6: "celery_beat" is already the process of line 4 (celery-beat) — skipped; to run it beside the app, add it to stack.toml by hand under [processes] with a name of lower-case letters, digits and _ other than web, release and exec: NAME = "celery -A proj beat --other"`,
		`Procfile:7: "exec" is reserved: stackctl exec runs as <service>-exec-… — skipped; to run it beside the app, add it to stack.toml by hand`,
		`Procfile:8: "Web" becomes "web", which is not valid: "web" is reserved: the web app is [app] — skipped; `,
		`Procfile:9: "2fa" is not a process name: a lower-case letter, then letters, digits or _ (at most 32) — skipped; `,
		`Procfile:10: "this_name_is_far_too_long_for_a_unit_name" is not a process name`,
		`Procfile:11: "oops" has no colon: a line is "name: command" — skipped; fix the line, or add the process to stack.toml by hand ([processes] name = "command")`,
	}
	if len(pf.Warnings) != len(wantWarn) {
		t.Errorf("%d warnings, want %d:\n%s", len(pf.Warnings), len(wantWarn), strings.Join(pf.Warnings, "\n"))
	}
	for i, w := range wantWarn {
		if i < len(pf.Warnings) && !strings.HasPrefix(pf.Warnings[i], w) {
			t.Errorf("warning %d:\n%s\nwant it to start with\n%s", i, pf.Warnings[i], w)
		}
	}
	for _, p := range pf.Processes {
		if err := stack.ValidateProcessName(p.Process); err != nil {
			t.Errorf("process %s: %v", p.Process, err)
		}
	}

	if pf := ReadProcfile(nil); pf.Web != nil || pf.Release != nil || pf.Processes != nil || pf.Warnings != nil {
		t.Errorf("empty Procfile: %+v", pf)
	}
}

func TestGunicornApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		command, wsgi, why string
	}{
		{"gunicorn myproj.wsgi:application --bind 0.0.0.0:$PORT", "myproj.wsgi:application", ""},
		{"gunicorn 'app:create_app()'", "app:create_app()", ""},
		{`gunicorn -w 4 -b :$PORT "shop:create_app()" --log-file -`, "shop:create_app()", ""},
		{"gunicorn --bind=0.0.0.0:$PORT --workers=3 --preload wsgi:app", "wsgi:app", ""},
		{"gunicorn -b 0.0.0.0:$PORT -w 2 -k gthread --threads 4 --access-logfile - app:app", "app:app", ""},
		{"gunicorn myproj.wsgi", "myproj.wsgi:application", ""},
		{"exec gunicorn app:app", "app:app", ""},
		{"python -m gunicorn app:app -b :$PORT", "app:app", ""},
		{".venv/bin/gunicorn app:app", "app:app", ""},
		{"newrelic-admin run-program gunicorn -c gunicorn.conf.py blog.wsgi:application", "blog.wsgi:application", ""},
		{"python manage.py migrate && gunicorn mysite.wsgi --log-file -", "mysite.wsgi:application", ""},
		{"gunicorn app:app; echo done", "app:app", ""},
		{"gunicorn -c gunicorn.conf.py", "", "its gunicorn names no app on the command line (a config file may)"},
		{"python app.py", "", "it runs no gunicorn"},
		{"uvicorn main:app --port $PORT", "", "it runs no gunicorn"},
		{"bin/start-pgbouncer gunicorn_config", "", "it runs no gunicorn"},
		{"gunicorn -k uvicorn.workers.UvicornWorker proj.asgi:application", "", "its gunicorn serves an ASGI app (-k uvicorn.workers.UvicornWorker); stackctl's gunicorn runs WSGI workers"},
		{"gunicorn --worker-class=uvicorn.workers.UvicornWorker proj.asgi:application", "", "its gunicorn serves an ASGI app (-k uvicorn.workers.UvicornWorker); stackctl's gunicorn runs WSGI workers"},
		{"gunicorn 'app:create_app(\"production\")'", "", `its gunicorn serves app:create_app("production"), a factory called with arguments; app.wsgi takes module:factory() only`},
		{"gunicorn --paste development.ini", "", "its gunicorn serves a PasteDeploy app (--paste), which app.wsgi cannot name"},
		{"gunicorn a:app b:app", "", "its gunicorn has several arguments that could be the app (a:app, b:app)"},
	}
	for _, tt := range tests {
		wsgi, why := GunicornApp(tt.command)
		if wsgi != tt.wsgi || why != tt.why {
			t.Errorf("GunicornApp(%q) = %q, %q; want %q, %q", tt.command, wsgi, why, tt.wsgi, tt.why)
		}
	}
}

// Detect takes the Procfile of a Flask project: the web line's gunicorn
// target over what detection found, release_command, the processes.
func TestDetectProcfile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"app.py":   "from flask import Flask\napp = Flask(__name__)\n",
		"wsgi.py":  "from app import app as application\n",
		"Procfile": "web: gunicorn wsgi:application --bind 0.0.0.0:$PORT\nrelease: flask db upgrade\nworker: python -m worker\nbad line\n",
	})
	p, err := Detect(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.WSGI != "wsgi:application" || p.Release != "flask db upgrade" || !reflect.DeepEqual(p.Processes, map[string]string{"worker": "python -m worker"}) {
		t.Errorf("wsgi %q, release %q, processes %v", p.WSGI, p.Release, p.Processes)
	}
	if strings.Contains(p.Command, "gunicorn") {
		t.Errorf("app.command took the web line: %q", p.Command)
	}
	found := strings.Join(p.Found, "\n")
	for _, want := range []string{
		"Procfile: web → app.wsgi wsgi:application, what its gunicorn serves, instead of app:app, which detection found; app.command stays serve's dev server",
		`Procfile: release → deploy.release_command "flask db upgrade"`,
		"Procfile: worker → [processes] worker",
	} {
		if !strings.Contains(found, want) {
			t.Errorf("findings lack %q:\n%s", want, found)
		}
	}
	if warn := strings.Join(p.Warnings, "\n"); !strings.Contains(warn, "Procfile:4: \"bad line\" has no colon") {
		t.Errorf("warnings:\n%s", warn)
	}
	c := p.Config()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Deploy.ReleaseCommand != "flask db upgrade" || c.Processes["worker"].Command != "python -m worker" || !c.Processes["worker"].Simple() {
		t.Errorf("config: release %q, processes %+v", c.Deploy.ReleaseCommand, c.Processes)
	}

	// A Go app's web line is not gunicorn's: the app stays as detected.
	dir = t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"go.mod":   "module example.com/x\n",
		"main.go":  "package main\n\nfunc main() {}\n",
		"Procfile": "web: bin/x\nworker: bin/x -worker\n",
	})
	p, err = Detect(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.WSGI != "" || p.Processes["worker"] != "bin/x -worker" || !strings.Contains(strings.Join(p.Found, "\n"), "Procfile: web → the app (a Go app") {
		t.Errorf("Go: wsgi %q, processes %v, findings:\n%s", p.WSGI, p.Processes, strings.Join(p.Found, "\n"))
	}
	if err := p.Config().Validate(); err != nil {
		t.Error(err)
	}
}
