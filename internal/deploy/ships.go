package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// What ships of a project (DEPLOY.md "What ships"). In a git work tree a
// release holds the files git would commit: `git ls-files --cached
// --others --exclude-standard` run in the project folder (tracked files
// plus untracked ones no ignore rule matches), read from the working tree.
// Outside git (no git binary, or not a work tree) collect's walk chooses
// them, as before. In both cases app.data never ships, app.ignore applies
// on top, and the folders deploy makes in every release (.venv, .stackctl)
// are deploy's own, never the project's.
//
// A gitlink (a submodule, or a repository inside the project that git
// lists as a folder) is refused with an error naming it rather than
// skipped: git does not list its files, and a release silently missing
// them would fail on the server instead of here.

// The rules that choose a release's project files, as the dry run names
// them.
const (
	// RuleGit chose the files of a project in a git work tree.
	RuleGit = "files git would commit"
	// RuleWalk chose the files of a project outside git.
	RuleWalk = "project files (not a git tree)"
)

// releaseFiles returns the part of a release of c that comes from the
// project: a Go app's proxy.static folders; a Flask app's files; a Django
// app's files with its static folder as collectstatic fills it (argv is
// then the collectstatic command, for the dry run). Nothing at or under an
// app.data entry is among them.
func releaseFiles(ctx context.Context, sys System, c *stack.Config) ([]AppFile, []string, *projectFiles, error) {
	pf, err := newProjectFiles(ctx, c)
	if err != nil {
		return nil, nil, nil, err
	}
	var files []AppFile
	var argv []string
	switch c.App.Template {
	case "go":
		for _, s := range c.Proxy.Static {
			sf, err := pf.files(s.Dir)
			if err != nil {
				return nil, nil, nil, err
			}
			files = append(files, sf...)
		}
	case "flask":
		files, err = pf.files(".")
	case "django":
		files, argv, err = buildDjango(ctx, sys, c, pf)
	default:
		err = fmt.Errorf("app.template %q cannot be deployed", c.App.Template)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return keepFiles(files, c.App.Data), argv, pf, nil
}

// projectFiles is where a release's project files come from: git's list of
// a project in a work tree, else the walk of the folder.
type projectFiles struct {
	dir          string
	data, ignore []string
	// git is set in a git work tree; paths are then the files git would
	// commit, relative to dir, sorted.
	git   bool
	paths []string
	// changes are the uncommitted changes that ship ("M app.py").
	changes []string
}

// newProjectFiles asks git about the project of c.
func newProjectFiles(ctx context.Context, c *stack.Config) (*projectFiles, error) {
	p := &projectFiles{dir: c.Dir(), data: c.App.Data, ignore: c.App.Ignore}
	inTree, err := gitWorkTree(ctx, p.dir)
	if err != nil || !inTree {
		return p, err
	}
	p.git = true
	out, err := gitOutput(ctx, p.dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return nil, err
	}
	p.paths = shipPaths(splitZ(out), p.data, p.ignore)
	if len(p.paths) == 0 {
		return nil, ui.WithFix(fmt.Errorf("git lists no file of %s to ship (every file is ignored, or the folder is)", p.dir),
			"check the .gitignore files above it ('git check-ignore -v FILE' says which rule matches)")
	}
	prefix, err := gitOutput(ctx, p.dir, "rev-parse", "--show-prefix")
	if err != nil {
		return nil, err
	}
	st, err := gitOutput(ctx, p.dir, "status", "--porcelain", "-z", "--untracked-files=all", "--", ".")
	if err != nil {
		return nil, err
	}
	for _, ch := range parseStatusZ(st, strings.TrimSpace(string(prefix))) {
		if !dropped(ch.Path, p.data, p.ignore) {
			p.changes = append(p.changes, ch.Code+" "+ch.Path)
		}
	}
	return p, nil
}

// rule names what chose the files.
func (p *projectFiles) rule() string {
	if p.git {
		return RuleGit
	}
	return RuleWalk
}

// files returns the project's files under rel ("." for all, or a static
// folder), with the modes they have in the working tree.
func (p *projectFiles) files(rel string) ([]AppFile, error) {
	rel = path.Clean(rel)
	root := filepath.Join(p.dir, filepath.FromSlash(rel))
	if st, err := os.Stat(root); err != nil {
		return nil, ui.WithFix(fmt.Errorf("read %s: %w", root, err), "create the folder or remove it from stack.toml")
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", root)
	}
	if !p.git {
		files, err := collect(p.dir, rel, p.ignore)
		return keepFiles(files, p.data), err
	}
	var out []AppFile
	for _, r := range p.paths {
		if rel != "." && !under(r, rel) {
			continue
		}
		f, ok, err := readProjectFile(p.dir, r)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// readProjectFile reads the file r (relative to dir, as git lists it) from
// the working tree; ok is false when it no longer exists there (a tracked
// file deleted and not yet committed).
func readProjectFile(dir, r string) (AppFile, bool, error) {
	full := filepath.Join(dir, filepath.FromSlash(r))
	info, err := os.Lstat(full)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return AppFile{}, false, nil
	case err != nil:
		return AppFile{}, false, err
	case info.Mode()&fs.ModeSymlink != 0:
		return AppFile{}, false, ui.Errorf("replace the link with the file itself", "%s is a symbolic link: deploy installs regular files only", full)
	case info.IsDir():
		return AppFile{}, false, ui.Errorf("add "+path.Base(r)+" to app.ignore to deploy without it, or commit its files in this repository",
			"%s is a git submodule or a repository inside the project: git does not list its files, so deploy cannot ship them", full)
	case !info.Mode().IsRegular():
		return AppFile{}, false, nil
	}
	data, err := os.ReadFile(full)
	if err != nil {
		return AppFile{}, false, err
	}
	mode := fs.FileMode(0o644)
	if info.Mode()&0o111 != 0 {
		mode = 0o755
	}
	return AppFile{Rel: r, Data: data, Mode: mode}, true, nil
}

// splitZ parses the NUL-separated paths of git's -z output: sorted, each
// once (an unmerged path is listed once per stage), a trailing slash (an
// untracked repository inside the tree) dropped.
func splitZ(out []byte) []string {
	var paths []string
	for _, p := range strings.Split(string(out), "\x00") {
		p = strings.TrimSuffix(p, "/")
		if p != "" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	n := 0
	for i, p := range paths {
		if i == 0 || p != paths[i-1] {
			paths[n] = p
			n++
		}
	}
	return paths[:n]
}

// shipPaths returns the paths that ship of those git lists: without what
// dropped drops.
func shipPaths(paths, data, ignore []string) []string {
	var out []string
	for _, p := range paths {
		if !dropped(p, data, ignore) {
			out = append(out, p)
		}
	}
	return out
}

// reservedDirs are the top folders deploy makes in every release, which
// the project's own never replace: the virtualenv built on the host and
// stackctl's local state.
var reservedDirs = map[string]bool{".venv": true, ".stackctl": true}

// dropped reports whether the project path p (slash-separated, relative to
// the project) never ships: it is, or is under, an app.data entry or a
// folder deploy makes, or one of its names matches an app.ignore pattern.
func dropped(p string, data, ignore []string) bool {
	for _, d := range data {
		if under(p, path.Clean(d)) {
			return true
		}
	}
	top, _, _ := strings.Cut(p, "/")
	if reservedDirs[top] {
		return true
	}
	for _, name := range strings.Split(p, "/") {
		if ignored(name, ignore) {
			return true
		}
	}
	return false
}

// under reports whether p is dir or a path inside it.
func under(p, dir string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}

// keepFiles drops the files at or under an app.data entry.
func keepFiles(files []AppFile, data []string) []AppFile {
	out := files[:0]
	for _, f := range files {
		if !dropped(f.Rel, data, nil) {
			out = append(out, f)
		}
	}
	return out
}

// gitChange is one entry of `git status --porcelain`: its two-letter code
// without blanks ("M", "??", "R") and the path, relative to the project.
type gitChange struct {
	Code, Path string
}

// parseStatusZ parses `git status --porcelain -z` run with the pathspec
// "." in the project folder whose path in the repository is prefix
// ("sub/dir/", from `git rev-parse --show-prefix`): porcelain paths are
// relative to the repository's top, the result's to the project. A rename
// or copy is followed by its source path, which is skipped.
func parseStatusZ(out []byte, prefix string) []gitChange {
	var changes []gitChange
	fields := strings.Split(string(out), "\x00")
	for i := 0; i < len(fields); i++ {
		e := fields[i]
		if len(e) < 4 || e[2] != ' ' {
			continue
		}
		xy := e[:2]
		if strings.ContainsAny(xy, "RC") {
			i++ // the source path
		}
		p, ok := strings.CutPrefix(e[3:], prefix)
		if !ok {
			continue
		}
		changes = append(changes, gitChange{Code: strings.TrimSpace(xy), Path: p})
	}
	return changes
}

// uncommittedNote is the line deploy says when uncommitted changes ship:
// their count and the first few.
func uncommittedNote(changes []string) string {
	if len(changes) == 0 {
		return ""
	}
	const shown = 5
	list := strings.Join(changes[:min(len(changes), shown)], ", ")
	if len(changes) > shown {
		list += ", …"
	}
	what := "changes ship"
	if len(changes) == 1 {
		what = "change ships"
	}
	return fmt.Sprintf("%d uncommitted %s (%s)", len(changes), what, list)
}

// gitWorkTree reports whether dir is inside a git work tree: false when
// git is not installed or dir is in no repository. Any other failure of
// git (a repository git refuses to read, as one another user owns) is an
// error: deploy would otherwise ship what the repository ignores.
func gitWorkTree(ctx context.Context, dir string) (bool, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return false, nil
	}
	out, err := gitOutput(ctx, dir, "rev-parse", "--is-inside-work-tree")
	if err != nil {
		if strings.Contains(err.Error(), "not a git repository") {
			return false, nil
		}
		return false, ui.WithFix(err, "fix what git says (deploy asks git which files ship); 'git -C "+dir+" status' shows it")
	}
	return strings.TrimSpace(string(out)) == "true", nil
}

// gitOutput runs git in dir and returns its standard output; an error
// holds what git wrote to its standard error.
func gitOutput(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	// Messages in English (matched above); no index refresh written by a
	// command that only reads.
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_OPTIONAL_LOCKS=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s in %s: %s", args[0], dir, msg)
	}
	return out, nil
}
