//go:build !unix

package host

import (
	"errors"
	"syscall"
)

// ownGroup is nil where process groups do not exist.
func ownGroup() *syscall.SysProcAttr { return nil }

// KillMaster is not supported where signals are not.
func (s *SSH) KillMaster() error { return errors.New("killing the control master needs unix signals") }

// dropStaleSocket does nothing where unix sockets are not the rule.
func (s *SSH) dropStaleSocket() {}
