package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/ui"
)

// runRoot runs stackctl with args on buffers and returns the exit code,
// stdout and stderr.
func runRoot(t *testing.T, io *ui.IOStreams, args ...string) int {
	t.Helper()
	f := &Factory{IO: io, Prompter: func() (ui.Prompter, error) {
		t.Error("prompter requested")
		return nil, os.ErrInvalid
	}}
	return run(f, NewRootCmd(f), args)
}

func TestVersion(t *testing.T) {
	io, _, out, _ := ui.Test()
	if code := runRoot(t, io, "--version"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if out.String() != "stackctl dev\n" {
		t.Errorf("--version printed %q, want %q", out, "stackctl dev\n")
	}
	old := version
	version = "v1.2.3"
	defer func() { version = old }()
	if Version() != "v1.2.3" {
		t.Errorf("Version() = %q with -X version=v1.2.3", Version())
	}
}

func TestCompletion(t *testing.T) {
	markers := map[string]string{
		"bash":       "complete -o default -F __start_stackctl stackctl",
		"zsh":        "#compdef stackctl",
		"fish":       "complete -c stackctl",
		"powershell": "Register-ArgumentCompleter -CommandName 'stackctl'",
	}
	for shell, marker := range markers {
		io, _, out, errOut := ui.Test()
		if code := runRoot(t, io, "completion", shell); code != 0 {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errOut)
		}
		if !strings.Contains(out.String(), marker) {
			t.Errorf("completion %s lacks %q", shell, marker)
		}
	}
	io, _, _, errOut := ui.Test()
	if code := runRoot(t, io, "completion", "tcsh"); code != 2 {
		t.Errorf("completion tcsh: exit %d, want 2 (stderr %q)", code, errOut)
	}
}

// TestCompletionOfTemplates: new's --template completes to the kinds
// this build has.
func TestCompletionOfTemplates(t *testing.T) {
	io, _, out, errOut := ui.Test()
	if code := runRoot(t, io, "__complete", "new", "x", "--template", ""); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out.String(), "go\n") {
		t.Errorf("completions %q lack go", out)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"nope"}, `error: unknown command "nope" for "stackctl" — see 'stackctl --help'`},
		{[]string{"--nope"}, "error: unknown flag: --nope — see 'stackctl --help'"},
		{[]string{"new", "-z"}, "error: unknown shorthand flag: 'z' in -z — see 'stackctl new --help'"},
		{[]string{"new", "a", "--port", "x"}, `invalid argument "x" for "--port" flag`},
	}
	for _, tt := range tests {
		io, _, out, errOut := ui.Test()
		if code := runRoot(t, io, tt.args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", tt.args, code)
		}
		if !strings.Contains(errOut.String(), tt.msg) {
			t.Errorf("%v: stderr %q lacks %q", tt.args, errOut, tt.msg)
		}
		if out.Len() != 0 {
			t.Errorf("%v: stdout %q", tt.args, out)
		}
	}
}

// TestFailureExit1: a command that fails for a reason other than its
// arguments exits 1, with the error on stderr.
func TestFailureExit1(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app"), []byte("x"), 0o644)
	io, _, _, errOut := ui.Test()
	if code := runRoot(t, io, "new", "app", "--dir", dir); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.HasPrefix(errOut.String(), "error: "+filepath.Join(dir, "app")+" already exists") {
		t.Errorf("stderr %q", errOut)
	}
}

// TestErrorColor: errors are red on a terminal, plain with --no-color,
// NO_COLOR, or when stderr is not a terminal.
func TestErrorColor(t *testing.T) {
	const red = "\x1b[31m"
	tests := []struct {
		name    string
		errTTY  bool
		env     string
		flag    bool
		wantRed bool
	}{
		{"terminal", true, "", false, true},
		{"--no-color", true, "", true, false},
		{"NO_COLOR", true, "1", false, false},
		{"not a terminal", false, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.env)
			if tt.env == "" {
				os.Unsetenv("NO_COLOR")
			}
			io, _, _, errOut := ui.Test()
			io.ErrTTY = tt.errTTY
			io.NoColor = ui.System().NoColor
			args := []string{"nope"}
			if tt.flag {
				args = append(args, "--no-color")
			}
			runRoot(t, io, args...)
			if got := strings.Contains(errOut.String(), red); got != tt.wantRed {
				t.Errorf("red = %v, want %v: %q", got, tt.wantRed, errOut)
			}
			if !strings.Contains(errOut.String(), "error: unknown command") {
				t.Errorf("stderr %q", errOut)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help", "new"}, {"new", "-h"}, {"new", "--help"}} {
		io, _, out, _ := ui.Test()
		if code := runRoot(t, io, args...); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, want := range []string{"Create a new project in the folder NAME", "Usage:\n  stackctl new NAME [flags]",
			"Examples:\n  # ask each question", "--template string", "--no-static", "--yes", "Templates in this build: go"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, out)
			}
		}
	}
	io, _, out, _ := ui.Test()
	if code := runRoot(t, io, "-h"); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	for _, want := range []string{"stackctl turns the classic two-step deployment", "completion", "--no-color", "--version"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, out)
		}
	}
	// The commands' column is as wide as the longest name.
	if !regexp.MustCompile(`\n  new +Create a web app and its stack.toml\n`).MatchString(out.String()) {
		t.Errorf("-h does not list new:\n%s", out)
	}
}
