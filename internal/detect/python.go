package detect

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Interpreter is the Python a project runs with.
type Interpreter struct {
	// Command is how app.command names it: ".venv/bin/python" or "python3".
	Command string
	// Path is the program itself: the venv's python, or the python3 found
	// on PATH ("" when there is none).
	Path string
	// Why says how it was chosen.
	Why string
}

// FindInterpreter returns the project's interpreter: its .venv when it has
// one, else the first python3 on PATH.
func FindInterpreter(dir string) Interpreter {
	venv := filepath.Join(dir, ".venv", "bin", "python")
	if isFile(venv) {
		return Interpreter{Command: ".venv/bin/python", Path: venv, Why: "the project's .venv"}
	}
	p, _ := exec.LookPath("python3")
	return Interpreter{Command: "python3", Path: p, Why: "first on PATH; the project has no .venv"}
}

// pyTimeout bounds every interpreter run.
const pyTimeout = 20 * time.Second

// runPython runs python with args in an empty folder of its own, so that
// neither the project's modules nor anything someone left in /tmp (a
// planted flask.py) is on sys.path.
func runPython(python string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pyTimeout)
	defer cancel()
	empty, err := os.MkdirTemp("", "stackctl-init-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(empty)
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = empty
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	return cmd.CombinedOutput()
}

// Imports reports whether python can import module, and its version.
func Imports(python, module string) (version string, ok bool) {
	out, err := runPython(python, "-c", "import importlib.metadata as m, "+module+"\ntry:\n    print(m.version("+strconv.Quote(module)+"))\nexcept m.PackageNotFoundError:\n    print('')")
	return strings.TrimSpace(string(out)), err == nil
}

// CheckImport returns a warning, "what — fix", when the project's
// interpreter cannot import the framework, or "" when it can.
func CheckImport(in Interpreter, module string) string {
	pkg := "python3-" + module
	if in.Path == "" {
		return fmt.Sprintf("there is no python3 on PATH to run the app with — install python3 and %s (apt-get install python3 %s), or make a .venv in the project", pkg, pkg)
	}
	if _, ok := Imports(in.Path, module); ok {
		return ""
	}
	what := fmt.Sprintf("%s (%s, %s) cannot import %s", in.Command, in.Path, in.Why, module)
	if in.Command != "python3" {
		return what + fmt.Sprintf(" — install it into the virtualenv (.venv/bin/python -m pip install %s), or recreate .venv with --system-site-packages to use Debian's %s", module, pkg)
	}
	// The first python3 on PATH is often not Debian's.
	const debian = "/usr/bin/python3"
	if real, _ := filepath.EvalSymlinks(in.Path); real != debian && isFile(debian) {
		if v, ok := Imports(debian, module); ok {
			return what + fmt.Sprintf(" — %s has %s %s: make the project's virtualenv from it (%s -m venv --system-site-packages .venv) and run init again", debian, module, v, debian)
		}
	}
	return what + fmt.Sprintf(" — install it for that interpreter (apt-get install %s for Debian's python3, or pip), or make a .venv that has it and run init again", pkg)
}

// syntaxPy parses each file with ast.parse, which runs none of its code,
// and prints "path:line: message" for the first that does not parse.
const syntaxPy = `import ast, sys
for f in sys.argv[1:]:
    try:
        ast.parse(open(f, "rb").read(), f)
    except SyntaxError as e:
        print("%d: %s" % (e.lineno or 0, e.msg))
        print(f)
        sys.exit(3)
`

// checkSyntax parses the project's Python files rel and returns a
// *ParseError for the first that does not parse. Any python3 parses, and
// nothing is imported: the project's .venv, else Debian's, which starts
// faster than a version manager's shim, else the first on PATH. Without an
// interpreter it checks nothing.
func checkSyntax(dir string, rel ...string) error {
	python := filepath.Join(dir, ".venv", "bin", "python")
	if !isFile(python) {
		python = "/usr/bin/python3"
	}
	if !isFile(python) {
		var err error
		if python, err = exec.LookPath("python3"); err != nil {
			return nil
		}
	}
	args := []string{"-I", "-c", syntaxPy}
	for _, r := range rel {
		args = append(args, filepath.Join(dir, filepath.FromSlash(r)))
	}
	out, err := runPython(python, args...)
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
		lines := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)
		lineStr, msg, _ := strings.Cut(lines[0], ": ")
		line, _ := strconv.Atoi(lineStr)
		path := ""
		if len(lines) == 2 {
			path, _ = filepath.Rel(dir, strings.TrimSpace(lines[1]))
		}
		return &ParseError{Path: filepath.ToSlash(path), Line: line, Msg: "invalid Python: " + msg}
	}
	return nil
}

// pyString matches one Python string literal, capturing its text.
const pyString = `(?:[rRuU]?'([^'\n]*)'|[rRuU]?"([^"\n]*)")`

// strOf returns the text of the literal pyString matched at groups i, i+1.
func strOf(m []string, i int) string {
	if m[i] != "" {
		return m[i]
	}
	return m[i+1]
}

// pyAssign finds a top-level assignment NAME = <rest of line>.
func pyAssign(src []byte, name string) (string, bool) {
	re := regexp.MustCompile(`(?m)^` + name + `\s*=\s*(.*)$`)
	ms := re.FindAllSubmatch(src, -1)
	if ms == nil {
		return "", false
	}
	return strings.TrimSpace(string(ms[len(ms)-1][1])), true // the last one wins, as in Python
}

// pyStringValue returns the string literal an expression is, if it is one.
func pyStringValue(expr string) (string, bool) {
	m := regexp.MustCompile(`^` + pyString + `\s*(#.*)?$`).FindStringSubmatch(expr)
	if m == nil {
		return "", false
	}
	return strOf(m, 1), true
}

// healthRE finds a route named like a health check in Python or Go code.
var healthRE = regexp.MustCompile(`["'](/healthz?|/health/?|/healthz/)["']`)

// healthPath is the health route the code defines, else "/".
func healthPath(src ...[]byte) (string, string) {
	for _, s := range src {
		if m := healthRE.FindSubmatch(s); m != nil {
			return string(m[1]), "the code has a " + string(m[1]) + " route"
		}
	}
	return "/", "no health route found, so the home page"
}
