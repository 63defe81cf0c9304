//go:build unix

package nginxtest

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts nginx in a process group of its own, so its
// workers can be killed with it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// terminate asks nginx's master to stop (fast shutdown).
func terminate(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
}

// killProcessGroup kills nginx's master and workers.
func killProcessGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
