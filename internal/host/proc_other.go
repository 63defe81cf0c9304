//go:build !unix

package host

import "syscall"

// ownGroup is nil where process groups do not exist.
func ownGroup() *syscall.SysProcAttr { return nil }
