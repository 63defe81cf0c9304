package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/ui"
)

// ExecOptions are the inputs of `stackctl exec`.
type ExecOptions struct {
	HostsOptions
	// Argv is the command to run in the current release.
	Argv []string
	// TTY runs it on a terminal (systemd-run --pty over ssh -tt).
	TTY bool
	// AsRoot runs it as root instead of deploy.user.
	AsRoot bool
	// Stdin, Stdout and Stderr are the command's streams (with TTY, the
	// terminal's output arrives on Stdout).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Warn gets the loud notice of AsRoot.
	Warn io.Writer
}

// ExitStatusError is a command run by Exec that exited with Status.
type ExitStatusError struct {
	Host   string
	Status int
}

func (e *ExitStatusError) Error() string {
	return fmt.Sprintf("%s: the command exited with status %d", e.Host, e.Status)
}

// Exec runs a command on the first host of o, in its current release, as
// deploy.user (root with AsRoot) with the app's environment: app.env and
// the secrets, loaded by systemd from their root-only files, as the app's
// slots load them. The command runs as a transient unit (systemd-run, the
// way release_command runs), so it gets the app's user and environment
// without the values ever being on a command line. A command that exits
// non-zero returns an *ExitStatusError with its status.
//
// Ctrl-C: on a terminal it reaches the remote command through the
// terminal (ssh puts the local one in raw mode); without one, a cancelled
// ctx sends SIGINT to the command's unit and waits for it to end.
func Exec(ctx context.Context, o ExecOptions) error {
	f, err := newReadOnlyFleet(o.HostsOptions)
	if err != nil {
		return err
	}
	if len(o.Argv) == 0 {
		return ui.Usagef("stackctl exec [--host DEST] -- CMD [ARG…]", "exec needs a command after --")
	}
	r := &hostRun{fleet: f, h: o.Hosts[0]}
	if err := r.probe(ctx); err != nil {
		return err
	}
	if r.state.Current == "" {
		return ui.Errorf("deploy first: stackctl deploy", "%s: %s has no current release to run a command in", r.h.Name(), f.c.Name)
	}
	var suffix [4]byte
	rand.Read(suffix[:])
	unit := r.l.Service + "-exec-" + hex.EncodeToString(suffix[:]) + ".service"
	if o.AsRoot && o.Warn != nil {
		fmt.Fprintf(o.Warn, "%s\n", f.p.Red(fmt.Sprintf("WARNING: running as ROOT on %s (--root), not as %s: the command can change anything there", r.h.Name(), f.c.Deploy.User)))
	}
	var env []string
	if o.TTY {
		env = append(env, "TERM=xterm-256color")
	}
	argv := appRunArgv(f.c, r.l, r.state.Current, unit, o.TTY, o.AsRoot, env, o.Argv)

	// The command runs on a context that Ctrl-C does not cancel: a cancel
	// is forwarded as SIGINT to the unit instead of cutting the session.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- r.h.Run(runCtx, host.Cmd{Argv: argv, Root: true, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, TTY: o.TTY})
	}()
	finished := false
	select {
	case err = <-done:
		finished = true
	case <-ctx.Done():
	}
	if ctx.Err() != nil {
		// Ctrl-C without a terminal: ssh may have had the SIGINT too and
		// be gone already, so the command gets it from systemd, and
		// stackctl waits (bounded) for it to end.
		kctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		host.Output(kctx, r.h, true, "systemctl", "kill", "--signal=SIGINT", unit)
		if !finished {
			select {
			case err = <-done:
			case <-kctx.Done():
				sctx, scancel := context.WithTimeout(context.Background(), 35*time.Second)
				host.Output(sctx, r.h, true, "systemctl", "stop", unit)
				scancel()
				stop()
				err = <-done
			}
		}
		// ssh killed by the SIGINT itself has no exit status (-1).
		var ee *host.ExitError
		if !errors.As(err, &ee) || ee.Status < 0 {
			return fmt.Errorf("%s: interrupted (SIGINT sent to the command): %w", r.h.Name(), ctx.Err())
		}
	}
	var ee *host.ExitError
	if errors.As(err, &ee) {
		return &ExitStatusError{Host: r.h.Name(), Status: ee.Status}
	}
	return err
}
