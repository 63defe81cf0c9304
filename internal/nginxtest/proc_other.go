//go:build !unix

package nginxtest

import "os/exec"

// ownProcessGroup does nothing where there are no process groups.
func ownProcessGroup(cmd *exec.Cmd) {}

// terminate stops nginx; without signals it can only be killed.
func terminate(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// killProcessGroup kills nginx's master.
func killProcessGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
