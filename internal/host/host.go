// Package host is how deploy acts on a machine: this one, or a server over
// SSH. A Host runs commands; everything else deploy does on a machine (read
// and write files atomically, links, renames) is built from commands in
// files.go, so both kinds of host behave alike.
package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Host is a machine commands run on.
type Host interface {
	// Name is how messages name the host ("web1", "deploy@203.0.113.10",
	// "this machine").
	Name() string
	// Run runs c on the host and waits for it. A command that ran and
	// failed returns an *ExitError.
	Run(ctx context.Context, c Cmd) error
	// Close releases the connection; the Host is unusable after it.
	Close() error
}

// Cmd is one command to run on a host.
type Cmd struct {
	// Argv is the program and its arguments; each word reaches the program
	// as it is (they are quoted for the remote shell, never interpreted).
	Argv []string
	// Root runs the command as root: through `sudo -n` when the login user
	// is not root.
	Root bool
	// Stdin, Stdout and Stderr are the command's streams; nil is empty
	// input and discarded output.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY asks for a terminal (ssh -t), for interactive commands.
	TTY bool
}

// ExitError is a command that ran on a host and exited with a non-zero
// status.
type ExitError struct {
	Host   string
	Argv   []string
	Status int
	// Output is what the command printed (when the caller captured it).
	Output string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: %s exited with status %d", e.Host, shortArgv(e.Argv), e.Status)
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += ": " + lastLines(out, 12)
	}
	return msg
}

func shortArgv(argv []string) string {
	s := Quote(argv...)
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// Output runs argv on h and returns its combined output; a failure's
// *ExitError carries that output.
func Output(ctx context.Context, h Host, root bool, argv ...string) (string, error) {
	var out bytes.Buffer
	err := h.Run(ctx, Cmd{Argv: argv, Root: root, Stdout: &out, Stderr: &out})
	var ee *ExitError
	if errors.As(err, &ee) {
		ee.Output = out.String()
	}
	return out.String(), err
}

// Script runs a POSIX shell script of stackctl's on h, as root when root
// is set, with args as $1… and stdin as its input. Values reach the script
// only as quoted arguments or on stdin, never spliced into its text, so no
// value can become shell code. Secrets go on stdin: arguments are visible
// in the host's process list.
func Script(ctx context.Context, h Host, root bool, script string, stdin io.Reader, stdout io.Writer, args ...string) error {
	argv := append([]string{"sh", "-c", script, "stackctl"}, args...)
	var errBuf bytes.Buffer
	var w io.Writer = &errBuf
	if stdout == nil {
		stdout = &errBuf
	}
	err := h.Run(ctx, Cmd{Argv: argv, Root: root, Stdin: stdin, Stdout: stdout, Stderr: w})
	var ee *ExitError
	if errors.As(err, &ee) {
		ee.Output = errBuf.String()
		ee.Argv = []string{"sh", "-c", "<" + firstLine(script) + ">"}
	}
	return err
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Quote writes argv as one POSIX shell command line: every word in single
// quotes unless it is made only of characters no shell interprets.
func Quote(argv ...string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quoteWord(a))
	}
	return b.String()
}

func quoteWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/@+,=:-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
