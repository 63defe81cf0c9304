package hosttest

import "syscall"

// sessionAttr starts nspawn in its own session (a terminal's signals do
// not reach it), killed with the test binary if that dies without running
// cleanups.
func sessionAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the process group pid leads.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
