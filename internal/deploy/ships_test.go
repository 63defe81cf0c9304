package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/detect"
	"github.com/stackctl/stackctl/internal/flasktest"
	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
)

// isolateGit keeps the user's and the system's git configuration (a
// global excludes file, a default branch) out of the test, for the git
// the test runs and the one deploy runs alike.
func isolateGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_AUTHOR_NAME", "test")
	t.Setenv("GIT_AUTHOR_EMAIL", "test@example.com")
	t.Setenv("GIT_COMMITTER_NAME", "test")
	t.Setenv("GIT_COMMITTER_EMAIL", "test@example.com")
}

// gitT runs git in dir and returns its output.
func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "protocol.file.allow=always"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// flaskConfig is a Flask project whose stack.toml would be in dir.
func flaskConfig(dir string, data ...string) *stack.Config {
	c := stack.Default("flaskr", "flask")
	c.Path = filepath.Join(dir, stack.FileName)
	c.App.Data = data
	return c
}

func fileList(files []AppFile) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Rel + " " + f.Mode.Perm().String()
	}
	return out
}

// A Flask project like the tutorial's, in a subfolder of its repository:
// what git ignores (the instance folder and its SQLite database, .env*,
// .flaskenv, virtualenvs, node_modules) never ships; an untracked file no
// rule ignores does, a tracked file deleted in the working tree does not,
// app.data and app.ignore drop files git would commit, and the files are
// read from the working tree. Outside the project folder nothing ships.
func TestShipsGitFlask(t *testing.T) {
	isolateGit(t)
	repo := t.TempDir()
	for p, mode := range map[string]fs.FileMode{
		".gitignore":              0o644,
		"docs/notes.md":           0o644,
		"site/.gitignore":         0o644,
		"site/flaskr/__init__.py": 0o644,
		"site/flaskr/schema.sql":  0o644,
		"site/wsgi.py":            0o644,
		"site/run.sh":             0o755,
		"site/old.py":             0o644,
		"site/uploads/keep.txt":   0o644,
	} {
		mustWrite(t, filepath.Join(repo, p), "committed "+p, mode)
	}
	mustWrite(t, filepath.Join(repo, ".gitignore"), "venv/\nnode_modules/\n*.sqlite\n.env*\n.flaskenv\n__pycache__/\n", 0o644)
	mustWrite(t, filepath.Join(repo, "site/.gitignore"), "/instance/\n", 0o644)
	gitT(t, repo, "init", "-q")
	gitT(t, repo, "add", "-A")
	gitT(t, repo, "commit", "-q", "-m", "start")
	// The laptop's state, which git ignores.
	for _, p := range []string{"instance/flaskr.sqlite", "instance/config.py", ".env", ".env.local", ".flaskenv",
		"venv/bin/python", "node_modules/left-pad/index.js", "flaskr/__pycache__/x.pyc", "data.sqlite",
		"py311/.gitignore", "py311/bin/python"} {
		mustWrite(t, filepath.Join(repo, "site", p), "local "+p, 0o644)
	}
	// A virtualenv under another name ignores itself, as `python -m venv` makes it since 3.13.
	mustWrite(t, filepath.Join(repo, "site/py311/.gitignore"), "*\n", 0o644)
	// Uncommitted work: a change, a new file, a deletion, a new file in app.data, a log app.ignore drops.
	mustWrite(t, filepath.Join(repo, "site/wsgi.py"), "changed wsgi.py", 0o644)
	mustWrite(t, filepath.Join(repo, "site/flaskr/new.py"), "new", 0o644)
	mustWrite(t, filepath.Join(repo, "site/uploads/photo.jpg"), "jpg", 0o644)
	mustWrite(t, filepath.Join(repo, "site/debug.log"), "log", 0o644)
	if err := os.Remove(filepath.Join(repo, "site/old.py")); err != nil {
		t.Fatal(err)
	}

	c := flaskConfig(filepath.Join(repo, "site"), "uploads")
	b, err := BuildBundle(context.Background(), c, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".gitignore -rw-r--r--", "flaskr/__init__.py -rw-r--r--", "flaskr/new.py -rw-r--r--", "flaskr/schema.sql -rw-r--r--",
		"run.sh -rwxr-xr-x", "wsgi.py -rw-r--r--"}
	if got := fileList(b.Files); !reflect.DeepEqual(got, want) {
		t.Errorf("release files:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, f := range b.Files {
		if f.Rel == "wsgi.py" && string(f.Data) != "changed wsgi.py" {
			t.Errorf("wsgi.py holds %q: not read from the working tree", f.Data)
		}
	}
	if b.Rule != RuleGit {
		t.Errorf("rule %q, want %q", b.Rule, RuleGit)
	}
	changes := append([]string(nil), b.Uncommitted...)
	sort.Strings(changes)
	if want := []string{"?? flaskr/new.py", "D old.py", "M wsgi.py"}; !reflect.DeepEqual(changes, want) {
		t.Errorf("uncommitted changes %q, want %q (app.data and app.ignore matches left out)", changes, want)
	}
	if note := uncommittedNote(b.Uncommitted); !strings.HasPrefix(note, "3 uncommitted changes ship (") {
		t.Errorf("note %q", note)
	}
}

// Outside git (no work tree, or no git at all) the walk chooses the files
// as before, and app.data still never ships.
func TestShipsOutsideGit(t *testing.T) {
	isolateGit(t)
	for _, noGit := range []bool{false, true} {
		dir := t.TempDir()
		for _, p := range []string{"app.py", "instance/flaskr.sqlite", ".env", "static/app.css"} {
			mustWrite(t, filepath.Join(dir, p), p, 0o644)
		}
		if noGit {
			// A work tree, but no git binary to ask.
			gitT(t, dir, "init", "-q")
			mustWrite(t, filepath.Join(dir, ".gitignore"), "static/\n", 0o644)
			t.Setenv("PATH", t.TempDir())
		}
		b, err := BuildBundle(context.Background(), flaskConfig(dir, "instance"), "amd64")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range b.Files {
			got = append(got, f.Rel)
		}
		want := "app.py static/app.css"
		if noGit {
			want = ".gitignore app.py static/app.css"
		}
		if strings.Join(got, " ") != want || b.Rule != RuleWalk || b.Uncommitted != nil {
			t.Errorf("no git %v: files %q by %q (changes %q), want %q by %q", noGit, got, b.Rule, b.Uncommitted, want, RuleWalk)
		}
	}
}

// What git lists but deploy cannot install is refused with an error naming
// it: a tracked symbolic link, a submodule (a gitlink: git lists the
// folder, not its files) and a repository inside the project.
func TestShipsRefusesLinksAndSubmodules(t *testing.T) {
	isolateGit(t)
	for name, setup := range map[string]func(t *testing.T, dir string) string{
		"symlink": func(t *testing.T, dir string) string {
			if err := os.Symlink("/etc/passwd", filepath.Join(dir, "passwd")); err != nil {
				t.Fatal(err)
			}
			gitT(t, dir, "add", "passwd")
			return "passwd is a symbolic link"
		},
		"gitlink": func(t *testing.T, dir string) string {
			head := strings.TrimSpace(gitT(t, dir, "rev-parse", "HEAD"))
			gitT(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+head+",vendor/lib")
			if err := os.MkdirAll(filepath.Join(dir, "vendor/lib"), 0o755); err != nil {
				t.Fatal(err)
			}
			return "vendor/lib is a git submodule"
		},
		"nested repository": func(t *testing.T, dir string) string {
			nested := filepath.Join(dir, "plugins/extra")
			mustWrite(t, filepath.Join(nested, "x.py"), "x", 0o644)
			gitT(t, nested, "init", "-q")
			gitT(t, nested, "add", "x.py")
			gitT(t, nested, "commit", "-q", "-m", "x")
			return "plugins/extra is a git submodule or a repository inside the project"
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			mustWrite(t, filepath.Join(dir, "app.py"), "x", 0o644)
			gitT(t, dir, "init", "-q")
			gitT(t, dir, "add", "app.py")
			gitT(t, dir, "commit", "-q", "-m", "x")
			want := setup(t, dir)
			_, err := BuildBundle(context.Background(), flaskConfig(dir), "amd64")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to say %q", err, want)
			}
		})
	}
}

// A project git ignores entirely would ship nothing: refused, with how to
// find the rule.
func TestShipsRefusesIgnoredProject(t *testing.T) {
	isolateGit(t)
	repo := t.TempDir()
	mustWrite(t, filepath.Join(repo, ".gitignore"), "scratch/\n", 0o644)
	mustWrite(t, filepath.Join(repo, "scratch/app.py"), "x", 0o644)
	gitT(t, repo, "init", "-q")
	_, err := BuildBundle(context.Background(), flaskConfig(filepath.Join(repo, "scratch")), "amd64")
	if err == nil || !strings.Contains(err.Error(), "git lists no file") || !strings.Contains(err.Error(), "git check-ignore") {
		t.Errorf("err = %v", err)
	}
}

// A change of the executable bit alone is a change: the file is sent in
// the next release; an unchanged redeploy sends nothing; a release made
// before modes were recorded (no ModesName) has every file sent again.
func TestShipsModeOnlyChange(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "app.py"), "app", 0o644)
	mustWrite(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\n", 0o644)
	gitT(t, dir, "init", "-q")
	gitT(t, dir, "add", "-A")
	gitT(t, dir, "commit", "-q", "-m", "x")
	build := func() *Bundle {
		b, err := BuildBundle(context.Background(), flaskConfig(dir), "amd64")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := build()
	sums, modes := ParseManifest(first.Manifest()), ParseModes(first.Modes())
	if changed, _ := build().Changed(sums, modes); len(changed) != 0 {
		t.Errorf("an unchanged redeploy sends %q", fileList(changed))
	}
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	second := build()
	changed, _ := second.Changed(sums, modes)
	if got := fileList(changed); !reflect.DeepEqual(got, []string{"run.sh -rwxr-xr-x"}) {
		t.Errorf("after chmod +x run.sh the release sends %q, want run.sh alone", got)
	}
	if !reflect.DeepEqual(second.Uncommitted, []string{"M run.sh"}) {
		t.Errorf("uncommitted %q, want the mode change", second.Uncommitted)
	}
	if changed, _ := second.Changed(sums, nil); len(changed) != len(second.Files) {
		t.Errorf("against a release without modes %d of %d files are sent, want all", len(changed), len(second.Files))
	}
	lines := releaseListing(second, sums, modes)
	if want := []string{"= app.py", "+ run.sh (mode 644 → 755)"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("dry-run listing %q, want %q", lines, want)
	}
}

// The host side of a mode-only change, with the real prepareScript (as
// this user, no virtualenv): the new release gets the file with its new
// mode while the previous one keeps its own (the unchanged files are hard
// links shared between releases: a mode is never changed in place), and
// a release whose files' modes differ from .stackctl-modes is refused.
func TestPrepareScriptModes(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum")
	}
	rels := filepath.Join(t.TempDir(), "releases")
	bundle := func(mode fs.FileMode) *Bundle {
		b := &Bundle{Sums: map[string]string{}, Files: []AppFile{{Rel: "app.py", Data: []byte("app"), Mode: 0o644}, {Rel: "run.sh", Data: []byte("#!/bin/sh\n"), Mode: mode}}}
		for _, f := range b.Files {
			b.Sums[f.Rel] = sha256Hex(f.Data)
		}
		return b
	}
	prepare := func(b *Bundle, files []AppFile, id, base string) (string, error) {
		data, err := b.Tar(files)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", prepareScript, "stackctl", rels, id, base, "0", "0", filepath.Join(filepath.Dir(rels), "data"))
		cmd.Stdin = strings.NewReader(string(data))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	one := bundle(0o644)
	if out, err := prepare(one, one.Files, "r1", ""); err != nil {
		t.Fatalf("first release: %v\n%s", err, out)
	}
	two := bundle(0o755)
	changed, _ := two.Changed(ParseManifest(one.Manifest()), ParseModes(one.Modes()))
	if out, err := prepare(two, changed, "r2", "r1"); err != nil {
		t.Fatalf("second release: %v\n%s", err, out)
	}
	for id, want := range map[string]fs.FileMode{"r1": 0o644, "r2": 0o755} {
		st, err := os.Stat(filepath.Join(rels, id, "run.sh"))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s/run.sh: %v %v, want mode %v", id, st.Mode(), err, want)
		}
	}
	// Sending nothing over r1 while the manifest says 755: refused.
	out, err := prepare(two, nil, "r3", "r1")
	if err == nil || !strings.Contains(out, "modes differ") || !strings.Contains(out, "755  run.sh") {
		t.Errorf("a release with wrong modes was accepted: %v\n%s", err, out)
	}
}

// A Flask release holds exactly what `git ls-files --cached --others
// --exclude-standard` lists in the project folder, nothing else.
func TestBundleEqualsGitFlask(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	for _, p := range []string{"flaskr/__init__.py", "flaskr/db.py", "flaskr/templates/base.html", "flaskr/static/style.css",
		"tests/test_db.py", "pyproject.toml", "README.md", "instance/flaskr.sqlite", ".venv/bin/python", ".flaskenv",
		"flaskr/__pycache__/db.cpython-311.pyc", "htmlcov/index.html", "dist/flaskr-1.0.tar.gz", "untracked.txt"} {
		mustWrite(t, filepath.Join(dir, p), p, 0o644)
	}
	// The tutorial's own .gitignore.
	mustWrite(t, filepath.Join(dir, ".gitignore"), ".venv/\n*.pyc\n__pycache__/\ninstance/\n.pytest_cache/\n.coverage\nhtmlcov/\ndist/\nbuild/\n*.egg-info/\n.flaskenv\n", 0o644)
	gitT(t, dir, "init", "-q")
	gitT(t, dir, "add", "flaskr", "tests", "pyproject.toml", "README.md", ".gitignore")
	gitT(t, dir, "commit", "-q", "-m", "flaskr")
	c := flaskConfig(dir)
	c.App.Ignore = nil // git's rule alone
	b, err := BuildBundle(context.Background(), c, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(gitT(t, dir, "ls-files", "--cached", "--others", "--exclude-standard"))
	sort.Strings(want) // the tracked files first, then the others
	if got := bundlePaths(b); !reflect.DeepEqual(got, want) {
		t.Errorf("release files:\n%s\ngit ls-files:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func bundlePaths(b *Bundle) []string {
	var out []string
	for _, f := range b.Files {
		out = append(out, f.Rel)
	}
	sort.Strings(out)
	return out
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestSplitZ(t *testing.T) {
	// An unmerged path is listed once per stage; an untracked repository
	// inside the tree with a slash; names may hold spaces and newlines.
	out := []byte("b.py\x00a dir/x y.py\x00conflict.py\x00conflict.py\x00conflict.py\x00nested/\x00line\nbreak.txt\x00")
	want := []string{"a dir/x y.py", "b.py", "conflict.py", "line\nbreak.txt", "nested"}
	if got := splitZ(out); !reflect.DeepEqual(got, want) {
		t.Errorf("splitZ = %q, want %q", got, want)
	}
	if got := splitZ(nil); len(got) != 0 {
		t.Errorf("splitZ(nil) = %q", got)
	}
}

func TestParseStatusZ(t *testing.T) {
	// As `git status --porcelain -z -- .` prints them in the folder site/
	// of a repository: paths from the top; a rename is followed by its
	// source, which may lie outside the folder.
	out := []byte(" M site/app.py\x00MM site/run.sh\x00R  site/new name.py\x00old/name.py\x00D  site/old.py\x00?? site/notes.txt\x00A  site/pkg/x.py\x00")
	want := []gitChange{{"M", "app.py"}, {"MM", "run.sh"}, {"R", "new name.py"}, {"D", "old.py"}, {"??", "notes.txt"}, {"A", "pkg/x.py"}}
	if got := parseStatusZ(out, "site/"); !reflect.DeepEqual(got, want) {
		t.Errorf("parseStatusZ = %q, want %q", got, want)
	}
	if got := parseStatusZ([]byte("?? x.py\x00"), ""); !reflect.DeepEqual(got, []gitChange{{"??", "x.py"}}) {
		t.Errorf("at the top: %q", got)
	}
}

func TestDropped(t *testing.T) {
	data := []string{"instance", "media/uploads", "db.sqlite3"}
	ignore := []string{"*.log", "__pycache__"}
	for p, want := range map[string]bool{
		"instance": true, "instance/flaskr.sqlite": true, "instances/x.py": false, "instance.py": false,
		"media/uploads/a.jpg": true, "media/logo.png": false, "db.sqlite3": true, "db.sqlite3-journal": false,
		"logs/app.log": true, "pkg/__pycache__/x.pyc": true, "app.py": false,
		".venv/bin/python": true, ".stackctl/app": true, "pkg/.venv/x": false, ".stackctl-files": false,
	} {
		if got := dropped(p, data, ignore); got != want {
			t.Errorf("dropped(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestUncommittedNote(t *testing.T) {
	for _, tc := range []struct {
		changes []string
		want    string
	}{
		{nil, ""},
		{[]string{"M app.py"}, "1 uncommitted change ships (M app.py)"},
		{[]string{"M a", "?? b", "D c", "A d", "R e", "M f"}, "6 uncommitted changes ship (M a, ?? b, D c, A d, R e, …)"},
	} {
		if got := uncommittedNote(tc.changes); got != tc.want {
			t.Errorf("uncommittedNote(%q) = %q, want %q", tc.changes, got, tc.want)
		}
	}
}

// A Django release holds what `git ls-files --cached --others
// --exclude-standard` lists plus collectstatic's output in the static
// folder, nothing else: not the virtualenv, the SQLite database or media.
func TestBundleEqualsGitDjango(t *testing.T) {
	isolateGit(t)
	dir := flasktest.DjangoProject(t)
	mustWrite(t, filepath.Join(dir, ".gitignore"), ".venv/\n__pycache__/\ndb.sqlite3\n/staticfiles/\n/media/\n", 0o644)
	mustWrite(t, filepath.Join(dir, "db.sqlite3"), "db", 0o644)
	mustWrite(t, filepath.Join(dir, "media/avatar.png"), "png", 0o644)
	p, err := detect.Detect(dir, detect.Options{Domain: "mysite.localhost"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, stack.FileName)
	if err := detect.WriteNew(path, p.Config()); err != nil {
		t.Fatal(err)
	}
	c, err := stack.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.App.Ignore = nil // git's rule alone
	gitT(t, dir, "init", "-q")
	gitT(t, dir, "add", "-A")
	gitT(t, dir, "commit", "-q", "-m", "startproject")
	mustWrite(t, filepath.Join(dir, "notes.txt"), "untracked, not ignored", 0o644)
	b, err := BuildBundle(context.Background(), c, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Proxy.Static) == 0 {
		t.Fatal("init found no static folder")
	}
	static := c.Proxy.Static[0].Dir
	want := strings.Fields(gitT(t, dir, "ls-files", "--cached", "--others", "--exclude-standard"))
	// collectstatic's output, gathered here as deploy's script does.
	tmp := t.TempDir()
	mustWrite(t, filepath.Join(tmp, "collect.py"), collectstaticPy, 0o644)
	cmd := exec.Command(flasktest.DebianPython, filepath.Join(tmp, "collect.py"), "mysite.settings", filepath.Join(tmp, "out"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("collectstatic: %v\n%s", err, out)
	}
	n := 0
	filepath.WalkDir(filepath.Join(tmp, "out"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			r, _ := filepath.Rel(filepath.Join(tmp, "out"), p)
			want = append(want, static+"/"+filepath.ToSlash(r))
			n++
		}
		return err
	})
	sort.Strings(want)
	if n == 0 || !strings.Contains(strings.Join(want, " "), static+"/admin/css/base.css") {
		t.Fatalf("collectstatic gathered %d files, no admin css", n)
	}
	if got := bundlePaths(b); !reflect.DeepEqual(got, want) {
		t.Errorf("release files (%d):\n%s\nwant git ls-files plus collectstatic (%d):\n%s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	if !reflect.DeepEqual(b.Uncommitted, []string{"?? notes.txt"}) || b.Rule != RuleGit {
		t.Errorf("rule %q, uncommitted %q", b.Rule, b.Uncommitted)
	}
}

// The dry run lists every file of the release, which are sent (new,
// changed, a mode alone changed) and which are kept, the files the
// release drops, and the rule that chose them.
func TestPrintDryRunListsRelease(t *testing.T) {
	c := flaskConfig(t.TempDir())
	b := &Bundle{Sums: map[string]string{}, Rule: RuleGit, Files: []AppFile{
		{Rel: "app.py", Data: []byte("app"), Mode: 0o644},
		{Rel: "new.py", Data: []byte("new"), Mode: 0o644},
		{Rel: "run.sh", Data: []byte("run"), Mode: 0o755},
		{Rel: "wsgi.py", Data: []byte("wsgi v2"), Mode: 0o644},
	}}
	for _, f := range b.Files {
		b.Sums[f.Rel] = sha256Hex(f.Data)
	}
	var out bytes.Buffer
	f, err := newFleet(HostsOptions{Config: c, Hosts: []host.Host{host.Local{}}, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	r := &hostRun{fleet: f, h: host.Local{}, bundle: b,
		state:    hostState{Slot: "a", Current: "r1"},
		facts:    hostFacts{OnDisk: map[string]bool{"r1": true}, Active: map[string]string{"a": "active"}},
		oldSums:  map[string]string{"app.py": sha256Hex([]byte("app")), "run.sh": sha256Hex([]byte("run")), "wsgi.py": sha256Hex([]byte("wsgi")), "gone.py": sha256Hex(nil)},
		oldModes: map[string]fs.FileMode{"app.py": 0o644, "run.sh": 0o644, "wsgi.py": 0o644, "gone.py": 0o644},
	}
	r.changed, r.bytes = b.Changed(r.oldSums, r.oldModes)
	r.printDryRun()
	for _, want := range []string{
		"would send 3 of 4 files", "release files: files git would commit (+ sent",
		"    = app.py\n    - gone.py\n    + new.py\n    + run.sh (mode 644 → 755)\n    + wsgi.py\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the dry run lacks %q:\n%s", want, out.String())
		}
	}
}
