package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
)

// A Flask app is installed as its files, without local state, secrets,
// bytecode or what app.ignore names; executables keep their x bit.
func TestBuildAppFlaskFiles(t *testing.T) {
	dir := t.TempDir()
	for p, mode := range map[string]os.FileMode{
		"app.py": 0o644, "wsgi.py": 0o644, "run.sh": 0o755, "templates/index.html": 0o644, "static/style.css": 0o644,
		".env": 0o600, ".venv/bin/python": 0o755, "__pycache__/app.cpython-311.pyc": 0o644, "pkg/__pycache__/x.pyc": 0o644,
		"pkg/mod.pyc": 0o644, ".git/HEAD": 0o644, ".stackctl/state": 0o644, "debug.log": 0o644, "stack.toml": 0o644,
	} {
		mustWrite(t, filepath.Join(dir, p), "content of "+p, mode)
	}
	c := stack.Default("flaskapp", "flask")
	c.Path = filepath.Join(dir, "stack.toml")
	files, argv, err := BuildApp(context.Background(), RealSystem(), c)
	if err != nil {
		t.Fatal(err)
	}
	if argv != nil {
		t.Errorf("a Flask app has no build command, got %q", argv)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Rel+" "+f.Mode.String())
		if string(f.Data) != "content of "+f.Rel {
			t.Errorf("%s: content %q", f.Rel, f.Data)
		}
	}
	want := "app.py -rw-r--r--|run.sh -rwxr-xr-x|stack.toml -rw-r--r--|static/style.css -rw-r--r--|templates/index.html -rw-r--r--|wsgi.py -rw-r--r--"
	if strings.Join(got, "|") != want {
		t.Errorf("installed files:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
}

// A symbolic link in a static folder could publish a file outside the
// project: deploy refuses it.
func TestBuildAppRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "app.py"), "x", 0o644)
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "passwd")); err != nil {
		t.Fatal(err)
	}
	c := stack.Default("flaskapp", "flask")
	c.Path = filepath.Join(dir, "stack.toml")
	if _, _, err := BuildApp(context.Background(), RealSystem(), c); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("err = %v, want the symlink refused", err)
	}
}
