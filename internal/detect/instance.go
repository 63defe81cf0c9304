package detect

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	instanceRelativeRE = regexp.MustCompile(`\binstance_relative_config\s*=\s*True\b`)
	instanceAttrRE     = regexp.MustCompile(`\.instance_path\b`)
	instanceKwargRE    = regexp.MustCompile(`[(,\s]instance_path\s*=\s*[^=\s]`)
	flaskSQLAlchemyRE  = regexp.MustCompile(`(?m)^\s*(from\s+flask_sqlalchemy\s+import|import\s+flask_sqlalchemy\b)`)
	// relSQLiteURIRE finds a relative SQLite URI, sqlite:///name.db, which
	// Flask-SQLAlchemy 3 resolves in the instance folder.
	relSQLiteURIRE = regexp.MustCompile(`sqlite:///[^/'"\s{]`)
)

// flaskSources reads the app's code: every module of its top-level
// package, or its module alone. The keys are project-relative files.
func flaskSources(dir string, a flaskApp) (map[string][]byte, []string, error) {
	srcs := map[string][]byte{}
	var files []string
	top, _, _ := strings.Cut(a.module, ".")
	pkg := path.Join(a.base, top)
	if !isFile(path.Join(dir, pkg, "__init__.py")) {
		files = []string{a.file}
	} else {
		err := filepath.WalkDir(filepath.Join(dir, pkg), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() && skipDir(e.Name()) {
				return fs.SkipDir
			}
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".py") {
				rel, _ := filepath.Rel(dir, p)
				files = append(files, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", pkg, err)
		}
	}
	for _, f := range files {
		b, err := readFile(dir, f)
		if err != nil {
			return nil, nil, err
		}
		srcs[f] = b
	}
	return srcs, files, nil
}

// proposeInstance proposes Flask's instance folder when the app uses it.
// Flask puts it beside the top-level package or module on sys.path (its
// find_package, for an app that is not installed): "instance" for a
// package at the project's root, "src/instance" for src/PACKAGE. An
// instance_path= given to Flask(...) replaces it.
func (p *Project) proposeInstance(dir string, a flaskApp) error {
	srcs, files, err := flaskSources(dir, a)
	if err != nil {
		return err
	}
	if expr, ok := instancePathArg(srcs[a.file]); ok {
		rel, ok := fileRelPath(expr, path.Dir(a.file))
		if !ok {
			p.dataNote(fmt.Sprintf("%s gives Flask instance_path=%s, a path init cannot tell → not in app.data: if it is a folder of the project, name it with --data", a.file, expr))
			return nil
		}
		p.proposeData(rel, fmt.Sprintf("%s gives Flask instance_path=%s", a.file, expr), "the app's instance folder, "+folderOnServers)
		return nil
	}
	inst := path.Join(a.base, "instance")
	beside := "beside the package " + path.Join(a.base, strings.SplitN(a.module, ".", 2)[0])
	if !strings.Contains(a.module, ".") && !strings.HasSuffix(a.file, "/__init__.py") {
		beside = "beside the module " + a.file
	}
	meaning := "Flask's instance folder, " + beside + "; " + folderOnServers
	var why string
	usesSQLAlchemy := false
	for _, f := range files {
		usesSQLAlchemy = usesSQLAlchemy || flaskSQLAlchemyRE.Match(srcs[f])
	}
	for _, f := range files {
		s := srcs[f]
		switch {
		case instanceRelativeRE.Match(s):
			why = f + " sets instance_relative_config=True"
		case instanceAttrRE.Match(s):
			why = f + " uses the app's instance_path"
		case usesSQLAlchemy && relSQLiteURIRE.Match(s):
			why = f + " names a relative sqlite:/// database, which Flask-SQLAlchemy keeps in the instance folder"
		default:
			continue
		}
		break
	}
	if why == "" && isDir(path.Join(dir, inst)) {
		why = inst + "/ exists"
	}
	if why == "" {
		return nil
	}
	if fromPyfile(srcs) {
		meaning += "; it starts empty there, so put the config file the app reads from it (from_pyfile) into /var/lib/<service>/" + path.Base(inst) + "/ on the server"
	}
	p.proposeData(inst, why, meaning)
	return nil
}

// fromPyfile reports whether the app reads a config file from the instance
// folder: from_pyfile with instance-relative config.
func fromPyfile(srcs map[string][]byte) bool {
	rel, pyfile := false, false
	for _, s := range srcs {
		rel = rel || instanceRelativeRE.Match(s)
		pyfile = pyfile || strings.Contains(string(s), ".from_pyfile(")
	}
	return rel && pyfile
}

// instancePathArg returns the expression given as instance_path= to the
// first Flask(...) call in src.
func instancePathArg(src []byte) (string, bool) {
	loc := flaskCallRE.FindIndex(src)
	if loc == nil {
		return "", false
	}
	open := loc[0] + strings.Index(string(src[loc[0]:]), "(")
	args := balanced(string(src[open+1:]), ')')
	m := instanceKwargRE.FindStringIndex(args)
	if m == nil {
		return "", false
	}
	expr := balanced(args[m[1]-1:], ',')
	return strings.TrimSpace(expr), true
}

// balanced returns s up to the first stop character outside brackets and
// string literals (or all of s).
func balanced(s string, stop byte) string {
	depth, end := 0, len(s)
	pyCode(s, func(i int, c byte) bool {
		switch {
		case c == '(' || c == '[' || c == '{':
			depth++
		case depth == 0 && (c == stop || c == ')' || c == ']' || c == '}'):
			end = i
			return false
		case c == ')' || c == ']' || c == '}':
			depth--
		}
		return true
	})
	return s[:end]
}

// pyCode calls fn with each byte of Python source s that is code: not in
// a string literal or a comment. fn returns false to stop.
func pyCode(s string, fn func(i int, c byte) bool) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			if j := strings.IndexByte(s[i:], '\n'); j > 0 {
				i += j - 1 // a comment: up to the end of its line
			} else {
				i = len(s)
			}
		default:
			if !fn(i, c) {
				return
			}
		}
	}
}

// fileRelPath reads a path Python code builds from the module's own
// location or the working folder (the project, under serve and deploy),
// and returns it relative to the project:
//
//	os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
//	Path(__file__).resolve().parent.parent / "var"
//	os.path.join(os.getcwd(), "var"), os.path.abspath("var")
//
// moduleDir is the module's folder, relative to the project.
func fileRelPath(expr, moduleDir string) (string, bool) {
	base := "."
	switch {
	case strings.Contains(expr, "__file__"):
		up := strings.Count(expr, "dirname(") + strings.Count(expr, ".parent") - strings.Count(expr, ".parents")
		if up == 0 || strings.Contains(expr, ".parents") {
			return "", false
		}
		base = moduleDir
		for range up - 1 {
			base = path.Join(base, "..")
		}
	case strings.Contains(expr, "getcwd()") || strings.Contains(expr, "Path.cwd()") || strings.HasPrefix(expr, "os.path.abspath("):
	default:
		return "", false
	}
	if strings.Contains(expr, "environ") || strings.Contains(expr, "getenv") {
		return "", false
	}
	parts := []string{base}
	for _, m := range hostsRE.FindAllStringSubmatch(expr, -1) {
		if path.IsAbs(strOf(m, 1)) {
			return "", false // os.path.join starts again at an absolute part
		}
		parts = append(parts, strOf(m, 1))
	}
	rel := path.Clean(path.Join(parts...))
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return rel, true
}
