package supervise

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	env := map[string]string{"PORT": "5001", "HOST": "127.0.0.1", "SP": "a b"}
	lookup := func(n string) string { return env[n] }
	tests := []struct {
		line  string
		args  []string
		env   []string
		shell bool
	}{
		{line: ".stackctl/app", args: []string{".stackctl/app"}},
		{line: "  ./app   -v\t--x ", args: []string{"./app", "-v", "--x"}},
		{line: "python3 -m flask --app app run --debug --no-reload --host $HOST --port $PORT",
			args: []string{"python3", "-m", "flask", "--app", "app", "run", "--debug", "--no-reload", "--host", "127.0.0.1", "--port", "5001"}},
		{line: "gunicorn -b ${HOST}:${PORT} app:app", args: []string{"gunicorn", "-b", "127.0.0.1:5001", "app:app"}},
		{line: `./app "$SP"`, args: []string{"./app", "a b"}},
		// An unquoted value sh would split into words goes to sh.
		{line: `./app $SP`, args: []string{"sh", "-c", "exec ./app $SP"}, shell: true},
		{line: `./app 'single $PORT "q"' "double \"$PORT\" \$PORT \x"`, args: []string{"./app", `single $PORT "q"`, `double "5001" $PORT \x`}},
		{line: `./app a\ b \$PORT`, args: []string{"./app", "a b", "$PORT"}},
		{line: "./app --x=$UNSET.", args: []string{"./app", "--x=."}},
		{line: "./app cost$ $ 5$", args: []string{"./app", "cost$", "$", "5$"}},
		{line: `./app ""`, args: []string{"./app", ""}},
		{line: "./app # a comment", args: []string{"./app"}},
		{line: "./app a#b", args: []string{"./app", "a#b"}},
		{line: "DEBUG=1 A='x y' ./app B=2", args: []string{"./app", "B=2"}, env: []string{"DEBUG=1", "A=x y"}},
		{line: "./app \\\n  --flag", args: []string{"./app", "--flag"}},
		// What needs a shell: exec'd when sh can replace itself...
		{line: "./app > app.log 2>&1", args: []string{"sh", "-c", "exec ./app > app.log 2>&1"}, shell: true},
		{line: "./app $(cat flags)", args: []string{"sh", "-c", "exec ./app $(cat flags)"}, shell: true},
		{line: "./app `cat flags`", args: []string{"sh", "-c", "exec ./app `cat flags`"}, shell: true},
		{line: "./app *.conf", args: []string{"sh", "-c", "exec ./app *.conf"}, shell: true},
		{line: "DEBUG=1 ./app *.conf", args: []string{"sh", "-c", "DEBUG=1 ./app *.conf"}, shell: true},
		{line: "./app ${PORT:-5000}", args: []string{"sh", "-c", "exec ./app ${PORT:-5000}"}, shell: true},
		{line: "~/bin/app", args: []string{"sh", "-c", "exec ~/bin/app"}, shell: true},
		// ...and left as is with control operators.
		{line: "cd web && ./app", args: []string{"sh", "-c", "cd web && ./app"}, shell: true},
		{line: "./migrate; ./app", args: []string{"sh", "-c", "./migrate; ./app"}, shell: true},
		{line: "./app | tee log", args: []string{"sh", "-c", "./app | tee log"}, shell: true},
		// Quoted metacharacters are plain text.
		{line: `./app '>' "|" '*'`, args: []string{"./app", ">", "|", "*"}},
	}
	for _, tt := range tests {
		got, err := ParseCommand(tt.line, lookup)
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", tt.line, err)
			continue
		}
		if !reflect.DeepEqual(got.Args, tt.args) || !reflect.DeepEqual(got.Env, tt.env) || got.Shell != tt.shell {
			t.Errorf("ParseCommand(%q) = %q env %q shell %v, want %q env %q shell %v", tt.line, got.Args, got.Env, got.Shell, tt.args, tt.env, tt.shell)
		}
	}
}

func TestParseCommandErrors(t *testing.T) {
	for line, want := range map[string]string{
		`./app 'open`:   "a ' is not closed",
		`./app "open`:   `a " is not closed`,
		`./app \`:       `ends with a lone \`,
		"":              "has no program to run",
		"   # nothing ": "has no program to run",
		"A=1 B=2":       "has no program to run",
	} {
		_, err := ParseCommand(line, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCommand(%q) error = %v, want %q", line, err, want)
		}
	}
}

func TestCommandString(t *testing.T) {
	c, err := ParseCommand(`X=1 ./app "a b" it's`+"'s'", nil)
	if err == nil {
		t.Fatalf("unbalanced quote accepted: %q", c.Args)
	}
	c, _ = ParseCommand(`X=1 ./app "a b" plain`, nil)
	if got, want := c.String(), `X=1 ./app 'a b' plain`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestFlaskAdjust(t *testing.T) {
	withVenv := t.TempDir()
	if err := os.MkdirAll(filepath.Join(withVenv, ".venv", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"python", "flask"} {
		os.WriteFile(filepath.Join(withVenv, ".venv", "bin", f), nil, 0o755)
	}
	noVenv := t.TempDir()
	venvPython := filepath.Join(withVenv, ".venv", "bin", "python")
	const line = "python3 -m flask --app app run --debug --no-reload"
	tests := []struct {
		line     string
		dir      string
		public   bool
		args     []string
		debugOff bool
	}{
		{line, noVenv, false, []string{"python3", "-m", "flask", "--app", "app", "run", "--debug", "--no-reload"}, false},
		{line, withVenv, false, []string{venvPython, "-m", "flask", "--app", "app", "run", "--debug", "--no-reload"}, false},
		{line, withVenv, true, []string{venvPython, "-m", "flask", "--app", "app", "run", "--no-reload"}, true},
		{"python app.py", noVenv, false, []string{"python3", "app.py"}, false},
		{"flask run", withVenv, false, []string{filepath.Join(withVenv, ".venv", "bin", "flask"), "run"}, false},
		{"flask run", noVenv, true, []string{"flask", "run"}, false},
		{"python3 -m flask run --debug > log", noVenv, true, []string{"sh", "-c", "exec python3 -m flask run > log"}, true},
	}
	for _, tt := range tests {
		c, err := ParseCommand(tt.line, nil)
		if err != nil {
			t.Fatal(err)
		}
		off := flaskAdjust(&c, tt.dir, tt.public)
		if !reflect.DeepEqual(c.Args, tt.args) || off != tt.debugOff {
			t.Errorf("flaskAdjust(%q, venv=%v, public=%v) = %q, %v; want %q, %v", tt.line, tt.dir == withVenv, tt.public, c.Args, off, tt.args, tt.debugOff)
		}
		hasOff := strings.Contains(strings.Join(c.Env, " "), "FLASK_DEBUG=0")
		if hasOff != tt.public {
			t.Errorf("flaskAdjust(%q, public=%v): env %q", tt.line, tt.public, c.Env)
		}
	}
}

func TestParseDotEnv(t *testing.T) {
	data := `# foreman-style .env
PLAIN=value
SPACED =  padded value   
export EXPORTED=yes
COMMENTED=value # a comment
HASH=a#b
EMPTY=
SINGLE='literal $HOME \n # kept'
DOUBLE="line1\nline2 \"q\" \\ \$X"
DQ_COMMENT="x" # after
MULTI="first
second"
SQ_MULTI='a
b'
WIN=crlf` + "\r\n" + `
   # indented comment
EQUALS=a=b=c
`
	got, err := ParseDotEnv([]byte(data), ".env")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PLAIN":      "value",
		"SPACED":     "padded value",
		"EXPORTED":   "yes",
		"COMMENTED":  "value",
		"HASH":       "a#b",
		"EMPTY":      "",
		"SINGLE":     `literal $HOME \n # kept`,
		"DOUBLE":     "line1\nline2 \"q\" \\ $X",
		"DQ_COMMENT": "x",
		"MULTI":      "first\nsecond",
		"SQ_MULTI":   "a\nb",
		"WIN":        "crlf",
		"EQUALS":     "a=b=c",
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected %s = %q", k, got[k])
			}
		}
	}
}

func TestParseDotEnvErrors(t *testing.T) {
	for data, want := range map[string]string{
		"OK=1\nnot a pair\n":      `.env:2: "not a pair" is not NAME=value`,
		"OK=1\n\n1BAD=x\n":        `.env:3: "1BAD=x" is not NAME=value`,
		"A='open\nB=2\n":          ".env:1: A: the ' is not closed",
		"X=1\nA=\"x\" trailing\n": `.env:2: A: unexpected "trailing" after the closing "`,
		"BAD-NAME=1":              `.env:1: "BAD-NAME=1" is not NAME=value`,
	} {
		_, err := ParseDotEnv([]byte(data), ".env")
		if err == nil || err.Error() != want {
			t.Errorf("ParseDotEnv(%q) error = %v, want %s", data, err, want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=base", "B=base"},
		map[string]string{"A": "toml", "C": "toml"},
		map[string]string{"C": "dotenv"},
		map[string]string{"PORT": "5000"})
	want := []string{"PATH=/bin", "A=toml", "B=base", "C=dotenv", "PORT=5000"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestIgnore(t *testing.T) {
	ig := NewIgnore([]string{"*.log", "tmp/", "static/gen/*.css", "./build"})
	tests := map[string]bool{
		"main.go":                 false,
		"templates/index.html":    false,
		".env":                    false,
		"stack.toml":              false,
		".git/HEAD":               true,
		".git":                    true,
		".stackctl/app":           true,
		".venv/lib/x.py":          true,
		"pkg/__pycache__/a.pyc":   true,
		"main.go~":                true,
		".main.go.swp":            true,
		"sub/.app.py.swx":         true,
		"4913":                    true,
		"sub/4913":                true,
		"#main.go#":               true,
		".#main.go":               true,
		"main.go___jb_tmp___":     true,
		"app.log":                 true,
		"logs/today.log":          true,
		"catalog.go":              false,
		"tmp":                     true,
		"tmp/x.go":                true,
		"a/tmp/x.go":              true,
		"tmpl/x.go":               false,
		"static/gen/site.css":     true,
		"static/gen/deep/x.css":   false,
		"static/site.css":         false,
		"build/out.js":            true,
		"cmd/build.go":            false,
		"node_modules/x/index.js": true,
	}
	for p, want := range tests {
		if got := ig.Match(p); got != want {
			t.Errorf("Match(%q) = %v, want %v", p, got, want)
		}
	}
}

// A process's command runs under sh -c; a simple one with exec, so the
// program is the process serve started.
func TestShellScript(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"celery -A proj worker -l info", "exec celery -A proj worker -l info"},
		{"  python -m mailer ", "exec python -m mailer"},
		{"sh proc.sh $NAME *.txt", "exec sh proc.sh $NAME *.txt"},
		{"cd app && celery worker", "cd app && celery worker"},
		{"trap '' TERM; sleep 9", "trap '' TERM; sleep 9"},
		{"DEBUG=1 python worker.py", "DEBUG=1 python worker.py"},
		{"! false", "! false"},
		{"echo 'unclosed", "echo 'unclosed"},
	} {
		if got := shellScript(tt.in); got != tt.want {
			t.Errorf("shellScript(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
