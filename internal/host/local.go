package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"

	"github.com/stackctl/stackctl/internal/ui"
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
	if !c.TTY {
		cmd.SysProcAttr = ownGroup() // Ctrl-C reaches stackctl, not the command
	}
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

// IsLocal reports whether h is this machine: messages then give commands
// to run here rather than over ssh.
func IsLocal(h Host) bool {
	_, ok := h.(Local)
	return ok
}

// CheckLocal checks that stackctl can run privileged commands on this
// machine: it runs as root, or sudo -n works without a password. The error
// says how to get there, as Dial does for a server.
func CheckLocal(ctx context.Context) error {
	if os.Geteuid() == 0 {
		return nil
	}
	name := "this user"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		return ui.WithFix(fmt.Errorf("this machine: %s is not root and sudo is not installed", name),
			"run stackctl as root, or as root: apt-get install sudo, and add the sudoers line "+sudoersLine(name))
	}
	out, err := Output(ctx, Local{}, false, "sudo", "-n", "true")
	if err == nil {
		return nil
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		return err
	}
	return ui.WithFix(fmt.Errorf("this machine: %s is not root and sudo asks for a password (%s)", name, strings.TrimSpace(out)),
		fmt.Sprintf("run it with sudo (sudo stackctl …), or allow %s without a password: run 'sudo visudo -f /etc/sudoers.d/%s' and add %s", name, name, sudoersLine(name)))
}
