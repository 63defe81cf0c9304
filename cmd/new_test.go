package cmd

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
	"github.com/stackctl/stackctl/scaffold"
)

// testFactory returns a Factory on buffers (no terminal) whose prompter
// fails the test if it is ever asked for.
func testFactory(t *testing.T) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	io, _, out, errOut := ui.Test()
	return &Factory{IO: io, Prompter: func() (ui.Prompter, error) {
		t.Error("prompter requested")
		return nil, fmt.Errorf("no prompts in this test")
	}}, out, errOut
}

func TestNewFlags(t *testing.T) {
	tests := []struct {
		args  []string
		want  scaffold.Options
		given []scaffold.Field
		yes   bool
	}{
		{
			args: []string{"myapp"},
			want: scaffold.Defaults("myapp"),
		},
		{
			args: []string{"shop", "--template", "go", "--module", "example.com/shop", "--port", "5001",
				"--domain", "shop.example.org", "--listen", "9000", "--no-static", "--dir", "/tmp/x", "--yes"},
			want: scaffold.Options{Name: "shop", Dir: "/tmp/x", Template: "go", Module: "example.com/shop", Port: 5001,
				Domain: "shop.example.org", Listen: "9000", Static: false},
			given: []scaffold.Field{scaffold.FieldTemplate, scaffold.FieldModule, scaffold.FieldPort,
				scaffold.FieldDomain, scaffold.FieldListen, scaffold.FieldStatic},
			yes: true,
		},
		{
			args:  []string{"a", "--static=false"},
			want:  func() scaffold.Options { o := scaffold.Defaults("a"); o.Static = false; return o }(),
			given: []scaffold.Field{scaffold.FieldStatic},
		},
		{
			args:  []string{"a", "--static"},
			want:  scaffold.Defaults("a"),
			given: []scaffold.Field{scaffold.FieldStatic},
		},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f, _, _ := testFactory(t)
			var got *NewOptions
			c := newCmdNewRun(f, func(o *NewOptions) error { got = o; return nil })
			c.SetArgs(tt.args)
			if err := c.Execute(); err != nil {
				t.Fatal(err)
			}
			if got.Answers != tt.want {
				t.Errorf("answers %+v, want %+v", got.Answers, tt.want)
			}
			for f, v := range got.Given {
				if v != slices.Contains(tt.given, f) {
					t.Errorf("given[%s] = %v", f, v)
				}
			}
			if got.Yes != tt.yes {
				t.Errorf("yes = %v", got.Yes)
			}
		})
	}
}

// snapshot lists every path under dir with its content, to prove a failed
// command changed nothing.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		data := ""
		if info.Mode().IsRegular() {
			d, _ := os.ReadFile(p)
			data = fmt.Sprintf("%x", sha256.Sum256(d))
		}
		fmt.Fprintf(&b, "%s %v %s\n", p, info.Mode(), data)
		return nil
	})
	return b.String()
}

// TestNewBadInput runs `stackctl new` with each bad input: the error names
// the flag and value and says how to fix it, the exit code is right, and
// the folder is unchanged.
func TestNewBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no name", []string{}, 2, "error: new takes one NAME, got 0 arguments — give the project's name"},
		{"two names", []string{"a", "b"}, 2, "new takes one NAME, got 2 arguments"},
		{"upper case", []string{"MyApp"}, 2, `error: NAME: "MyApp" must start with a lower-case letter and hold only a-z, 0-9 and '-' — use a lower-case name`},
		{"path", []string{"../x"}, 2, `error: NAME: "../x" is not a folder name (no path separators, not . or ..)`},
		{"dot", []string{"."}, 2, `NAME: "." is not a folder name`},
		{"too long", []string{strings.Repeat("a", 64)}, 2, "is longer than 63 characters"},
		{"digit first", []string{"1app"}, 2, `NAME: "1app" must start with a lower-case letter`},
		{"unknown template", []string{"a", "--template", "rails"}, 2, `error: --template: "rails" is not a template — use one of: go`},
		{"bad module", []string{"a", "--module", "Has Space"}, 2, `error: --module: "Has Space" is not a valid Go module path`},
		{"port 0", []string{"a", "--port", "0"}, 2, "error: --port: 0 is not a port (1–65535) — use a number from 1 to 65535"},
		{"port too big", []string{"a", "--port", "65536"}, 2, "--port: 65536 is not a port (1–65535)"},
		{"port not a number", []string{"a", "--port", "http"}, 2, `invalid argument "http" for "--port" flag`},
		{"bad domain", []string{"a", "--domain", "bad_domain.com"}, 2, `error: --domain: "bad_domain.com" is not a valid domain`},
		{"bad wildcard", []string{"a", "--domain", "*"}, 2, `--domain: "*" is not a valid domain`},
		{"bad listen", []string{"a", "--listen", "1.2.3.4.5:80"}, 2, `error: --listen: "1.2.3.4.5:80": 1.2.3.4.5 is not an IPv4 address`},
		{"listen port 0", []string{"a", "--listen", "0"}, 2, `--listen: 0 is not a port`},
		{"same ports", []string{"a", "--port", "6000", "--listen", "127.0.0.1:6000"}, 2, "error: --listen: port 6000 is also the app's port — pick a port other than the app's 6000, such as 8080"},
		{"port takes serve's", []string{"a", "--port", "8080"}, 2, "error: --port: 8080 is also the port of the local proxy (serve.listen 127.0.0.1:8080) — pass --listen with another port"},
		{"static and no-static", []string{"a", "--static", "--no-static"}, 2, "--static and --no-static both given"},
		{"unknown flag", []string{"a", "--nope"}, 2, "unknown flag: --nope — see 'stackctl new --help'"},
		{"missing dir", []string{"a", "--dir", "missing"}, 2, "error: --dir: folder missing does not exist — create it first or pass another --dir"},
		{"existing project", []string{"taken"}, 1, "taken already exists and is not an empty folder — pick another name or --dir, or remove it first"},
		{"existing file", []string{"file"}, 1, "file already exists and is not an empty folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Mkdir(filepath.Join(dir, "taken"), 0o755)
			os.WriteFile(filepath.Join(dir, "taken", "keep.txt"), []byte("mine"), 0o644)
			os.WriteFile(filepath.Join(dir, "file"), []byte("mine"), 0o644)
			before := snapshot(t, dir)
			t.Chdir(dir)

			f, out, errOut := testFactory(t)
			code := run(f, NewRootCmd(f), append([]string{"new"}, tt.args...))
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.msg) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.msg)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("folder changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// TestNewCreates runs `stackctl new` without a terminal: it never prompts,
// uses the flags and defaults, and says what it made.
func TestNewCreates(t *testing.T) {
	dir := t.TempDir()
	f, out, errOut := testFactory(t)
	code := run(f, NewRootCmd(f), []string{"new", "shop", "--dir", dir, "--port", "5001", "--listen", "9000", "--domain", "shop.example.org", "--no-static"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	target := filepath.Join(dir, "shop")
	c, err := stack.Load(filepath.Join(target, "stack.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.App.Port != 5001 || c.Serve.Listen != "127.0.0.1:9000" || c.Proxy.ServerNames[0] != "shop.example.org" || len(c.Proxy.Static) != 0 {
		t.Errorf("stack.toml: %+v", c)
	}
	if _, err := os.Stat(filepath.Join(target, "static")); !os.IsNotExist(err) {
		t.Errorf("static/ exists with --no-static: %v", err)
	}
	gomod, _ := os.ReadFile(filepath.Join(target, "go.mod"))
	if !strings.HasPrefix(string(gomod), "module shop\n") {
		t.Errorf("go.mod = %q", gomod)
	}
	for _, want := range []string{"✓ Created shop (go app) in " + target, "shop/main.go", "shop/stack.toml",
		"cd " + target, "stackctl serve", "http://127.0.0.1:9000/", "go run .", "http://127.0.0.1:5001/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("color codes on a non-terminal:\n%q", out)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr %q", errOut)
	}
}

// TestNewColorOnTerminal: on a terminal the summary is colored, unless
// --no-color; --yes asks nothing even on a terminal.
func TestNewColorOnTerminal(t *testing.T) {
	for _, noColor := range []bool{false, true} {
		f, out, errOut := testFactory(t)
		f.IO.InTTY, f.IO.OutTTY = true, true
		args := []string{"new", "app", "--dir", t.TempDir(), "--yes"}
		if noColor {
			args = append(args, "--no-color")
		}
		if code := run(f, NewRootCmd(f), args); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if got := strings.Contains(out.String(), "\x1b["); got == noColor {
			t.Errorf("--no-color=%v: color codes present = %v:\n%q", noColor, got, out)
		}
	}
}

// promptRecorder answers every question with its default and records it.
type promptRecorder struct{ asked []string }

func (p *promptRecorder) Select(msg, help string, options []string, def string) (string, error) {
	p.asked = append(p.asked, msg)
	return def, nil
}

func (p *promptRecorder) Input(msg, help, def string, validate func(string) error) (string, error) {
	p.asked = append(p.asked, msg)
	return def, validate(def)
}

func (p *promptRecorder) Confirm(msg, help string, def bool) (bool, error) {
	p.asked = append(p.asked, msg)
	return def, nil
}

func (p *promptRecorder) Password(msg, help string) (string, error) {
	p.asked = append(p.asked, msg)
	return "", nil
}

// TestNewAsksOnlyWhatFlagsLeaveOpen: on a terminal, flags given are not
// asked again; a bad flag fails before any question.
func TestNewAsksOnlyWhatFlagsLeaveOpen(t *testing.T) {
	rec := &promptRecorder{}
	io, _, _, errOut := ui.Test()
	io.InTTY, io.OutTTY = true, true
	f := &Factory{IO: io, Prompter: func() (ui.Prompter, error) { return rec, nil }}
	code := run(f, NewRootCmd(f), []string{"new", "app", "--dir", t.TempDir(), "--module", "x.org/app", "--port", "5002", "--no-static"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := []string{"Template:", "Domain nginx serves:", "Local proxy (stackctl serve) listens on:"}
	if !slices.Equal(rec.asked, want) {
		t.Errorf("asked %q, want %q", rec.asked, want)
	}

	rec.asked = nil
	dir := t.TempDir()
	code = run(f, NewRootCmd(f), []string{"new", "app", "--dir", dir, "--port", "0"})
	if code != 2 || len(rec.asked) != 0 {
		t.Errorf("bad flag: exit %d, asked %q", code, rec.asked)
	}
}

// TestNewInterrupted: Ctrl-C at a prompt exits 130 and creates nothing.
func TestNewInterrupted(t *testing.T) {
	io, _, _, errOut := ui.Test()
	io.InTTY, io.OutTTY = true, true
	f := &Factory{IO: io, Prompter: func() (ui.Prompter, error) { return interrupter{}, nil }}
	dir := t.TempDir()
	code := run(f, NewRootCmd(f), []string{"new", "app", "--dir", dir})
	if code != 130 || !strings.Contains(errOut.String(), "interrupted: nothing was created") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind %v", entries)
	}
}

type interrupter struct{}

func (interrupter) Select(string, string, []string, string) (string, error) {
	return "", ui.ErrInterrupted
}
func (interrupter) Input(string, string, string, func(string) error) (string, error) {
	return "", ui.ErrInterrupted
}
func (interrupter) Confirm(string, string, bool) (bool, error) { return false, ui.ErrInterrupted }
func (interrupter) Password(string, string) (string, error)    { return "", ui.ErrInterrupted }
