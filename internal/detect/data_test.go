package detect

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/testutil"
)

// sqliteFile is the start of a real SQLite database file.
const sqliteFile = "SQLite format 3\x00\x10\x00\x01\x01\x00\x40\x20\x20"

// flaskTutorial is the Flask tutorial's app, flaskr, as its docs lay it
// out: a factory with instance-relative config and its SQLite database in
// the instance folder, where a laptop has one already.
var flaskTutorial = map[string]string{
	"flaskr/__init__.py": `import os

from flask import Flask


def create_app(test_config=None):
    # create and configure the app
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY="dev",
        DATABASE=os.path.join(app.instance_path, "flaskr.sqlite"),
    )

    if test_config is None:
        # load the instance config, if it exists, when not testing
        app.config.from_pyfile("config.py", silent=True)
    else:
        # load the test config if passed in
        app.config.update(test_config)

    # ensure the instance folder exists
    os.makedirs(app.instance_path, exist_ok=True)

    @app.route("/hello")
    def hello():
        return "Hello, World!"

    from . import db
    db.init_app(app)

    return app
`,
	"flaskr/db.py": `import sqlite3

import click
from flask import current_app, g


def get_db():
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
    return g.db


def close_db(e=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()


@click.command("init-db")
def init_db_command():
    get_db()
    click.echo("Initialized the database.")


def init_app(app):
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
`,
	"flaskr/static/style.css":   "body { margin: 0 }\n",
	"instance/flaskr.sqlite":    sqliteFile,
	"tests/data.sql":            "INSERT INTO user VALUES (1, 'test');\n",
	".venv/lib/cache.sqlite3":   sqliteFile,
	"node_modules/x/store.db":   sqliteFile,
	".git/objects/pack/x.db":    sqliteFile,
	"tests/fixtures/test.db":    sqliteFile,
	"flaskr/templates/base.htm": "<!doctype html>\n",
}

// flaskInstancePath asks Flask itself, run on the project the test wrote,
// where the app's instance folder is, relative to dir. base is the folder
// on sys.path; attr() is called when factory. It skips without Flask.
func flaskInstancePath(t *testing.T, dir, base, module, attr string, factory bool) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, ok := Imports(py, "flask"); !ok {
		t.Log("no Flask for /usr/bin/python3 (apt-get install python3-flask): not checked against Flask")
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	script := `import sys, importlib
sys.path.insert(0, sys.argv[1])
app = getattr(importlib.import_module(sys.argv[2]), sys.argv[3])
if sys.argv[4] == "1":
    app = app()
print(app.instance_path)
`
	f := "0"
	if factory {
		f = "1"
	}
	cmd := exec.CommandContext(ctx, py, "-c", script, filepath.Join(dir, base), module, attr, f)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("Flask on the test project: %v\n%s", err, out)
	}
	rel, err := filepath.Rel(dir, strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(rel)
}

// dataFound returns the findings that mention app.data.
func dataFound(p *Project) string {
	var out []string
	for _, f := range p.Found {
		if strings.Contains(f, "app.data") {
			out = append(out, f)
		}
	}
	return strings.Join(out, "\n")
}

func TestDataFlaskTutorial(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, flaskTutorial)
	p, err := Detect(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// instance/flaskr.sqlite is in the instance folder: no line of its own.
	if got := p.DataPaths(); !slices.Equal(got, []string{"instance"}) {
		t.Fatalf("app.data %q, want [instance]; findings:\n%s", got, strings.Join(p.Found, "\n"))
	}
	found := dataFound(p)
	for _, want := range []string{
		`flaskr/__init__.py sets instance_relative_config=True → app.data "instance": Flask's instance folder, beside the package flaskr; on servers a link into /var/lib/<service>/, kept across releases`,
		"put the config file the app reads from it (from_pyfile) into /var/lib/<service>/instance/",
	} {
		if !strings.Contains(found, want) {
			t.Errorf("findings lack %q:\n%s", want, found)
		}
	}
	if strings.Count(found, "\n") != 0 {
		t.Errorf("one finding about app.data expected:\n%s", found)
	}
	c := p.Config()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.App.Data, []string{"instance"}) {
		t.Errorf("Config app.data %q", c.App.Data)
	}
	if got := flaskInstancePath(t, dir, ".", "flaskr", "create_app", true); got != "" && got != "instance" {
		t.Errorf("Flask puts the instance folder at %s, init proposes instance", got)
	}
}

// An app that never uses the instance folder gets no app.data, and no
// line about it.
func TestDataFlaskWithoutInstance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"app.py": `import os
from flask import Flask, render_template

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "dev")


@app.route("/")
def index():
    return render_template("index.html")
`,
		"templates/index.html": "<h1>hi</h1>\n",
		"requirements.txt":     "flask\n",
	})
	p, err := Detect(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Data != nil || dataFound(p) != "" {
		t.Errorf("app.data %v, findings:\n%s", p.Data, strings.Join(p.Found, "\n"))
	}
	if c := p.Config(); c.App.Data != nil {
		t.Errorf("Config app.data %q", c.App.Data)
	}
}

// In a src layout, Flask puts the instance folder beside the package, in
// src/, when the app runs from the project (PYTHONPATH=src, as deploy
// runs it) and is not installed.
func TestDataFlaskSrcLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"pyproject.toml": "[project]\nname = \"shop\"\nversion = \"1.0\"\n",
		"src/shop/__init__.py": `from flask import Flask

from .views import bp


def create_app():
    app = Flask(__name__)
    app.register_blueprint(bp)
    return app
`,
		"src/shop/views.py": `import os

from flask import Blueprint, current_app

bp = Blueprint("shop", __name__)


@bp.post("/upload")
def upload():
    with open(os.path.join(current_app.instance_path, "uploads.log"), "a") as f:
        f.write("x\n")
    return "ok"
`,
	})
	p, err := Detect(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.DataPaths(); !slices.Equal(got, []string{"src/instance"}) {
		t.Fatalf("app.data %q, want [src/instance]; findings:\n%s", got, strings.Join(p.Found, "\n"))
	}
	want := `src/shop/views.py uses the app's instance_path → app.data "src/instance": Flask's instance folder, beside the package src/shop;`
	if found := dataFound(p); !strings.Contains(found, want) || strings.Contains(found, "from_pyfile") {
		t.Errorf("findings lack %q (and name no from_pyfile):\n%s", want, found)
	}
	if got := flaskInstancePath(t, dir, "src", "shop", "create_app", true); got != "" && got != "src/instance" {
		t.Errorf("Flask puts the instance folder at %s, init proposes src/instance", got)
	}
}

func TestDataFlaskInstanceSignals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		files  map[string]string
		module string // for Flask's own answer; "" to skip it
		want   []string
		found  string
	}{
		{"instance_path from the module's folder", map[string]string{
			"app.py": "import os\nfrom flask import Flask\n\napp = Flask(\n    __name__,\n    instance_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), \"var\", \"app\"),\n)\n",
		}, "app", []string{"var/app"}, `app.py gives Flask instance_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "var", "app") → app.data "var/app"`},
		{"instance_path with pathlib, one folder up", map[string]string{
			"web/__init__.py": "from pathlib import Path\nfrom flask import Flask\n\napp = Flask(__name__, instance_path=str(Path(__file__).resolve().parent.parent / \"data\"))\n",
		}, "web", []string{"data"}, `app.data "data": the app's instance folder`},
		{"instance_path from the environment", map[string]string{
			"app.py": "import os\nfrom flask import Flask\n\napp = Flask(__name__, instance_path=os.environ[\"INSTANCE\"])\n",
			// The instance folder Flask no longer uses is not proposed.
			"instance/old.cfg": "X = 1\n",
		}, "", nil, `instance_path=os.environ["INSTANCE"], a path init cannot tell → not in app.data`},
		{"an instance folder in the project", map[string]string{
			"app.py":               "from flask import Flask\napp = Flask(__name__)\n",
			"instance/settings.py": "SECRET_KEY = 'x'\n",
		}, "app", []string{"instance"}, `instance/ exists → app.data "instance": Flask's instance folder, beside the module app.py`},
		{"Flask-SQLAlchemy with a relative SQLite URI", map[string]string{
			"blog/__init__.py": "from flask import Flask\nfrom flask_sqlalchemy import SQLAlchemy\n\ndb = SQLAlchemy()\n\n\ndef create_app():\n    app = Flask(__name__)\n    app.config[\"SQLALCHEMY_DATABASE_URI\"] = \"sqlite:///blog.db\"\n    db.init_app(app)\n    return app\n",
		}, "", []string{"instance"}, "names a relative sqlite:/// database, which Flask-SQLAlchemy keeps in the instance folder"},
		{"an absolute SQLite URI is no instance folder", map[string]string{
			"app.py": "from flask import Flask\nfrom flask_sqlalchemy import SQLAlchemy\n\napp = Flask(__name__)\napp.config[\"SQLALCHEMY_DATABASE_URI\"] = \"sqlite:////var/lib/blog/blog.db\"\n",
		}, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			testutil.WriteFiles(t, dir, tt.files)
			p, err := Detect(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.DataPaths(); !slices.Equal(got, tt.want) {
				t.Errorf("app.data %q, want %q; findings:\n%s", got, tt.want, strings.Join(p.Found, "\n"))
			}
			if found := dataFound(p); !strings.Contains(found, tt.found) || (tt.found == "" && found != "") {
				t.Errorf("findings about app.data lack %q:\n%s", tt.found, found)
			}
			if err := p.Config().Validate(); err != nil {
				t.Error(err)
			}
			if tt.module != "" && len(tt.want) == 1 {
				if got := flaskInstancePath(t, dir, ".", tt.module, "app", false); got != "" && got != tt.want[0] {
					t.Errorf("Flask puts the instance folder at %s, init proposes %s", got, tt.want[0])
				}
			}
		})
	}
}

// A Django project as startproject makes it, with uploads in MEDIA_ROOT
// and the default SQLite database, which exists after migrate.
func TestDataDjangoMediaAndSQLite(t *testing.T) {
	t.Parallel()
	dir := startproject(t, t.TempDir(), "mysite")
	settings := filepath.Join(dir, "mysite", "settings.py")
	src, err := os.ReadFile(settings)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "'NAME': BASE_DIR / 'db.sqlite3'") {
		t.Fatalf("startproject's settings changed:\n%s", src)
	}
	src = append(src, "\nMEDIA_URL = '/media/'\nMEDIA_ROOT = BASE_DIR / 'media'\n"...)
	testutil.WriteFiles(t, dir, map[string]string{"mysite/settings.py": string(src), "db.sqlite3": sqliteFile})
	p, err := Detect(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.DataPaths(); !slices.Equal(got, []string{"media", "db.sqlite3"}) {
		t.Fatalf("app.data %q, want [media db.sqlite3]; findings:\n%s", got, strings.Join(p.Found, "\n"))
	}
	found := dataFound(p)
	for _, want := range []string{
		`mysite/settings.py sets MEDIA_ROOT = BASE_DIR / 'media' → app.data "media": the uploaded files, on servers a link into /var/lib/<service>/, kept across releases`,
		`mysite/settings.py keeps DATABASES in SQLite, NAME BASE_DIR / 'db.sqlite3' → app.data "db.sqlite3": on servers a link into /var/lib/<service>/, kept across releases; SQLite resolves the link, so its -journal and -wal files go beside the real file there`,
	} {
		if !strings.Contains(found, want) {
			t.Errorf("findings lack %q:\n%s", want, found)
		}
	}
	if strings.Count(found, "\n") != 1 {
		t.Errorf("two findings about app.data expected (db.sqlite3 once):\n%s", found)
	}
	if err := p.Config().Validate(); err != nil {
		t.Error(err)
	}
}

// Settings written by hand, in the os.path forms, with the database from
// DATABASE_URL through dj-database-url.
func TestDataDjangoDatabaseURL(t *testing.T) {
	t.Parallel()
	manage := "import os\nos.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"proj.settings\")\n"
	tests := []struct {
		name      string
		databases string
		want      []string
		found     string
	}{
		{"PostgreSQL", `DATABASES = {
    # the database is PostgreSQL's, in production and on laptops (a {brace} here is a comment)
    "default": dj_database_url.config(conn_max_age=600, conn_health_checks=True),
}`, []string{"media/uploads"}, "db.sqlite3 is a SQLite database, but DATABASES in proj/settings.py does not name it → not in app.data"},
		{"a SQLite default", `DATABASES = {
    "default": dj_database_url.config(
        default="sqlite:///" + os.path.join(BASE_DIR, "db.sqlite3"),
        conn_max_age=600,
    )
}`, []string{"media/uploads"}, "proj/settings.py takes DATABASES from DATABASE_URL, with a SQLite default → no database in app.data"},
		{"SQLite in os.path form", `DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(BASE_DIR, "var", "site.sqlite3"),  # the laptop's
    },
    "cache": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "legacy": {"ENGINE": "django.db.backends.postgresql", "NAME": "legacy"},
}`, []string{"media/uploads", "var/site.sqlite3"}, `NAME os.path.join(BASE_DIR, "var", "site.sqlite3") → app.data "var/site.sqlite3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			testutil.WriteFiles(t, dir, map[string]string{
				"manage.py":        manage,
				"proj/__init__.py": "",
				"proj/settings.py": "import os\nimport dj_database_url\n\nBASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\nDEBUG = False\nALLOWED_HOSTS = [\"*\"]\n" +
					tt.databases + "\nMEDIA_URL = \"/media/\"\nMEDIA_ROOT = os.path.join(BASE_DIR, \"media\", \"uploads\")\n",
				// The laptop's database from before DATABASE_URL: the
				// settings do not use it.
				"db.sqlite3": sqliteFile,
			})
			p, err := Detect(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.DataPaths(); !slices.Equal(got, tt.want) {
				t.Errorf("app.data %q, want %q; findings:\n%s", got, tt.want, strings.Join(p.Found, "\n"))
			}
			found := dataFound(p)
			if !strings.Contains(found, tt.found) || !strings.Contains(found, `MEDIA_ROOT = os.path.join(BASE_DIR, "media", "uploads") → app.data "media/uploads"`) {
				t.Errorf("findings lack %q:\n%s", tt.found, found)
			}
			if strings.Contains(found, "DATABASES in SQLite") != (len(tt.want) == 2) {
				t.Errorf("a SQLite database proposed from settings that keep none there:\n%s", found)
			}
		})
	}
}

// A SQLite file anywhere in the project is proposed, except in folders that
// never hold the app's data, and files named like one that are not.
func TestDataStrayDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"go.mod":                   "module example.org/notes\n\ngo 1.22\n",
		"main.go":                  "package main\n\nimport \"os\"\n\nfunc main() { _ = os.Getenv(\"PORT\") }\n",
		"db.sqlite3":               sqliteFile,
		"data/new.db":              "", // SQLite makes a database of an empty file
		"data/Thumbs.db":           "\xd0\xcf\x11\xe0 not SQLite",
		"vendor/x/y.sqlite":        sqliteFile,
		"node_modules/a/b.sqlite3": sqliteFile,
		".venv/lib/c.db":           sqliteFile,
		".git/d.db":                sqliteFile,
		"testdata/e.db":            sqliteFile,
	})
	p, err := Detect(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.DataPaths(); !slices.Equal(got, []string{"data/new.db", "db.sqlite3"}) {
		t.Fatalf("app.data %q; findings:\n%s", got, strings.Join(p.Found, "\n"))
	}
	want := `db.sqlite3 is a SQLite database in the project → app.data "db.sqlite3": on servers a link into /var/lib/<service>/, kept across releases; SQLite resolves the link`
	if found := dataFound(p); !strings.Contains(found, want) {
		t.Errorf("findings lack %q:\n%s", want, found)
	}
}

// A folder proposed after a file inside it takes its place.
func TestDataProposalsCover(t *testing.T) {
	p := &Project{}
	p.proposeData("media/db.sqlite3", "a", sqliteOnServers)
	p.proposeData("media", "b", folderOnServers)
	p.proposeData("media/x", "c", folderOnServers)
	p.proposeData("../up", "d", folderOnServers)
	if got := p.DataPaths(); !slices.Equal(got, []string{"media"}) {
		t.Errorf("app.data %q, want [media]", got)
	}
	want := []string{`b → app.data "media": ` + folderOnServers, `d → not in app.data: "../up" leaves the project folder`}
	if !slices.Equal(p.Found, want) {
		t.Errorf("findings\n%q\nwant\n%q", p.Found, want)
	}
}

// SetData replaces the proposals and their findings.
func TestDataSetData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, flaskTutorial)
	p, err := Detect(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := len(p.Found)
	p.SetData([]string{"instance", "uploads"}, "--data")
	if got := p.DataPaths(); !slices.Equal(got, []string{"instance", "uploads"}) {
		t.Errorf("app.data %q", got)
	}
	if found := dataFound(p); found != `--data → app.data ["instance", "uploads"]: `+folderOnServers || len(p.Found) != n {
		t.Errorf("findings:\n%s", strings.Join(p.Found, "\n"))
	}
	p.SetData(nil, "--no-data")
	if p.Config().App.Data != nil || dataFound(p) != "--no-data → app.data is empty: the app writes nothing that must survive a release" {
		t.Errorf("after --no-data: %q\n%s", p.Config().App.Data, strings.Join(p.Found, "\n"))
	}
}

func TestFileRelPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ expr, module, want string }{
		{`os.path.join(os.path.dirname(__file__), "data")`, "app", "app/data"},
		{`os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "var")`, "src/app", "src/var"},
		{`str(Path(__file__).resolve().parent.parent / "var")`, "src/app", "src/var"},
		{`os.path.join(os.getcwd(), "var")`, "app", "var"},
		{`os.path.abspath("instance")`, "app", "instance"},
		{`str(Path(__file__).parents[1] / "var")`, "app", ""},
		{`os.path.join(os.path.dirname(__file__), "/srv/x")`, "app", ""},
		{`os.path.join(os.path.dirname(__file__), "..", "..")`, "app", ""},
		{`os.environ.get("INSTANCE", os.getcwd())`, "app", ""},
		{`"/srv/instance"`, "app", ""},
	}
	for _, tt := range tests {
		got, ok := fileRelPath(tt.expr, tt.module)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("fileRelPath(%s, %s) = %q, %v, want %q", tt.expr, tt.module, got, ok, tt.want)
		}
	}
}
