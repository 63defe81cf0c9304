package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Local is the machine stackctl runs on.
type Local struct{}

// Name implements Host.
func (Local) Name() string { return "this machine" }

// Run implements Host: the command runs directly, through `sudo -n` when
// Root is asked and stackctl does not run as root.
func (l Local) Run(ctx context.Context, c Cmd) error {
	argv := c.Argv
	if c.Root && os.Geteuid() != 0 {
		argv = append([]string{"sudo", "-n", "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: interrupted: %w", l.Name(), ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Host: l.Name(), Argv: c.Argv, Status: ee.ExitCode()}
	}
	return err
}

// Close implements Host.
func (Local) Close() error { return nil }
