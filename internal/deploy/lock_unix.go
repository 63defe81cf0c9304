//go:build unix

package deploy

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/stackctl/stackctl/internal/host"
)

// staleHolder tells whether the process that took a host's lock (by
// "user@machine", pid) is gone: it ran on this machine and no process has
// its pid now (SIGKILL, a crash). A holder elsewhere is never judged stale.
func staleHolder(by string, pid int) bool {
	return ranHere(by, pid) && syscall.Kill(pid, 0) == syscall.ESRCH
}

// liveHolder tells whether the process that took a lock runs on this
// machine now.
func liveHolder(by string, pid int) bool {
	return ranHere(by, pid) && syscall.Kill(pid, 0) != syscall.ESRCH
}

// ranHere tells whether a lock's taker (by "user@machine", pid) ran on
// this machine.
func ranHere(by string, pid int) bool {
	hn, _ := os.Hostname()
	_, machine, ok := strings.Cut(by, "@")
	return ok && machine == hn && pid > 0
}

// faultEnv names a step boundary of a deploy or a rollback at which the
// process fails on purpose: a failpoint for the crash-safety tests, which
// cut a real command at each boundary. Unset, it does nothing.
const faultEnv = "STACKCTL_FAULT_AT"

// faultModeEnv says how the command fails at the boundary faultEnv names:
// unset, the process kills itself with SIGKILL; "drop", it kills the SSH
// control master of the host it works on instead, as a dropped connection
// would, and goes on (its next remote call connects anew, or fails).
const faultModeEnv = "STACKCTL_FAULT_MODE"

// faultPoint is a step boundary on host h: the command dies here, or
// loses its connection to h, when faultEnv names step.
func faultPoint(step string, h host.Host) {
	if os.Getenv(faultEnv) != step {
		return
	}
	if os.Getenv(faultModeEnv) == "drop" {
		k, ok := h.(interface{ KillMaster() error })
		err := errors.New("not an SSH host")
		if ok {
			err = k.KillMaster()
		}
		fmt.Fprintf(os.Stderr, "fault: dropped the connection to %s at %s: %v\n", h.Name(), step, err)
		return
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
