//go:build unix

package supervise

import (
	"errors"
	"os/exec"
	"syscall"
)

// ownGroup makes cmd's process the leader of a new process group, so the
// app and everything it starts can be signalled together.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
}

// terminateGroup asks every process of the group led by pid to stop (SIGTERM).
func terminateGroup(pid int) error {
	return ignoreGone(syscall.Kill(-pid, syscall.SIGTERM))
}

// killGroup kills every process of the group led by pid (SIGKILL).
func killGroup(pid int) error {
	return ignoreGone(syscall.Kill(-pid, syscall.SIGKILL))
}

func ignoreGone(err error) error {
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
