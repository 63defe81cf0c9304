//go:build unix

package cmd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/stackctl/stackctl/internal/testutil"
	"github.com/stackctl/stackctl/internal/ui"
)

func init() {
	execOnTerminal = testExecOnTerminal
	envSetOnTerminal = testEnvSetOnTerminal
}

// testEnvSetOnTerminal: `stackctl env set KEY` on a real terminal asks for
// the value with survey's hidden prompt (the terminal shows a * per
// character, never the value) and sets what was typed on every host.
func testEnvSetOnTerminal(t *testing.T, path, key, value string) string {
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptm.Close()
	defer tty.Close()
	if err := pty.Setsize(ptm, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	con := newConsole(t, ptm)
	ios := &ui.IOStreams{In: tty, Out: tty, ErrOut: tty, InTTY: true, OutTTY: true, ErrTTY: true}
	f := &Factory{IO: ios, Prompter: func() (ui.Prompter, error) { return ui.NewSurveyPrompter(ios) }}
	code := make(chan int, 1)
	go func() { code <- run(f, NewRootCmd(f), []string{"env", "set", "--config", path, key}) }()
	con.expect("Value of " + key + ":")
	con.line(value)
	con.exited(code, "env set "+key+" on a terminal", 2*time.Minute)
	con.expect(strings.Repeat("*", len(value)))
	con.expect("Changed myapp's secrets")
	con.close(tty)
	out := con.text()
	if strings.Contains(out, value) {
		t.Errorf("the terminal shows the typed value:\n%s", out)
	}
	return out
}

// testExecOnTerminal: `stackctl exec -- sh` on a real terminal gets one on
// the host, as the app's user; Ctrl-C typed there interrupts the command
// running in the shell, not stackctl; the shell's exit status comes back.
func testExecOnTerminal(t *testing.T, path string) string {
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptm.Close()
	defer tty.Close()
	var screen testutil.SyncBuffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	ios := &ui.IOStreams{In: tty, Out: tty, ErrOut: tty, InTTY: true, OutTTY: true, ErrTTY: true}
	done := make(chan error, 1)
	go func() {
		done <- runExec(context.Background(), &execOptions{IO: ios, Config: path, Argv: []string{"sh"}})
	}()
	waitFor(t, 30*time.Second, "the remote shell's prompt", func() bool { return strings.Contains(screen.String(), "$ ") })
	ptm.WriteString("echo user=$(id -un) term=$(tty); sleep 60; echo after-sleep\r")
	waitFor(t, 15*time.Second, "the shell to run the line", func() bool { return strings.Contains(screen.String(), "term=/dev/pts/") })
	ptm.WriteString("\x03")
	waitFor(t, 15*time.Second, "Ctrl-C to stop sleep", func() bool { return strings.Count(screen.String(), "$ ") >= 2 })
	ptm.WriteString("exit 4\r")
	select {
	case err := <-done:
		var ee *ui.ExitError
		if !errors.As(err, &ee) || ee.Code != 4 {
			t.Errorf("exec -- sh on a terminal: %v, want exit status 4", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("exec -- sh did not end after exit 4; the screen:\n%s", screen.String())
	}
	out := screen.String()
	if !strings.Contains(out, "user=myapp term=/dev/pts/") {
		t.Errorf("the terminal session:\n%s", out)
	}
	if strings.Count(out, "after-sleep") > 1 {
		t.Errorf("Ctrl-C did not interrupt sleep:\n%s", out)
	}
	return out
}
