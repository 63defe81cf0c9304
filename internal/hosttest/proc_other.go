//go:build !linux

package hosttest

import "syscall"

// sessionAttr: the test servers need Linux (systemd-nspawn); elsewhere
// Start skips before anything is started.
func sessionAttr() *syscall.SysProcAttr { return nil }

func killGroup(int) {}
