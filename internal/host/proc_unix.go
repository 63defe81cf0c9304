//go:build unix

package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ownGroup puts a command in a process group of its own: the terminal's
// Ctrl-C (sent to its foreground group) reaches stackctl only, which
// reverts through commands a second Ctrl-C then cannot cut.
func ownGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// KillMaster kills the connection's control master with SIGKILL, as a
// dropped network connection ends it: commands running on it fail, and
// later commands connect anew (with the same checks). The crash-safety
// tests use it (STACKCTL_FAULT_MODE=drop).
func (s *SSH) KillMaster() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	args := append(s.baseArgs(), "-O", "check", "--", s.dest.Host)
	out, _ := exec.CommandContext(ctx, "ssh", args...).CombinedOutput()
	// "Master running (pid=1234)"
	_, rest, ok := strings.Cut(string(out), "(pid=")
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), ")")))
	if !ok || err != nil || pid <= 0 {
		return fmt.Errorf("%s: no control master answers: %s", s.name, strings.TrimSpace(string(out)))
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	// Return once the connection is gone (the master's socket no longer
	// accepts), as it is after a drop: not while the master is dying.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("unix", s.controlPath())
		if err != nil {
			return nil
		}
		c.Close()
	}
	return fmt.Errorf("%s: the control master (pid %d) still answers after SIGKILL", s.name, pid)
}

// dropStaleSocket removes the control socket when no master listens on
// it: a master that died without removing it (killed, crashed) leaves it
// behind, and every later ssh then writes "Control socket connect(…):
// Connection refused" into the command's output — shown as the cause when
// that command fails — before it connects anew.
func (s *SSH) dropStaleSocket() {
	c, err := net.Dial("unix", s.controlPath())
	if err == nil {
		c.Close()
		return
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		os.Remove(s.controlPath())
	}
}
