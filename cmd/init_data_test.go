package cmd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/testutil"
	"github.com/stackctl/stackctl/internal/ui"
)

// flaskTutorial is an app like the Flask tutorial's flaskr: a factory with
// instance-relative config, its SQLite database in the instance folder,
// where the laptop has one already.
var flaskTutorial = map[string]string{
	"flaskr/__init__.py": `import os

from flask import Flask


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY="dev",
        DATABASE=os.path.join(app.instance_path, "flaskr.sqlite"),
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    @app.route("/hello")
    def hello():
        return "Hello, World!"

    return app
`,
	"instance/flaskr.sqlite": "SQLite format 3\x00",
}

// readStack reads and loads the stack.toml init wrote in dir.
func readStack(t *testing.T, dir string) (string, *stack.Config) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "stack.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := stack.Parse(data, "stack.toml")
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return string(data), c
}

// init writes the proposed app.data into stack.toml and prints why.
func TestInitProposesData(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, flaskTutorial)
	code, out, errOut := initIn(t, dir, "--yes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	data, c := readStack(t, dir)
	if !strings.Contains(data, `data     = ["instance"]  # paths the app writes`) || !slices.Equal(c.App.Data, []string{"instance"}) {
		t.Errorf("stack.toml:\n%s", data)
	}
	for _, want := range []string{
		`  • flaskr/__init__.py sets instance_relative_config=True → app.data "instance": Flask's instance folder, beside the package flaskr; on servers a link into /var/lib/<service>/, kept across releases; it starts empty there, so put the config file the app reads from it (from_pyfile) into /var/lib/<service>/instance/ on the server`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The database is in the instance folder: no line of its own.
	if strings.Contains(out, "flaskr.sqlite is a SQLite") {
		t.Errorf("output:\n%s", out)
	}
}

// --data and --no-data choose app.data instead of the proposal, and the
// output says so instead of the proposal's reasons.
func TestInitDataFlags(t *testing.T) {
	tests := []struct {
		args []string
		data []string
		line string
	}{
		{[]string{"--data", "instance", "--data", "uploads"}, []string{"instance", "uploads"},
			`  • --data → app.data ["instance", "uploads"]: on servers a link into /var/lib/<service>/, kept across releases`},
		{[]string{"--no-data"}, nil, "  • --no-data → app.data is empty: the app writes nothing that must survive a release"},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			dir := t.TempDir()
			testutil.WriteFiles(t, dir, flaskTutorial)
			code, out, errOut := initIn(t, dir, append([]string{"--yes"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if _, c := readStack(t, dir); !slices.Equal(c.App.Data, tt.data) && len(c.App.Data)+len(tt.data) != 0 {
				t.Errorf("app.data %q, want %q", c.App.Data, tt.data)
			}
			if !strings.Contains(out, tt.line+"\n") || strings.Contains(out, "instance_relative_config") || strings.Count(out, "app.data") != 1 {
				t.Errorf("output lacks %q, or still has the proposal:\n%s", tt.line, out)
			}
		})
	}
}

func TestInitBadData(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--data", "../shared"}, `error: --data: "../shared" leaves the project folder — name a folder or file of the project the app writes, such as --data instance; --no-data for none`},
		{[]string{"--data", ""}, "error: --data: the folder is empty — name a folder or file"},
		{[]string{"--data", "media/"}, `error: --data: "media/" is not a clean path: write "media"`},
		{[]string{"--data", ".venv/x"}, `error: --data: ".venv/x" is a folder deploy makes in each release`},
		{[]string{"--data", "media", "--data", "media/thumbs"}, "error: --data media/thumbs overlaps --data media — give each path once, and not one inside another"},
		{[]string{"--data", "media", "--no-data"}, "error: --data and --no-data both given — pass one of them"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			testutil.WriteFiles(t, dir, flaskTutorial)
			code, _, errOut := initIn(t, dir, append([]string{"--yes"}, tt.args...)...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want 2 and %q:\n%s", code, tt.want, errOut)
			}
			if _, err := os.Stat(filepath.Join(dir, "stack.toml")); err == nil {
				t.Error("stack.toml was written")
			}
		})
	}
}

// declines answers no to every yes/no question, and the defaults otherwise.
type declines struct{ promptRecorder }

func (d *declines) Confirm(msg, help string, def bool) (bool, error) {
	d.asked = append(d.asked, msg)
	return false, nil
}

// On a terminal, init asks whether to keep what it proposes; no leaves
// app.data empty. --data asks nothing.
func TestInitAsksData(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, flaskTutorial)
	d := &declines{}
	io, _, out, errOut := ui.Test()
	io.InTTY, io.OutTTY = true, true
	f := &Factory{IO: io, Prompter: func() (ui.Prompter, error) { return d, nil }}
	if code := run(f, NewRootCmd(f), []string{"init", dir, "--no-color", "--port", "5000", "--domain", "a.example.org", "--listen", "8080"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := []string{"Keep instance in the app's data folder on servers?"}; !slices.Equal(d.asked, want) {
		t.Errorf("asked %q, want %q", d.asked, want)
	}
	if _, c := readStack(t, dir); len(c.App.Data) != 0 {
		t.Errorf("app.data %q after no", c.App.Data)
	}
	if !strings.Contains(out.String(), "  • you answered no → app.data is empty") || strings.Contains(out.String(), "instance_relative_config") {
		t.Errorf("output:\n%s", out)
	}

	dir = t.TempDir()
	testutil.WriteFiles(t, dir, flaskTutorial)
	d = &declines{}
	if code := run(f, NewRootCmd(f), []string{"init", dir, "--port", "5000", "--domain", "a.example.org", "--listen", "8080", "--data", "instance"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if len(d.asked) != 0 {
		t.Errorf("asked %q with --data", d.asked)
	}
}
