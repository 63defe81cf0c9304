package host_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/hosttest"
)

// A remote command's own exit status 255 is its status, not an SSH
// failure, with or without a terminal, and what it printed reaches the
// caller byte for byte; a connection that really drops is still an SSH
// failure.
func TestSSHExitStatus255(t *testing.T) {
	t.Parallel()
	cl := hosttest.Start(t, "web1")
	ctx := context.Background()
	h, err := host.Dial(ctx, "web1", host.SSHOptions{Config: cl.SSHConfig})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	out, err := host.Output(ctx, h, false, "sh", "-c", "echo out; printf 'err, no newline' >&2; exit 255")
	var ee *host.ExitError
	if !errors.As(err, &ee) || ee.Status != 255 {
		t.Fatalf("exit 255: error %v (%T), want an *ExitError with status 255", err, err)
	}
	if out != "out\nerr, no newline" {
		t.Errorf("exit 255: output %q", out)
	}
	var stdout, stderr bytes.Buffer
	err = h.Run(ctx, host.Cmd{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 255"}, Root: true, Stdout: &stdout, Stderr: &stderr})
	if !errors.As(err, &ee) || ee.Status != 255 || stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("exit 255 as root: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	// Other statuses, and an ending that looks like the marker's start.
	stderr.Reset()
	err = h.Run(ctx, host.Cmd{Argv: []string{"sh", "-c", "printf '\\nstackctl: remote' >&2; exit 3"}, Stderr: &stderr})
	if !errors.As(err, &ee) || ee.Status != 3 || stderr.String() != "\nstackctl: remote" {
		t.Errorf("exit 3: %v, stderr %q", err, stderr.String())
	}
	if err := h.Run(ctx, host.Cmd{Argv: []string{"true"}}); err != nil {
		t.Errorf("true: %v", err)
	}
	// With a terminal.
	err = h.Run(ctx, host.Cmd{Argv: []string{"sh", "-c", "exit 255"}, TTY: true, Stdin: strings.NewReader(""), Stdout: &stdout})
	if !errors.As(err, &ee) || ee.Status != 255 {
		t.Errorf("exit 255 on a terminal: %v (%T), want status 255", err, err)
	}

	// The connection drops while a command runs: an SSH failure.
	go func() {
		time.Sleep(time.Second)
		h.Drop()
	}()
	err = h.Run(ctx, host.Cmd{Argv: []string{"sleep", "30"}})
	if err == nil || errors.As(err, &ee) || !strings.Contains(err.Error(), "the SSH connection failed") {
		t.Errorf("dropped connection: %v (%T), want an SSH failure", err, err)
	}
}
