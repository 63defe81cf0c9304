package detect

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
)

// ProcfileName is the file, in the project folder, that init reads the
// app's processes from (Heroku's and foreman's format).
const ProcfileName = "Procfile"

// ProcfileEntry is one `name: command` line of a Procfile.
type ProcfileEntry struct {
	// Line is the entry's line number, from 1.
	Line int
	// Name is the process type as written ("web", "celery-beat").
	Name string
	// Command is the text after the first colon, as written but for the
	// spaces around it.
	Command string
}

// ProcfileProblem is a line of a Procfile that was skipped, and why.
type ProcfileProblem struct {
	// Line is the line number, from 1.
	Line int
	// Msg says what is wrong with the line.
	Msg string
}

// procTypeRE is a process type as foreman reads one: letters, digits, _ and -.
var procTypeRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ParseProcfile reads a Procfile: one `name: command` line per process
// type; blank lines and lines starting with # are ignored, as are a
// trailing \r (CRLF files) and a UTF-8 byte order mark. The command is
// everything after the first colon, so colons inside it stay. A line that
// is not such an entry (no colon, an empty name or command, a name that is
// not letters, digits, _ and -) and a name given again are problems; the
// first entry of a name counts.
func ParseProcfile(data []byte) ([]ProcfileEntry, []ProcfileProblem) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var entries []ProcfileEntry
	var problems []ProcfileProblem
	seen := map[string]int{}
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, cmd, ok := strings.Cut(line, ":")
		name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
		switch {
		case !ok:
			problems = append(problems, ProcfileProblem{n, fmt.Sprintf("%q has no colon: a line is \"name: command\"", line)})
		case name == "":
			problems = append(problems, ProcfileProblem{n, "no name before the colon: a line is \"name: command\""})
		case !procTypeRE.MatchString(name):
			problems = append(problems, ProcfileProblem{n, fmt.Sprintf("%q, before the first colon, is not a name (letters, digits, _ and -): a line is \"name: command\"", name)})
		case cmd == "":
			problems = append(problems, ProcfileProblem{n, fmt.Sprintf("%s has no command after the colon", name)})
		case seen[name] != 0:
			problems = append(problems, ProcfileProblem{n, fmt.Sprintf("%s is given again (first on line %d, which counts)", name, seen[name])})
		default:
			seen[name] = n
			entries = append(entries, ProcfileEntry{Line: n, Name: name, Command: cmd})
		}
	}
	return entries, problems
}

// ProcfileProcess is a Procfile entry that becomes a [processes] entry.
type ProcfileProcess struct {
	ProcfileEntry
	// Process is its name in stack.toml: Name, converted when Name is not a
	// process name as it is ("celery-beat" → "celery_beat").
	Process string
}

// Procfile is what a Procfile gives stack.toml.
type Procfile struct {
	// Web is the web: entry, or nil: the app.
	Web *ProcfileEntry
	// Release is the release: entry, or nil: deploy.release_command.
	Release *ProcfileEntry
	// Processes are the other entries, in the file's order: [processes].
	Processes []ProcfileProcess
	// Warnings say which lines were skipped, why, and what to do, in the
	// file's order, each "Procfile:LINE: what — fix".
	Warnings []string
}

// ReadProcfile parses a Procfile and sorts its entries into what stack.toml
// takes: web: is the app, release: is deploy.release_command, any other
// line is a process. A name that is not a process name is lower-cased with
// '-' turned into '_'; one still invalid or reserved, or taken by an
// earlier line, is skipped with a warning.
func ReadProcfile(data []byte) *Procfile {
	entries, problems := ParseProcfile(data)
	pf := &Procfile{}
	type warning struct {
		line int
		text string
	}
	var warnings []warning
	skipped := func(line int, msg, fix string) {
		warnings = append(warnings, warning{line, fmt.Sprintf("%s:%d: %s — skipped; %s", ProcfileName, line, msg, fix)})
	}
	for _, p := range problems {
		skipped(p.Line, p.Msg, "fix the line, or add the process to stack.toml by hand ([processes] name = \"command\")")
	}
	taken := map[string]ProcfileEntry{}
	for _, e := range entries {
		switch e.Name {
		case "web":
			pf.Web = &e
			continue
		case "release":
			pf.Release = &e
			continue
		}
		name := strings.ReplaceAll(strings.ToLower(e.Name), "-", "_")
		byHand := fmt.Sprintf("to run it beside the app, add it to stack.toml by hand under [processes] with a name of lower-case letters, digits and _ other than web, release and exec: NAME = %s", strconv.Quote(e.Command))
		becomes := ""
		if name != e.Name {
			becomes = fmt.Sprintf(" becomes %q, which", name)
		}
		if err := stack.ValidateProcessName(name); err != nil {
			msg := err.Error()
			if becomes != "" {
				msg = fmt.Sprintf("%q%s is not valid: %s", e.Name, becomes, msg)
			}
			skipped(e.Line, msg, byHand)
			continue
		}
		if other, ok := taken[name]; ok {
			skipped(e.Line, fmt.Sprintf("%q%s is already the process of line %d (%s)", e.Name, becomes, other.Line, other.Name), byHand)
			continue
		}
		taken[name] = e
		pf.Processes = append(pf.Processes, ProcfileProcess{ProcfileEntry: e, Process: name})
	}
	sort.SliceStable(warnings, func(i, j int) bool { return warnings[i].line < warnings[j].line })
	for _, w := range warnings {
		pf.Warnings = append(pf.Warnings, w.text)
	}
	return pf
}

// wsgiTargetRE is a positional argument of gunicorn that names the app:
// module, module:variable or module:factory(args).
var wsgiTargetRE = regexp.MustCompile(`^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*(\(.*\))?)?$`)

// appWSGIRE is what app.wsgi holds (stack's check): a factory takes no
// arguments there.
var appWSGIRE = regexp.MustCompile(`^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\(\))?$`)

// gunicornValueOptions are gunicorn's options that take a value as the
// next argument (gunicorn --help); any other option is taken as a flag.
var gunicornValueOptions = map[string]bool{
	"-c": true, "--config": true, "-b": true, "--bind": true, "--backlog": true,
	"-w": true, "--workers": true, "-k": true, "--worker-class": true, "--threads": true,
	"--worker-connections": true, "--max-requests": true, "--max-requests-jitter": true,
	"-t": true, "--timeout": true, "--graceful-timeout": true, "--keep-alive": true,
	"--limit-request-line": true, "--limit-request-fields": true, "--limit-request-field_size": true,
	"--reload-engine": true, "--reload-extra-file": true, "--chdir": true, "-e": true, "--env": true,
	"-p": true, "--pid": true, "--worker-tmp-dir": true, "-u": true, "--user": true, "-g": true,
	"--group": true, "-m": true, "--umask": true, "--forwarded-allow-ips": true,
	"--access-logfile": true, "--access-logformat": true, "--error-logfile": true, "--log-file": true,
	"--log-level": true, "--logger-class": true, "--log-config": true, "--log-config-json": true,
	"--log-syslog-to": true, "--log-syslog-prefix": true, "--log-syslog-facility": true,
	"--statsd-host": true, "--statsd-prefix": true, "--dogstatsd-tags": true, "-n": true, "--name": true,
	"--pythonpath": true, "--paste": true, "--paster": true, "--proxy-allow-from": true,
	"--keyfile": true, "--certfile": true, "--ssl-version": true, "--cert-reqs": true,
	"--ca-certs": true, "--ciphers": true, "--header-map": true,
}

// GunicornApp reads, from a Procfile's web command, the app gunicorn
// serves, as app.wsgi holds it: "myproj.wsgi:application", "app:create_app()"
// (a module alone is gunicorn's module:application). When the command runs
// no gunicorn, or one whose app init cannot take, it returns "" and why.
func GunicornApp(command string) (wsgi, why string) {
	words := shellWords(command)
	var args []string
	found := false
	for i, w := range words {
		if found {
			if isShellOperator(w) {
				break
			}
			args = append(args, w)
			continue
		}
		base := w[strings.LastIndex(w, "/")+1:]
		if base == "gunicorn" || base == "gunicorn3" || w == "-m" && i+1 < len(words) && words[i+1] == "gunicorn" {
			found = true
			if w == "-m" {
				words[i+1] = "" // the module name, not an argument
			}
		}
	}
	if !found {
		return "", "it runs no gunicorn"
	}
	var targets []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "":
		case a == "--paste" || a == "--paster" || strings.HasPrefix(a, "--paste=") || strings.HasPrefix(a, "--paster="):
			return "", "its gunicorn serves a PasteDeploy app (--paste), which app.wsgi cannot name"
		case a == "-k" || a == "--worker-class" || strings.HasPrefix(a, "--worker-class=") || strings.HasPrefix(a, "-k") && len(a) > 2:
			k := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(a, "--worker-class="), "-k"), "=")
			if a == "-k" || a == "--worker-class" {
				if i+1 < len(args) {
					k = args[i+1]
				}
				i++
			}
			if l := strings.ToLower(k); strings.Contains(l, "uvicorn") || strings.Contains(l, "asgi") || strings.Contains(l, "aiohttp") {
				return "", fmt.Sprintf("its gunicorn serves an ASGI app (-k %s); stackctl's gunicorn runs WSGI workers", k)
			}
		case strings.HasPrefix(a, "-"):
			if gunicornValueOptions[a] {
				i++
			}
		case wsgiTargetRE.MatchString(a):
			targets = append(targets, a)
		}
	}
	if len(targets) > 1 {
		var colon []string
		for _, t := range targets {
			if strings.Contains(t, ":") {
				colon = append(colon, t)
			}
		}
		targets = colon
	}
	switch {
	case len(targets) == 0:
		return "", "its gunicorn names no app on the command line (a config file may)"
	case len(targets) > 1:
		return "", fmt.Sprintf("its gunicorn has several arguments that could be the app (%s)", strings.Join(targets, ", "))
	}
	t := targets[0]
	if !strings.Contains(t, ":") {
		t += ":application" // gunicorn's default variable
	}
	if !appWSGIRE.MatchString(t) {
		return "", fmt.Sprintf("its gunicorn serves %s, a factory called with arguments; app.wsgi takes module:factory() only", t)
	}
	return t, ""
}

// isShellOperator reports whether a word ends a simple command.
func isShellOperator(w string) bool {
	switch w {
	case ";", "&", "&&", "|", "||":
		return true
	}
	return false
}

// shellWords splits a command line as sh would, roughly: words separated
// by blanks, quotes removed ('...' literal, "..." with \ escapes), \
// escaping the next character, and ; & | as operator words of their own.
// Expansions ($PORT) stay as written.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
		case c == ';' || c == '&' || c == '|':
			flush()
			op := string(c)
			if i+1 < len(s) && s[i+1] == c && c != ';' {
				op += string(c)
				i++
			}
			words = append(words, op)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words
}

// applyProcfile reads the project's Procfile, if it has one: the web line
// may name app.wsgi, release: is deploy.release_command, the other lines
// are processes. It says in Found what it took and in Warnings what it
// skipped.
func (p *Project) applyProcfile(dir string) error {
	if !isFile(dir + "/" + ProcfileName) {
		return nil
	}
	data, err := readFile(dir, ProcfileName)
	if err != nil {
		return err
	}
	pf := ReadProcfile(data)
	say := func(format string, args ...any) {
		p.Found = append(p.Found, ProcfileName+": "+fmt.Sprintf(format, args...))
	}
	if w := pf.Web; w != nil {
		switch wsgi, why := GunicornApp(w.Command); {
		case p.Template == Go:
			say("web → the app (a Go app: app.command and app.build stay as detected)")
		case wsgi == "":
			say("web → the app: %s → app.wsgi stays %s, as detected", why, p.WSGI)
		case wsgi == p.WSGI:
			say("web → app.wsgi %s, what its gunicorn serves, as detected; app.command stays serve's dev server", wsgi)
		case p.WSGI == "":
			p.WSGI = wsgi
			say("web → app.wsgi %s, what its gunicorn serves; app.command stays serve's dev server", wsgi)
		default:
			say("web → app.wsgi %s, what its gunicorn serves, instead of %s, which detection found; app.command stays serve's dev server", wsgi, p.WSGI)
			p.WSGI = wsgi
		}
	}
	if r := pf.Release; r != nil {
		p.Release = r.Command
		say("release → deploy.release_command %s", strconv.Quote(r.Command))
	}
	for _, e := range pf.Processes {
		if p.Processes == nil {
			p.Processes = map[string]string{}
		}
		p.Processes[e.Process] = e.Command
		if e.Process != e.Name {
			say("%s → [processes] %s (a process name is lower-case letters, digits and _)", e.Name, e.Process)
		} else {
			say("%s → [processes] %s", e.Name, e.Process)
		}
	}
	p.Warnings = append(p.Warnings, pf.Warnings...)
	return nil
}
