// Package flasktest finds what tests of Python apps need: python3
// interpreters that can import Flask, a gunicorn whose interpreter can, and
// a Django project made with Debian's Django (DjangoProject).
// Without them a test is skipped with how to install them (Debian's
// python3-flask and gunicorn), or failed when STACKCTL_REQUIRE_NGINX=1,
// the switch CI sets after installing the real components.
//
// Two interpreters matter: python3 on PATH (often a pyenv or virtualenv
// one, with a recent Flask) and Debian's /usr/bin/python3 (Flask 2.2 from
// python3-flask, the one Debian's gunicorn runs). The generated app must
// work on both, so Pythons returns each that is present.
package flasktest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/nginxtest"
)

// InstallHint says how to get Flask and gunicorn.
const InstallHint = "install Flask and gunicorn to run it (Debian/Ubuntu: apt-get install python3-flask gunicorn)"

// DebianPython is the interpreter Debian's python3-flask installs Flask for.
const DebianPython = "/usr/bin/python3"

// Python is an interpreter that can import Flask.
type Python struct {
	// Path is the command to run: "python3" as found on PATH, or an
	// absolute path.
	Path string
	// Executable is the interpreter itself (sys.executable), which tells
	// a pyenv shim and the real binary behind it apart.
	Executable string
	// Flask is Flask's version ("3.1.3").
	Flask string
}

// String names the interpreter and its Flask for subtest names and logs.
func (p Python) String() string { return p.Executable + " (Flask " + p.Flask + ")" }

// probe runs python and reports its sys.executable and Flask version.
func probe(python string) (Python, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const code = "import sys, importlib.metadata as m, flask; print(sys.executable); print(m.version('flask'))"
	cmd := exec.CommandContext(ctx, python, "-c", code)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:] // the exception line: "ModuleNotFoundError: No module named 'flask'"
		}
		return Python{}, fmt.Errorf("%s cannot import Flask (%v): %s", python, err, msg)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		return Python{}, fmt.Errorf("%s: unexpected answer %q", python, out)
	}
	return Python{Path: python, Executable: lines[0], Flask: lines[1]}, nil
}

// missing skips t, or fails it under STACKCTL_REQUIRE_NGINX=1.
func missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(nginxtest.RequireEnv) == "1" {
		t.Fatalf("%v, and %s=1: %s", err, nginxtest.RequireEnv, InstallHint)
	}
	t.Skipf("%v: %s, or set %s=1 to make this a failure", err, InstallHint, nginxtest.RequireEnv)
}

// Pythons returns each distinct python3 that can import Flask: python3 on
// PATH, then Debian's /usr/bin/python3 when present. With none, the test
// is skipped (failed under STACKCTL_REQUIRE_NGINX=1). Debian's python3
// without Flask fails the test under STACKCTL_REQUIRE_NGINX=1 even when
// another python3 has Flask, since python3-flask is what CI installs; a
// python3 on PATH without Flask is only logged, as no Debian package
// installs Flask for it.
func Pythons(t testing.TB) []Python {
	t.Helper()
	var out []Python
	var errs []error
	seen := map[string]bool{}
	var candidates []string
	if _, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, "python3")
	}
	if _, err := os.Stat(DebianPython); err == nil {
		candidates = append(candidates, DebianPython)
	}
	for _, c := range candidates {
		p, err := probe(c)
		if err != nil {
			if c == DebianPython && os.Getenv(nginxtest.RequireEnv) == "1" {
				t.Fatalf("%v, and %s=1: %s", err, nginxtest.RequireEnv, InstallHint)
			}
			t.Logf("not testing with %v", err)
			errs = append(errs, err)
			continue
		}
		if seen[p.Executable] {
			continue
		}
		seen[p.Executable] = true
		out = append(out, p)
	}
	if len(out) == 0 {
		if len(errs) == 0 {
			errs = append(errs, errors.New("python3 not found"))
		}
		missing(t, errors.Join(errs...))
	}
	return out
}

// RequirePython returns python3 as found on PATH, the interpreter `python3
// app.py` and `stackctl serve` run, after checking it can import Flask.
// Otherwise the test is skipped, or failed under STACKCTL_REQUIRE_NGINX=1.
func RequirePython(t testing.TB) Python {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		missing(t, errors.New("python3 not found on PATH"))
		return Python{}
	}
	p, err := probe("python3")
	if err != nil {
		missing(t, err)
	}
	return p
}

// RequireGunicorn returns the path of gunicorn (Debian's /usr/bin/gunicorn
// first, else the one on PATH) after checking that the interpreter it runs
// under, named on its #! line, can import Flask. Otherwise the test is
// skipped, or failed under STACKCTL_REQUIRE_NGINX=1.
func RequireGunicorn(t testing.TB) string {
	t.Helper()
	bin := "/usr/bin/gunicorn"
	if _, err := os.Stat(bin); err != nil {
		p, err := exec.LookPath("gunicorn")
		if err != nil {
			missing(t, errors.New("gunicorn not found"))
			return ""
		}
		bin = p
	}
	python, err := interpreter(bin)
	if err != nil {
		missing(t, err)
		return ""
	}
	if _, err := probe(python); err != nil {
		missing(t, fmt.Errorf("gunicorn %s runs under python %w", bin, err))
		return ""
	}
	return bin
}

// interpreter returns the program a script's #! line names: the
// interpreter itself, or the program "env" is asked to find.
func interpreter(script string) (string, error) {
	f, err := os.Open(script)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "#!") {
		return "", fmt.Errorf("%s is not a script with a #! line", script)
	}
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(fields) == 0 {
		return "", fmt.Errorf("%s has an empty #! line", script)
	}
	if filepath.Base(fields[0]) == "env" {
		for _, f := range fields[1:] {
			if !strings.HasPrefix(f, "-") {
				return f, nil
			}
		}
		return "", fmt.Errorf("%s: no program on its #! line %q", script, strings.TrimSpace(line))
	}
	return fields[0], nil
}

// DjangoProject makes a Django project as its users start one: mysite,
// from `django-admin startproject` with Debian's Django, and a virtualenv
// in mysite/.venv that sees it (--system-site-packages). It returns the
// project's folder. Without python3-django the test is skipped with how to
// install it, or fails when STACKCTL_REQUIRE_NGINX=1.
func DjangoProject(t testing.TB) string {
	t.Helper()
	if err := exec.Command(DebianPython, "-c", "import django").Run(); err != nil {
		if os.Getenv(nginxtest.RequireEnv) == "1" {
			t.Fatal("python3-django is required: apt-get install python3-django")
		}
		t.Skip("no Django (apt-get install python3-django)")
	}
	parent := nginxtest.TempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, argv := range [][]string{
		{DebianPython, "-m", "django", "startproject", "mysite"},
		{DebianPython, "-m", "venv", "--system-site-packages", "--without-pip", "mysite/.venv"},
	} {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = parent
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	return filepath.Join(parent, "mysite")
}
