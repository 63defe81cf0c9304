// Package detect finds out, from a project's files alone, what kind of web
// app a folder holds (Django, Flask or Go) and how stackctl runs it: the
// command serve starts, what gunicorn serves in production, the static
// folder, the health path, and what its Procfile runs. It never runs the
// project's code; the only programs it starts are Python interpreters asked
// whether a module can be imported or a file parses (ast.parse, which
// executes nothing).
//
// `stackctl init` turns a Project into a stack.toml with Project.Config.
package detect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
)

// Kinds of project, as app.template names them.
const (
	Django = "django"
	Flask  = "flask"
	Go     = "go"
)

// Kinds lists what Detect recognises, in the order it looks.
var Kinds = []string{Django, Flask, Go}

// Options steer detection where the files leave a choice.
type Options struct {
	// Template looks for this kind of project only ("" for any).
	Template string
	// App picks the Flask app among several: a Candidate's Name
	// ("app.py", "shop", "src/shop").
	App string
	// Main picks the Go main package among several: "." or "./cmd/NAME".
	Main string
	// Domain is the domain the site will serve; Django's ALLOWED_HOSTS is
	// checked against it.
	Domain string
}

// Project is what Detect found, ready to become a stack.toml.
type Project struct {
	// Dir is the project folder.
	Dir string
	// Template is the kind of app: Django, Flask or Go.
	Template string
	// Name is a project name derived from the folder or the Go module.
	Name string
	// Build, Command and WSGI become app.build, app.command and app.wsgi.
	Build, Command, WSGI string
	// Port is the app's port when the code fixes one (0: stackctl's default).
	Port int
	// Health is the path that answers 200 once the app is up.
	Health string
	// Env is app.env: what the app needs to start (PYTHONPATH for src/).
	Env map[string]string
	// Static is the folder the front serves itself, or nil.
	Static *stack.Static
	// Python is the interpreter the app runs with, for Python projects.
	Python Interpreter
	// Module is what the interpreter must import ("django", "flask").
	Module string
	// Found lists what was detected and why, one line each:
	// "manage.py names mysite.settings → Django".
	Found []string
	// Warnings are problems the user should fix, each "what — fix".
	Warnings []string
	// Data is the proposed app.data: the paths the app writes, each with
	// the finding (also in Found) that proposed it.
	Data []DataPath
	// Release is deploy.release_command, from the Procfile's release: line.
	Release string
	// Processes are [processes], from the Procfile's other lines: name →
	// command.
	Processes map[string]string

	// dataFound are the findings about app.data, which SetData replaces.
	dataFound []string
	// dataDecided are the paths a finding explained, proposed or not.
	dataDecided map[string]bool
}

// Candidate is one of several things detection could pick.
type Candidate struct {
	// Name is the value of the flag that picks it.
	Name string
	// Why says what made it a candidate.
	Why string
}

// AmbiguousError is returned when the files hold several candidates and
// Options does not pick one.
type AmbiguousError struct {
	// What is the kind of thing: "Flask apps", "Go main packages", "kinds of project".
	What string
	// Flag is the flag that picks one: "--app", "--main", "--template".
	Flag       string
	Candidates []Candidate
}

func (e *AmbiguousError) Error() string {
	var names, why []string
	for _, c := range e.Candidates {
		names = append(names, c.Name)
		why = append(why, c.Name+" ("+c.Why+")")
	}
	return fmt.Sprintf("%d %s: %s — pick one with %s %s", len(e.Candidates), e.What, strings.Join(why, ", "),
		e.Flag, strings.Join(names, " or "+e.Flag+" "))
}

// NotFoundError is returned when the folder holds no project detect knows.
type NotFoundError struct {
	Dir string
	// Looked lists what was looked for, one line per kind.
	Looked []string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no Django, Flask or Go project in %s; looked for:\n  %s\n— run init in the project's folder, or start one with 'stackctl new'",
		e.Dir, strings.Join(e.Looked, "\n  "))
}

// ParseError is a file detect could not parse.
type ParseError struct {
	Path string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// looked says what each detector looks for, for NotFoundError.
var looked = map[string]string{
	Django: "Django: manage.py naming its settings module (DJANGO_SETTINGS_MODULE)",
	Flask:  "Flask: a module or package creating Flask(...) or defining create_app (*.py, PACKAGE/, src/PACKAGE/)",
	Go:     "Go: go.mod with a main package at the root or in cmd/NAME/",
}

// Detect looks at the files in dir and returns the project they hold.
func Detect(dir string, o Options) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if !isDir(abs) {
		return nil, fmt.Errorf("%s is not a folder", dir)
	}
	kinds := Kinds
	if o.Template != "" {
		found := false
		for _, k := range Kinds {
			found = found || k == o.Template
		}
		if !found {
			return nil, fmt.Errorf("--template %q: init knows %s", o.Template, strings.Join(Kinds, ", "))
		}
		kinds = []string{o.Template}
	}
	detectors := map[string]func(string, Options) (*Project, error){Django: detectDjango, Flask: detectFlask, Go: detectGo}
	var found []*Project
	for _, k := range kinds {
		p, err := detectors[k](abs, o)
		if err != nil {
			return nil, err
		}
		if p != nil {
			found = append(found, p)
			if k == Django {
				break // a Django project's modules are not Flask apps
			}
		}
	}
	switch len(found) {
	case 0:
		nf := &NotFoundError{Dir: abs}
		for _, k := range kinds {
			nf.Looked = append(nf.Looked, looked[k])
		}
		return nil, nf
	case 1:
		p := found[0]
		p.Dir = abs
		if err := p.proposeStrayDatabases(abs); err != nil {
			return nil, err
		}
		if err := p.applyProcfile(abs); err != nil {
			return nil, err
		}
		if p.Name == "" {
			p.Name = ProjectName(filepath.Base(abs))
		}
		return p, nil
	}
	amb := &AmbiguousError{What: "kinds of project", Flag: "--template"}
	for _, p := range found {
		amb.Candidates = append(amb.Candidates, Candidate{Name: p.Template, Why: p.Found[0]})
	}
	return nil, amb
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// ProjectName turns a folder or module name into a valid project name
// ([a-z][a-z0-9-]*, at most 63 characters): "My_Site" → "my-site".
func ProjectName(s string) string {
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	if n == "" || n[0] < 'a' || n[0] > 'z' {
		n = strings.TrimRight(("app-" + n)[:min(63, len("app-"+n))], "-")
	}
	if stack.ValidateName(n) != nil {
		return "app"
	}
	return n
}

// Config returns the stack.toml of the project: stackctl's defaults with
// what was detected.
func (p *Project) Config() *stack.Config {
	c := stack.Default(p.Name, p.Template)
	c.App.Build = p.Build
	c.App.Command = p.Command
	c.App.WSGI = p.WSGI
	if p.Port != 0 {
		c.App.Port = p.Port
	}
	if p.Health != "" {
		c.App.Health = p.Health
	}
	if len(p.Env) > 0 {
		c.App.Env = p.Env
	}
	if p.Static != nil {
		c.Proxy.Static = []stack.Static{*p.Static}
	}
	c.App.Data = p.DataPaths()
	c.Deploy.ReleaseCommand = p.Release
	for name, cmd := range p.Processes {
		if c.Processes == nil {
			c.Processes = map[string]stack.Process{}
		}
		c.Processes[name] = stack.Process{Command: cmd, Count: 1, StopTimeout: stack.DefaultStopTimeout}
	}
	return c
}

// isDir reports whether p is a folder.
func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// isFile reports whether p is a regular file.
func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// readFile reads a project file, naming it relative to the project in errors.
func readFile(dir, rel string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("read %s: %w", rel, pe.Err)
		}
		return nil, err
	}
	return data, nil
}

// skipDir reports folders that never hold the project's own code or data.
func skipDir(name string) bool {
	switch name {
	case "venv", "env", "node_modules", "__pycache__", "tests", "test", "build", "dist", "site-packages", "vendor", "testdata":
		return true
	}
	return strings.HasPrefix(name, ".")
}
