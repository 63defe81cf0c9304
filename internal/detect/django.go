package detect

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

var (
	// settingsModuleRE finds os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings').
	settingsModuleRE = regexp.MustCompile(`DJANGO_SETTINGS_MODULE['"]\s*,\s*` + pyString)
	// starImportRE finds "from .base import *" in a settings module.
	starImportRE = regexp.MustCompile(`(?m)^from\s+\.(\w+)\s+import\s+\*`)
	// allowedHostsRE finds ALLOWED_HOSTS = [...], on one line or several.
	allowedHostsRE = regexp.MustCompile(`(?ms)^ALLOWED_HOSTS\s*=\s*[\[(](.*?)[\])]`)
	// hostsRE finds each string literal of an expression.
	hostsRE = regexp.MustCompile(pyString)
)

// detectDjango recognises a Django project by its manage.py and reads its
// settings module: the WSGI application, STATIC_URL and STATIC_ROOT,
// DEBUG and ALLOWED_HOSTS.
func detectDjango(dir string, o Options) (*Project, error) {
	if !isFile(dir + "/manage.py") {
		return nil, nil
	}
	manage, err := readFile(dir, "manage.py")
	if err != nil {
		return nil, err
	}
	m := settingsModuleRE.FindStringSubmatch(string(manage))
	if m == nil {
		if o.Template == Django {
			return nil, ui.Errorf("name it as django-admin startproject does: os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')", "manage.py names no settings module (DJANGO_SETTINGS_MODULE)")
		}
		return nil, nil // some other program's manage.py
	}
	module := strOf(m, 1)
	p := &Project{Template: Django, Module: "django"}
	p.Found = append(p.Found, fmt.Sprintf("manage.py names %s → Django", module))

	modPath := strings.ReplaceAll(module, ".", "/")
	settingsFile := modPath + ".py"
	if !isFile(dir + "/" + settingsFile) {
		settingsFile = modPath + "/__init__.py"
		if !isFile(dir + "/" + settingsFile) {
			return nil, ui.Errorf("run init in the folder of manage.py, or fix DJANGO_SETTINGS_MODULE in manage.py",
				"manage.py names the settings module %s, but there is no %s.py or %s/__init__.py", module, modPath, modPath)
		}
	}
	// A settings module may take its values from siblings: "from .base import *".
	files := []string{settingsFile}
	src, err := readFile(dir, settingsFile)
	if err != nil {
		return nil, err
	}
	for _, sm := range starImportRE.FindAllSubmatch(src, -1) {
		sib := path.Join(path.Dir(settingsFile), string(sm[1])+".py")
		if isFile(dir + "/" + sib) {
			files = append([]string{sib}, files...)
		}
	}
	if err := checkSyntax(dir, append([]string{"manage.py"}, files...)...); err != nil {
		return nil, err
	}
	var all []byte
	for _, f := range files {
		b, err := readFile(dir, f)
		if err != nil {
			return nil, err
		}
		all = append(append(all, b...), '\n')
	}

	top, _, _ := strings.Cut(module, ".")
	p.WSGI = top + ".wsgi:application"
	why := "the default of startproject"
	if expr, ok := pyAssign(all, "WSGI_APPLICATION"); ok {
		if v, ok := pyStringValue(expr); ok {
			if i := strings.LastIndex(v, "."); i > 0 {
				p.WSGI = v[:i] + ":" + v[i+1:]
				why = settingsFile + " sets WSGI_APPLICATION = '" + v + "'"
			}
		}
	}
	p.Found = append(p.Found, fmt.Sprintf("%s → production runs gunicorn on %s", why, p.WSGI))

	p.Python = FindInterpreter(dir)
	p.Command = p.Python.Command + " manage.py runserver 127.0.0.1:$PORT --noreload"
	p.Found = append(p.Found, fmt.Sprintf("interpreter: %s (%s) → serve runs manage.py runserver with it", p.Python.Command, p.Python.Why))

	// Static files: STATIC_URL is where, STATIC_ROOT where collectstatic
	// puts them (and deploy, into the release).
	url := "/static/"
	if expr, ok := pyAssign(all, "STATIC_URL"); ok {
		if v, ok := pyStringValue(expr); ok && v != "" && !strings.Contains(v, "://") {
			url = "/" + strings.Trim(v, "/") + "/"
		}
	}
	root := "staticfiles"
	rootWhy := "STATIC_ROOT is not set"
	if expr, ok := pyAssign(all, "STATIC_ROOT"); ok {
		if rel := baseDirPath(expr); rel != "" && stack.ValidateRelDir(rel) == nil {
			root = rel
			rootWhy = "STATIC_ROOT = " + expr
		} else if v, ok := pyStringValue(expr); ok && !path.IsAbs(v) && stack.ValidateRelDir(v) == nil {
			root = path.Clean(v)
			rootWhy = "STATIC_ROOT = " + expr
		} else {
			rootWhy = "STATIC_ROOT = " + expr + " is not a folder of the project"
		}
	}
	p.Static = &stack.Static{URL: url, Dir: root, Expires: "30d"}
	p.Found = append(p.Found, fmt.Sprintf("STATIC_URL %s, %s → nginx serves %s from %s/, which deploy fills with collectstatic in the release", url, rootWhy, url, root))
	if !isDir(dir + "/" + root) {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s/ does not exist yet, so serve answers 404 under %s (deploy fills it in the release) — for serve too, set STATIC_ROOT = BASE_DIR / '%s' in %s and run 'manage.py collectstatic'", root, url, root, settingsFile))
	}

	p.Health = "/"
	p.Found = append(p.Found, "health: / (serve and deploy wait until it answers 200; point app.health at a cheap page of yours)")

	p.proposeDjangoData(dir, all, settingsFile)

	// Production checks.
	debug := false
	if expr, ok := pyAssign(all, "DEBUG"); ok {
		debug = strings.HasPrefix(expr, "True")
		if debug {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s sets DEBUG = True: never in production (it shows settings and code to visitors) — read it from the environment, e.g. DEBUG = os.environ.get('DJANGO_DEBUG') == '1', and set that in .env for serve", settingsFile))
		}
	}
	if ms := allowedHostsRE.FindAllSubmatch(all, -1); ms != nil {
		list := string(ms[len(ms)-1][1]) // the last one wins, as in Python
		var hosts []string
		for _, h := range hostsRE.FindAllStringSubmatch(list, -1) {
			hosts = append(hosts, strOf(h, 1))
		}
		if len(hosts) == 0 && debug {
			hosts = []string{".localhost", "127.0.0.1", "[::1]"} // Django's own under DEBUG
		}
		if o.Domain != "" && !hostAllowed(o.Domain, hosts) {
			p.Warnings = append(p.Warnings, fmt.Sprintf("ALLOWED_HOSTS in %s does not allow %s: Django answers 400 to the site's requests — add %q to ALLOWED_HOSTS", settingsFile, o.Domain, o.Domain))
		}
	}
	return p, nil
}

// hostAllowed is Django's validate_host: exact names, ".example.com" for
// the domain and its subdomains, "*" for any.
func hostAllowed(host string, allowed []string) bool {
	for _, a := range allowed {
		a = strings.ToLower(a)
		switch {
		case a == "*", a == host:
			return true
		case strings.HasPrefix(a, ".") && (host == a[1:] || strings.HasSuffix(host, a)):
			return true
		}
	}
	return false
}

// baseDirPath reads a path under the project from BASE_DIR / 'a' / 'b' or
// os.path.join(BASE_DIR, 'a', 'b'): "a/b". BASE_DIR is the folder of
// manage.py, as startproject defines it. "" when expr is something else.
func baseDirPath(expr string) string {
	expr, _, _ = strings.Cut(expr, "#")
	_, rest, ok := strings.Cut(expr, "BASE_DIR")
	if !ok {
		return ""
	}
	var parts []string
	for _, m := range hostsRE.FindAllStringSubmatch(rest, -1) {
		parts = append(parts, strOf(m, 1))
	}
	if len(parts) == 0 {
		return ""
	}
	return path.Clean(path.Join(parts...))
}

var (
	// sqliteEngineRE finds the SQLite backend in a DATABASES entry.
	sqliteEngineRE = regexp.MustCompile(`['"]ENGINE['"]\s*:\s*['"]django\.db\.backends\.sqlite3['"]`)
	// dbNameRE finds the NAME of a DATABASES entry, up to the end of its line.
	dbNameRE = regexp.MustCompile(`(?m)['"]NAME['"]\s*:\s*(.+?)\s*,?\s*(?:#.*)?$`)
	// databaseURLRE finds settings that take the database from DATABASE_URL.
	databaseURLRE = regexp.MustCompile(`dj_database_url|DATABASE_URL|\benv\.db\(`)
)

// proposeDjangoData proposes MEDIA_ROOT and a SQLite database of the
// project for app.data.
func (p *Project) proposeDjangoData(dir string, all []byte, settingsFile string) {
	if expr, ok := pyAssign(all, "MEDIA_ROOT"); ok {
		why := settingsFile + " sets MEDIA_ROOT = " + expr
		if rel, ok := djangoPath(dir, expr, p, why); ok {
			p.proposeData(rel, why, "the uploaded files, "+folderOnServers)
		}
	}
	block, ok := pyAssignBlock(all, "DATABASES")
	if !ok {
		return
	}
	sqlite := false
	for _, entry := range innerDicts(block) {
		if !sqliteEngineRE.MatchString(entry) {
			continue
		}
		sqlite = true
		m := dbNameRE.FindStringSubmatch(entry)
		if m == nil {
			continue
		}
		why := settingsFile + " keeps DATABASES in SQLite, NAME " + m[1]
		if v, ok := pyStringValue(m[1]); ok && (v == ":memory:" || v == "") {
			continue
		}
		if rel, ok := djangoPath(dir, m[1], p, why); ok {
			p.proposeData(rel, why, sqliteOnServers)
		}
	}
	if !sqlite && databaseURLRE.MatchString(block) && strings.Contains(block, "sqlite") {
		if rel := baseDirPath(block[strings.Index(block, "sqlite"):]); rel != "" {
			p.decided(rel)
		}
		p.dataNote(settingsFile + " takes DATABASES from DATABASE_URL, with a SQLite default → no database in app.data: production uses DATABASE_URL; if that is a SQLite file of the project, name it with --data")
	}
	// The database of Django's default settings, left from before.
	const def = "db.sqlite3"
	if !p.dataDecided[def] && isFile(dir+"/"+def) {
		p.decided(def)
		p.dataNote(fmt.Sprintf("%s is a SQLite database, but DATABASES in %s does not name it → not in app.data", def, settingsFile))
	}
}

// djangoPath reads a path setting as a project path: BASE_DIR / "media",
// os.path.join(BASE_DIR, "media"), a relative string (Django resolves it in
// the working folder, the project), or an absolute one inside dir. It
// explains in p why it is none of these.
func djangoPath(dir, expr string, p *Project, why string) (string, bool) {
	if rel := baseDirPath(expr); rel != "" {
		return rel, true
	}
	v, ok := pyStringValue(expr)
	switch {
	case !ok:
		p.decided(expr)
		p.dataNote(why + ", a path init cannot tell → not in app.data: if it is in the project, name it with --data")
		return "", false
	case v == "":
		return "", false // Django's default: not set
	case !path.IsAbs(v):
		return path.Clean(v), true
	}
	if rel, err := filepath.Rel(dir, v); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
		rel = filepath.ToSlash(rel)
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s: an absolute path into this folder, which is not where the release is on servers — write BASE_DIR / %q", why, rel))
		return rel, true
	}
	p.dataNote(why + ", outside the project → not in app.data: the app writes there itself, so make it writable by the app's user on servers")
	return "", false
}

// pyAssignBlock finds the last top-level assignment NAME = ... and returns
// its whole expression, over as many lines as its brackets span.
func pyAssignBlock(src []byte, name string) (string, bool) {
	re := regexp.MustCompile(`(?m)^` + name + `\s*=\s*`)
	locs := re.FindAllIndex(src, -1)
	if locs == nil {
		return "", false
	}
	rest := string(src[locs[len(locs)-1][1]:])
	return balanced(rest, '\n'), true
}

// innerDicts returns the text of each dict nested one level inside s:
// the entries of DATABASES = {"default": {...}, "other": {...}}.
func innerDicts(s string) []string {
	var out []string
	depth, start := 0, 0
	pyCode(s, func(i int, c byte) bool {
		switch c {
		case '{':
			depth++
			if depth == 2 {
				start = i
			}
		case '}':
			if depth == 2 {
				out = append(out, s[start:i+1])
			}
			depth--
		}
		return true
	})
	return out
}
