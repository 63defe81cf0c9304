//go:build !unix

package supervise

import (
	"os"
	"os/exec"
)

// Process groups are a Unix feature: elsewhere serve signals the app's own
// process only (see DESIGN.md: Windows builds, process control is Unix's).

func ownGroup(cmd *exec.Cmd) {}

func terminateGroup(pid int) error { return killGroup(pid) }

func killGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	_ = p.Kill()
	return nil
}

func groupAlive(pgid int) bool { return false }
