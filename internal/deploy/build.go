package deploy

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// AppFile is one file installed under nginx.app_dir.
type AppFile struct {
	// Rel is the path under app_dir, slash-separated ("bin/myapp", "static/app.css").
	Rel  string
	Data []byte
	Mode fs.FileMode
}

// skipDirs are never installed: version control, stackctl's and Python's
// local state, virtual environments.
var skipDirs = map[string]bool{".git": true, ".hg": true, ".svn": true, ".stackctl": true, ".venv": true, "venv": true, "__pycache__": true, "node_modules": true}

// BuildApp returns the files deploy installs under nginx.app_dir: for the Go
// template the binary from `go build -trimpath` (bin/<name>) and the
// proxy.static folders; for Flask the project's files, for Django those
// and collectstatic's output (releaseFiles: in a git tree the files git
// would commit, else the folder's without local state, .env and bytecode;
// never app.data or app.ignore matches). The returned argv is the build
// command, for the dry run and the summary.
func BuildApp(ctx context.Context, sys System, c *stack.Config) ([]AppFile, []string, error) {
	dir := c.Dir()
	var files []AppFile
	var argv []string
	switch c.App.Template {
	case "go":
		goBin, err := sys.LookPath("go")
		if err != nil {
			return nil, nil, ui.WithFix(fmt.Errorf("go is not installed: deploy builds the Go app on this machine"), "install Go (https://go.dev/dl/) and run deploy again")
		}
		tmp, err := os.MkdirTemp("", "stackctl-build-")
		if err != nil {
			return nil, nil, err
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, c.Name)
		argv = []string{goBin, "build", "-trimpath", "-o", out, goMainPackage(c)}
		if _, err := sys.run(ctx, dir, argv...); err != nil {
			return nil, nil, ui.WithFix(fmt.Errorf("build the app: %w", err), "fix the build error (try 'go build .' in "+dir+")")
		}
		data, err := os.ReadFile(out)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, AppFile{Rel: "bin/" + c.Name, Data: data, Mode: 0o755})
		argv[4] = BinaryPath(c)
	}
	pfiles, pargv, _, err := releaseFiles(ctx, sys, c)
	if err != nil {
		return nil, nil, err
	}
	files = append(files, pfiles...)
	if pargv != nil {
		argv = pargv
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Rel < files[j].Rel })
	for i := 1; i < len(files); i++ {
		if files[i].Rel == files[i-1].Rel {
			return nil, nil, fmt.Errorf("%s is installed twice (listed in two proxy.static folders?)", files[i].Rel)
		}
	}
	return files, argv, nil
}

// collect reads the regular files under project/rel. Symbolic links are
// not followed (a link could expose a file outside the project through a
// static folder); they are reported as an error naming the link.
func collect(project, rel string, ignore []string) ([]AppFile, error) {
	root := filepath.Join(project, filepath.FromSlash(rel))
	st, err := os.Stat(root)
	if err != nil {
		return nil, ui.WithFix(fmt.Errorf("read %s: %w", root, err), "create the folder or remove it from stack.toml")
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", root)
	}
	var out []AppFile
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		r, _ := filepath.Rel(project, p)
		r = filepath.ToSlash(r)
		if d.IsDir() {
			if p != root && skipDirs[name] {
				return filepath.SkipDir
			}
			if p != root && ignored(name, ignore) {
				return filepath.SkipDir
			}
			return nil
		}
		if name == ".env" || strings.HasSuffix(name, ".pyc") || ignored(name, ignore) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return ui.Errorf("replace the link with the file itself", "%s is a symbolic link: deploy installs regular files only", p)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		out = append(out, AppFile{Rel: path.Clean(r), Data: data, Mode: mode})
		return nil
	})
	return out, err
}

func ignored(name string, patterns []string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
