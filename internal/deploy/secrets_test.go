package deploy

import (
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/ui"
)

// Every value survives the secrets file as systemd reads it: quotes,
// dollars, backslashes, backquotes, spaces, newlines, UTF-8.
func TestEnvFileRoundTrip(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL": "postgres://u:p@db/app?sslmode=require",
		"QUOTES":       `say "hi" and 'bye'`,
		"DOLLAR":       "$HOME ${PATH} `id`",
		"BACKSLASH":    `C:\dir\n not a newline \\`,
		"MULTI":        "line one\nline two\n",
		"EMPTY":        "",
		"UNICODE":      "héllo\tworld",
		"HASH":         "#not-a-comment",
	}
	got, err := ParseEnvFile(RenderEnvFile("myapp", env))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(env) {
		t.Errorf("got %d keys, want %d: %q", len(got), len(env), got)
	}
	for k, v := range env {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestParseEnvFileForms(t *testing.T) {
	got, err := ParseEnvFile([]byte("# comment\n\nPLAIN=a b  \nexport EXP=1\nSINGLE='x \"y\" $z'\n  DOUBLE=\"q\\\"q\" trailing\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"PLAIN": "a b", "EXP": "1", "SINGLE": `x "y" $z`, "DOUBLE": `q"q`}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"NOEQUALS\n", "1BAD=x\n", "OPEN=\"never closed\n"} {
		if _, err := ParseEnvFile([]byte(bad)); err == nil {
			t.Errorf("ParseEnvFile(%q) accepted it", bad)
		}
	}
}

// KEY=VALUE gives a value, a KEY alone asks for one (the last form of a
// key wins); bad input is a usage error that names the argument and never
// shows a value.
func TestParseSecretArgs(t *testing.T) {
	set, read, err := ParseSetArgs([]string{"A=1", "B=x=y", "A=2", "EMPTY="})
	if err != nil || set["A"] != "2" || set["B"] != "x=y" || set["EMPTY"] != "" || len(set) != 3 || len(read) != 0 {
		t.Errorf("ParseSetArgs = %v, %v, %v", set, read, err)
	}
	set, read, err = ParseSetArgs([]string{"A=1", "SECRET_KEY", "B", "A", "B=2", "SECRET_KEY"})
	if err != nil || len(set) != 1 || set["B"] != "2" || strings.Join(read, " ") != "SECRET_KEY A" {
		t.Errorf("ParseSetArgs with keys alone = %v, read %q, %v; want B=2 and SECRET_KEY, A to read", set, read, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "at least one KEY"},
		{[]string{"hunter2-no-equals!"}, "an argument without '=' is not an environment variable name"},
		{[]string{"A=1", "9LIVES"}, "an argument without '=' is not an environment variable name"},
		{[]string{"PORT"}, "stackctl sets PORT itself"},
		{[]string{"1KEY=topsecret"}, `"1KEY=…": "1KEY" is not`},
		{[]string{"BAD-KEY=topsecret"}, `"BAD-KEY" is not an environment variable name`},
		{[]string{"=topsecret"}, `"" is not an environment variable name`},
		{[]string{"K=top\x00secret"}, "NUL byte"},
		{[]string{"PORT=1"}, "stackctl sets PORT itself"},
	} {
		_, _, err := ParseSetArgs(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) || ui.ExitCode(err) != 2 {
			t.Errorf("ParseSetArgs(%q) = %v (exit %d), want a usage error with %q", c.args, err, ui.ExitCode(err), c.want)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseSetArgs(%q): the error shows the value: %v", c.args, err)
		}
	}
	if keys, err := ParseUnsetArgs([]string{"A", "B"}); err != nil || len(keys) != 2 {
		t.Errorf("ParseUnsetArgs = %v, %v", keys, err)
	}
	for _, bad := range [][]string{nil, {"A=secret"}, {"no-dash"}} {
		_, err := ParseUnsetArgs(bad)
		if err == nil || ui.ExitCode(err) != 2 || strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseUnsetArgs(%q) = %v", bad, err)
		}
	}
}

func TestJournalSince(t *testing.T) {
	for in, want := range map[string]string{"10m": "-10m", "2h": "-2h", "today": "today", "2026-12-02 10:00": "2026-12-02 10:00"} {
		if got := journalSince(in); got != want {
			t.Errorf("journalSince(%q) = %q, want %q", in, got, want)
		}
	}
}
