package detect

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
)

var (
	importsFlaskRE = regexp.MustCompile(`(?m)^\s*(from\s+flask\s+import|import\s+flask\b)`)
	// flaskAppRE finds a top-level app = Flask(...).
	flaskAppRE = regexp.MustCompile(`(?m)^([A-Za-z_]\w*)\s*=\s*(?:flask\.)?Flask\(([^)]*)\)?`)
	// factoryRE finds a top-level def create_app(...) or make_app, the names
	// flask run looks for.
	factoryRE = regexp.MustCompile(`(?m)^def\s+(create_app|make_app)\s*\(`)
	// flaskCallRE finds Flask(...) anywhere, for a factory's arguments.
	flaskCallRE = regexp.MustCompile(`(?:flask\.)?\bFlask\(([^)]*)\)`)
	kwargRE     = regexp.MustCompile(`\b(static_folder|static_url_path)\s*=\s*(None|` + pyString + `)`)
)

// flaskApp is one place that makes a Flask app.
type flaskApp struct {
	base    string // "." or "src": the folder on sys.path
	file    string // the module's file, relative to the project
	module  string // dotted module name, relative to base
	attr    string // the app variable or the factory
	factory bool
	args    string // the arguments of Flask(...)
}

// name is what --app takes to pick this app: the file for a module, the
// folder for a package.
func (a flaskApp) name() string {
	if strings.HasSuffix(a.file, "/__init__.py") {
		return path.Dir(a.file)
	}
	return a.file
}

func (a flaskApp) why() string {
	if a.factory {
		return "defines " + a.attr + "()"
	}
	return a.attr + " = Flask(...)"
}

// flaskFiles lists the Python files where a Flask app could be made: the
// project's top-level modules, its packages' __init__.py and modules, and
// the same under src/.
func flaskFiles(dir string) []flaskApp {
	var out []flaskApp
	for _, base := range []string{".", "src"} {
		root := path.Join(dir, base)
		entries, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			switch {
			case !e.IsDir() && strings.HasSuffix(name, ".py") && !strings.HasPrefix(name, "test_") && name != "setup.py" && name != "conftest.py" && name != "manage.py":
				out = append(out, flaskApp{base: base, file: path.Join(base, name), module: strings.TrimSuffix(name, ".py")})
			case e.IsDir() && !skipDir(name) && isFile(path.Join(root, name, "__init__.py")):
				out = append(out, flaskApp{base: base, file: path.Join(base, name, "__init__.py"), module: name})
				mods, _ := os.ReadDir(path.Join(root, name))
				for _, m := range mods {
					mn := m.Name()
					if !m.IsDir() && strings.HasSuffix(mn, ".py") && mn != "__init__.py" && !strings.HasPrefix(mn, "test_") {
						out = append(out, flaskApp{base: base, file: path.Join(base, name, mn), module: name + "." + strings.TrimSuffix(mn, ".py")})
					}
				}
			}
		}
	}
	return out
}

// detectFlask recognises a Flask app: a module or package that imports
// flask and creates Flask(...) at the top level or defines create_app.
func detectFlask(dir string, o Options) (*Project, error) {
	var apps []flaskApp
	srcs := map[string][]byte{}
	for _, f := range flaskFiles(dir) {
		src, err := readFile(dir, f.file)
		if err != nil {
			return nil, err
		}
		if !importsFlaskRE.Match(src) {
			continue
		}
		if m := factoryRE.FindSubmatch(src); m != nil {
			f.attr, f.factory = string(m[1]), true
			if c := flaskCallRE.FindSubmatch(src); c != nil {
				f.args = string(c[1])
			}
		} else if m := flaskAppRE.FindSubmatch(src); m != nil {
			f.attr, f.args = string(m[1]), string(m[2])
		} else {
			continue
		}
		apps = append(apps, f)
		srcs[f.file] = src
	}
	if len(apps) == 0 {
		if o.App != "" && o.Template == Flask {
			return nil, fmt.Errorf("--app %s: no Flask app there (nothing creates Flask(...) or defines create_app)", o.App)
		}
		return nil, nil
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].file < apps[j].file })
	var files []string
	for _, a := range apps {
		files = append(files, a.file)
	}
	if err := checkSyntax(dir, files...); err != nil {
		return nil, err
	}
	if o.App != "" {
		want := strings.TrimSuffix(strings.TrimPrefix(path.Clean(o.App), "./"), "/")
		var picked []flaskApp
		for _, a := range apps {
			if a.name() == want || a.file == want || a.module == want {
				picked = append(picked, a)
			}
		}
		if len(picked) == 0 {
			var names []string
			for _, a := range apps {
				names = append(names, a.name())
			}
			return nil, fmt.Errorf("--app %s is not one of the Flask apps found: %s", o.App, strings.Join(names, ", "))
		}
		apps = picked
	}
	if len(apps) > 1 {
		amb := &AmbiguousError{What: "Flask apps", Flag: "--app"}
		for _, a := range apps {
			amb.Candidates = append(amb.Candidates, Candidate{Name: a.name(), Why: a.why()})
		}
		return nil, amb
	}
	a := apps[0]
	p := &Project{Template: Flask, Module: "flask", Env: map[string]string{}}
	p.Found = append(p.Found, fmt.Sprintf("%s %s → Flask", a.file, a.why()))

	// flask run finds the module from a path (it puts src/ on sys.path
	// itself); gunicorn needs PYTHONPATH for src/.
	appPath := strings.TrimSuffix(a.file, ".py")
	appPath = strings.TrimSuffix(appPath, "/__init__")
	p.WSGI = a.module + ":" + a.attr
	if a.factory {
		p.WSGI += "()"
	}
	if a.base != "." {
		p.Env["PYTHONPATH"] = a.base
		p.Found = append(p.Found, fmt.Sprintf("src/ layout → PYTHONPATH=%s in app.env, so gunicorn imports %s", a.base, a.module))
	} else {
		appPath = a.module
	}
	p.Python = FindInterpreter(dir)
	p.Command = "python3 -m flask --app " + appPath + ":" + a.attr + " --debug run --no-reload --host $HOST --port $PORT"
	p.Found = append(p.Found, fmt.Sprintf("serve runs flask --app %s:%s with %s (%s); production runs gunicorn on %s", appPath, a.attr, p.Python.Command, p.Python.Why, p.WSGI))

	// The static folder: Flask's default is static/ beside the module
	// (the package's folder), at /static.
	folder, url := "static", "/static"
	for _, kw := range kwargRE.FindAllStringSubmatch(a.args, -1) {
		v := strOf(kw, 3)
		if kw[2] == "None" {
			v = ""
			if kw[1] == "static_folder" {
				folder = ""
			}
		}
		if kw[1] == "static_folder" && kw[2] != "None" {
			folder = v
		}
		if kw[1] == "static_url_path" && kw[2] != "None" {
			url = v
		}
	}
	switch {
	case folder == "":
		p.Found = append(p.Found, "static_folder=None → no static folder")
	default:
		rel := path.Clean(path.Join(path.Dir(a.file), folder))
		if path.IsAbs(folder) || stack.ValidateRelDir(rel) != nil || !isDir(path.Join(dir, rel)) {
			p.Found = append(p.Found, fmt.Sprintf("no %s/ folder → no static folder (Flask serves none)", rel))
			break
		}
		url = "/" + strings.Trim(url, "/") + "/"
		p.Static = &stack.Static{URL: url, Dir: rel, Expires: "30d"}
		p.Found = append(p.Found, fmt.Sprintf("the app's static folder %s/ → nginx serves %s from it", rel, url))
	}
	h, why := healthPath(srcs[a.file])
	p.Health = h
	p.Found = append(p.Found, "health: "+h+" ("+why+")")
	if err := p.proposeInstance(dir, a); err != nil {
		return nil, err
	}
	if len(p.Env) == 0 {
		p.Env = nil
	}
	return p, nil
}
