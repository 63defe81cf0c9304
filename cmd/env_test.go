package cmd

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/ui"
)

// env set's arguments reach the options: values given, and the keys whose
// values are read (from a prompt or stdin) — with no host and no terminal.
func TestEnvSetArgs(t *testing.T) {
	io, _, _, _ := ui.Test()
	f := &Factory{IO: io}
	var got *envOptions
	cmd := newCmdEnvWith(f, func(_ context.Context, o *envOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"set", "TLS_KEY", "DEBUG=0", "API_TOKEN", "--host", "web1"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Action != "set" || !maps.Equal(got.Set, map[string]string{"DEBUG": "0"}) || !slices.Equal(got.Read, []string{"TLS_KEY", "API_TOKEN"}) || !slices.Equal(got.Hosts.Hosts, []string{"web1"}) {
		t.Errorf("options = %+v", got)
	}
}

// secretPrompter answers Password with answer (or err) and records the
// questions.
type secretPrompter struct {
	promptRecorder
	answer string
	err    error
}

func (p *secretPrompter) Password(msg, help string) (string, error) {
	p.asked = append(p.asked, msg)
	return p.answer, p.err
}

// readSetValues: stdin gives one value, one trailing newline removed; a
// terminal gives a hidden prompt per key; an empty value, a NUL byte,
// several keys on one stdin, or a terminal stdin without a terminal
// stdout are refused, naming keys only.
func TestEnvSetReadsValues(t *testing.T) {
	read := func(stdin string, keys ...string) (map[string]string, error) {
		io, in, _, _ := ui.Test()
		in.WriteString(stdin)
		o := &envOptions{IO: io, Set: map[string]string{"OTHER": "1"}, Read: keys, Prompter: func() (ui.Prompter, error) {
			t.Error("prompter requested without a terminal")
			return nil, errors.New("no terminal")
		}}
		err := readSetValues(o)
		return o.Set, err
	}
	for stdin, want := range map[string]string{
		"s3cret\n":  "s3cret",
		"s3cret":    "s3cret",
		"a\nb\n\n":  "a\nb\n",
		"x\r\n":     "x\r",
		" spaced  ": " spaced  ",
		"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
	} {
		set, err := read(stdin, "K")
		if err != nil || set["K"] != want || set["OTHER"] != "1" {
			t.Errorf("stdin %q: %v, %v; want K=%q", stdin, set, err, want)
		}
	}
	for _, c := range []struct {
		stdin string
		keys  []string
		want  string
	}{
		{"", []string{"K"}, "K: stdin is empty"},
		{"\n", []string{"K"}, "K: stdin is empty"},
		{"top\x00secret", []string{"K"}, `"K": the value holds a NUL byte`},
		{strings.Repeat("topsecret", 16<<10), []string{"K"}, "more than 128 KiB on stdin"},
		{"topsecret\n", []string{"A", "B"}, "env set A B: stdin holds one value"},
	} {
		_, err := read(c.stdin, c.keys...)
		if err == nil || ui.ExitCode(err) != 2 || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("stdin %.20q, keys %v: %v (exit %d), want a usage error with %q", c.stdin, c.keys, err, ui.ExitCode(err), c.want)
		}
	}

	prompt := func(p ui.Prompter, inTTY, outTTY bool, keys ...string) (map[string]string, error) {
		io, in, _, _ := ui.Test()
		in.WriteString("never read\n")
		io.InTTY, io.OutTTY = inTTY, outTTY
		o := &envOptions{IO: io, Set: map[string]string{}, Read: keys, Prompter: func() (ui.Prompter, error) { return p, nil }}
		err := readSetValues(o)
		return o.Set, err
	}
	p := &secretPrompter{answer: "typed"}
	if set, err := prompt(p, true, true, "A", "B"); err != nil || set["A"] != "typed" || set["B"] != "typed" || !slices.Equal(p.asked, []string{"Value of A:", "Value of B:"}) {
		t.Errorf("on a terminal: %v, %v, asked %q", set, err, p.asked)
	}
	if _, err := prompt(&secretPrompter{}, true, true, "A"); err == nil || ui.ExitCode(err) != 2 || !strings.Contains(err.Error(), "A: the value is empty") {
		t.Errorf("an empty answer: %v", err)
	}
	if _, err := prompt(&secretPrompter{err: ui.ErrInterrupted}, true, true, "A"); ui.ExitCode(err) != 130 {
		t.Errorf("Ctrl-C at the prompt: %v (exit %d), want exit 130", err, ui.ExitCode(err))
	}
	p = &secretPrompter{answer: "typed"}
	if _, err := prompt(p, true, false, "A"); err == nil || ui.ExitCode(err) != 2 || !strings.Contains(err.Error(), "needs stdout on a terminal") || len(p.asked) != 0 {
		t.Errorf("stdin a terminal, stdout not: %v, asked %q", err, p.asked)
	}
}
