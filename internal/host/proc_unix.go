//go:build unix

package host

import "syscall"

// ownGroup puts a command in a process group of its own: the terminal's
// Ctrl-C (sent to its foreground group) reaches stackctl only, which
// reverts through commands a second Ctrl-C then cannot cut.
func ownGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
