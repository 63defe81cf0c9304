package scaffold

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/templates"
)

// appFS is the tree of app templates, app/<kind>/...; tests replace it.
var appFS fs.FS = templates.App

// Data is what every app template is executed with. Template authors: files
// under templates/app/<kind>/ whose names end in ".tmpl" are text/template
// files with the delimiters [[ and ]] (so {{ }} of html/template or Jinja
// stay as they are), executed with a Data; the suffix is dropped from the
// written name. Other files are copied unchanged. A top-level static/
// folder is written only when Static is true. Examples:
//
//	module [[.Module]]
//	port = [[.Port]]
//	[[if .Static]]<link rel="stylesheet" href="/static/style.css">[[end]]
type Data struct {
	// Name is the project name and folder: a lower-case module element ("myapp").
	Name string
	// Template is the kind of app being rendered ("go", "flask").
	Template string
	// Module is the Go module path (go.mod); the name for other kinds.
	Module string
	// Port is the app's port (app.port): the default of $PORT.
	Port int
	// Domain is the domain nginx serves (proxy.server_names[0]).
	Domain string
	// Listen is where `stackctl serve` listens (serve.listen), "127.0.0.1:8080".
	Listen string
	// Static reports whether the project has a static/ folder, served at
	// /static/ by the front (proxy.static) and by the app itself.
	Static bool
}

var majorSuffix = regexp.MustCompile(`^v[0-9]+$`)

// Binary is the name `go build` gives the program: the last element of the
// module path that is not a major version suffix ("example.com/app/v2" → "app").
func (d Data) Binary() string {
	b := path.Base(d.Module)
	if majorSuffix.MatchString(b) && path.Dir(d.Module) != "." {
		b = path.Base(path.Dir(d.Module))
	}
	return b
}

// ServeURL is the address `stackctl serve` answers on, as a URL to open:
// "http://127.0.0.1:8080/".
func (d Data) ServeURL() string {
	l, err := stack.ParseListen(d.Listen)
	if err != nil {
		return "http://" + d.Listen + "/"
	}
	if l.Host == "" || l.Host == "0.0.0.0" || l.Host == "::" {
		l.Host = "127.0.0.1"
	}
	return "http://" + l.String() + "/"
}

// staticDir is the top-level folder of a template that is written only when
// Data.Static is true.
const staticDir = "static"

// tmplSuffix marks a file that is executed as a template.
const tmplSuffix = ".tmpl"

// Kinds returns the kinds of app this build of stackctl can scaffold: the
// folders under templates/app/ that stack.toml accepts as app.template, in
// the order of stack.Templates ("go" first, the default).
func Kinds() []string {
	entries, err := fs.ReadDir(appFS, "app")
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range stack.Templates {
		if slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.IsDir() && e.Name() == k }) {
			out = append(out, k)
		}
	}
	return out
}

// Render writes the project of kind d.Template into the existing folder dst
// and returns the paths of the files it wrote, relative to dst with forward
// slashes, in lexical order. dst should be a fresh
// folder: Render does not clean up after a failure (Create does).
func Render(d Data, dst string) ([]string, error) {
	if !slices.Contains(Kinds(), d.Template) {
		return nil, fmt.Errorf("no app template %q in this build (have: %s)", d.Template, strings.Join(Kinds(), ", "))
	}
	root := "app/" + d.Template
	var files []string
	err := fs.WalkDir(appFS, root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if rel == "" {
			return nil
		}
		if !d.Static && (rel == staticDir || strings.HasPrefix(rel, staticDir+"/")) {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			return os.Mkdir(filepath.Join(dst, filepath.FromSlash(rel)), 0o755)
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("template %s: %s is not a regular file", d.Template, rel)
		}
		data, err := fs.ReadFile(appFS, p)
		if err != nil {
			return err
		}
		if name, ok := strings.CutSuffix(rel, tmplSuffix); ok {
			rel = name
			if data, err = execute(p, data, d); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.FromSlash(rel)), data, 0o644); err != nil {
			return err
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	return files, nil
}

func execute(name string, text []byte, d Data) ([]byte, error) {
	t, err := template.New(name).Delims("[[", "]]").Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("app template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("app template: %w", err)
	}
	return b.Bytes(), nil
}
