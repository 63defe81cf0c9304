package detect

import (
	"bytes"
	"fmt"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/stackctl/stackctl/internal/stack"
)

// listenPortRE finds a fixed port in ListenAndServe(":8080", ...).
var listenPortRE = regexp.MustCompile(`ListenAndServe(?:TLS)?\(\s*"[^"]*:(\d+)"`)

// mainPackage is a folder of the module holding package main.
type mainPackage struct {
	dir   string // "." or "./cmd/server"
	files []string
}

// detectGo recognises a Go module with main packages at its root or in
// cmd/NAME/, and whether the code reads PORT.
func detectGo(dir string, o Options) (*Project, error) {
	if !isFile(filepath.Join(dir, "go.mod")) {
		return nil, nil
	}
	data, err := readFile(dir, "go.mod")
	if err != nil {
		return nil, err
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return nil, modError(err)
	}
	if mf.Module == nil {
		return nil, &ParseError{Path: "go.mod", Msg: "no module line"}
	}
	dirs := []string{"."}
	if entries, err := os.ReadDir(filepath.Join(dir, "cmd")); err == nil {
		for _, e := range entries {
			if e.IsDir() && !skipDir(e.Name()) {
				dirs = append(dirs, "./cmd/"+e.Name())
			}
		}
	}
	var mains []mainPackage
	for _, d := range dirs {
		m, err := mainIn(dir, d)
		if err != nil {
			return nil, err
		}
		if m != nil {
			mains = append(mains, *m)
		}
	}
	if o.Main != "" {
		want := "./" + strings.TrimPrefix(path.Clean(filepath.ToSlash(o.Main)), "./")
		if want == "./." {
			want = "."
		}
		var picked []mainPackage
		for _, m := range mains {
			if m.dir == want {
				picked = append(picked, m)
			}
		}
		if len(picked) == 0 {
			var names []string
			for _, m := range mains {
				names = append(names, m.dir)
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("--main %s: the module has no main package", o.Main)
			}
			return nil, fmt.Errorf("--main %s is not one of the main packages found: %s", o.Main, strings.Join(names, ", "))
		}
		mains = picked
	}
	switch len(mains) {
	case 0:
		if o.Template == Go {
			return nil, fmt.Errorf("go.mod is there, but no main package at the root or in cmd/NAME/: init runs a program, not a library")
		}
		return nil, nil
	case 1:
	default:
		amb := &AmbiguousError{What: "Go main packages", Flag: "--main"}
		for _, m := range mains {
			amb.Candidates = append(amb.Candidates, Candidate{Name: m.dir, Why: "package main in " + strings.Join(m.files, ", ")})
		}
		return nil, amb
	}
	m := mains[0]
	p := &Project{Template: Go, Name: ProjectName(path.Base(mf.Module.Mod.Path))}
	p.Found = append(p.Found, fmt.Sprintf("go.mod (module %s) with package main in %s → Go", mf.Module.Mod.Path, m.dir))
	p.Build = stack.DefaultBuild(Go)
	if m.dir != "." {
		p.Build = "go build -o .stackctl/app " + m.dir
	}
	p.Command = stack.DefaultCommand(Go)
	p.Found = append(p.Found, fmt.Sprintf("serve runs %q, then %s; deploy builds %s", p.Build, p.Command, m.dir))

	var mainSrc [][]byte
	for _, f := range m.files {
		b, err := readFile(dir, path.Join(m.dir, f))
		if err != nil {
			return nil, err
		}
		mainSrc = append(mainSrc, b)
	}
	readsPort, err := moduleReads(dir, `"PORT"`)
	if err != nil {
		return nil, err
	}
	if readsPort {
		p.Found = append(p.Found, `the code reads "PORT" → serve and deploy give the app its port in $PORT`)
	} else {
		warn := `no Go file of the module reads PORT, but serve and deploy tell the app its port in $PORT — listen on os.Getenv("PORT"), or pass it in app.command (".stackctl/app -addr 127.0.0.1:$PORT")`
		for _, s := range mainSrc {
			if lm := listenPortRE.FindSubmatch(s); lm != nil {
				p.Port, _ = strconv.Atoi(string(lm[1]))
				warn = fmt.Sprintf("no Go file of the module reads PORT: the app listens on the fixed port %d, so app.port is %d and replicas cannot work — listen on os.Getenv(\"PORT\") instead", p.Port, p.Port)
			}
		}
		p.Warnings = append(p.Warnings, warn)
	}
	if isDir(filepath.Join(dir, "static")) {
		p.Static = &stack.Static{URL: "/static/", Dir: "static", Expires: "30d"}
		p.Found = append(p.Found, "static/ → nginx serves /static/ from it")
	}
	h, why := healthPath(mainSrc...)
	p.Health = h
	p.Found = append(p.Found, "health: "+h+" ("+why+")")
	return p, nil
}

// mainIn parses the Go files of one folder (their package clause and, for
// package main, the whole file, so a syntax error is reported with its
// line) and returns the folder when it is package main.
func mainIn(dir, rel string) (*mainPackage, error) {
	entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, nil
	}
	fset := token.NewFileSet()
	m := &mainPackage{dir: rel}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		name := path.Join(strings.TrimPrefix(rel, "./"), n)
		src, err := readFile(dir, name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, name, src, parser.PackageClauseOnly)
		if err != nil {
			return nil, goError(name, err)
		}
		if f.Name.Name != "main" {
			continue
		}
		if _, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution); err != nil {
			return nil, goError(name, err)
		}
		m.files = append(m.files, n)
	}
	if len(m.files) == 0 {
		return nil, nil
	}
	return m, nil
}

// moduleReads reports whether a non-test Go file of the module holds lit.
func moduleReads(dir, lit string) (bool, error) {
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return err
		}
		if d.IsDir() {
			if p != dir && (skipDir(d.Name()) || isFile(filepath.Join(p, "go.mod"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = bytes.Contains(b, []byte(lit))
		return nil
	})
	return found, err
}

// goError turns go/parser's error into a *ParseError at its first position.
func goError(name string, err error) error {
	if list, ok := err.(scanner.ErrorList); ok && len(list) > 0 {
		return &ParseError{Path: name, Line: list[0].Pos.Line, Msg: "invalid Go: " + list[0].Msg}
	}
	return &ParseError{Path: name, Msg: err.Error()}
}

// modError turns modfile's error into a *ParseError.
func modError(err error) error {
	if list, ok := err.(modfile.ErrorList); ok && len(list) > 0 {
		return &ParseError{Path: "go.mod", Line: list[0].Pos.Line, Msg: "invalid go.mod: " + list[0].Err.Error()}
	}
	return &ParseError{Path: "go.mod", Msg: err.Error()}
}
