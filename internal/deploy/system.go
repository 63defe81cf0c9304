package deploy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
)

// System is how deploy reaches the machine besides files: finding and
// running programs, and whether systemd runs it. Tests replace parts of it.
type System struct {
	// LookPath finds a program ("nginx", "systemd-analyze", "certbot").
	LookPath func(name string) (string, error)
	// Run runs a program in dir and returns its combined output.
	Run func(ctx context.Context, dir, name string, args ...string) ([]byte, error)
	// SystemdRunning reports whether systemd is this machine's init.
	SystemdRunning func() bool
	// Interactive runs a program on the user's terminal (certbot may ask
	// for an e-mail address and agreement to its terms); nil uses Run.
	Interactive func(ctx context.Context, argv []string) error
}

// RealSystem is the System of the machine stackctl runs on.
func RealSystem() System {
	return System{LookPath: lookPath, Run: runCommand, SystemdRunning: systemdRunning, Interactive: runInteractive}
}

// lookPath is exec.LookPath that also looks in the sbin folders, which a
// non-root PATH often lacks although nginx lives there.
func lookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		cand := dir + "/" + name
		if st, serr := os.Stat(cand); serr == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", err
}

func runCommand(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.Bytes(), err
}

func runInteractive(ctx context.Context, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return &CommandError{Argv: argv, Err: err}
	}
	return nil
}

// systemdRunning is sd_booted(): systemd creates /run/systemd/system when
// it is PID 1.
func systemdRunning() bool {
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// CommandError is a program that failed, with what it printed.
type CommandError struct {
	Argv   []string
	Output string
	Err    error
}

func (e *CommandError) Error() string {
	out := strings.TrimSpace(e.Output)
	if out == "" {
		return strings.Join(e.Argv, " ") + ": " + e.Err.Error()
	}
	return strings.Join(e.Argv, " ") + ": " + out
}

func (e *CommandError) Unwrap() error { return e.Err }

// run runs argv and wraps a failure in a *CommandError.
func (s System) run(ctx context.Context, dir string, argv ...string) (string, error) {
	out, err := s.Run(ctx, dir, argv[0], argv[1:]...)
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return string(out), &CommandError{Argv: argv, Err: err}
		}
		return string(out), &CommandError{Argv: argv, Output: string(out), Err: err}
	}
	return string(out), nil
}
