//go:build !unix

package deploy

import "github.com/stackctl/stackctl/internal/host"

// staleHolder never judges a holder stale where processes cannot be asked.
func staleHolder(by string, pid int) bool { return false }

// liveHolder cannot tell a live holder where processes cannot be asked.
func liveHolder(by string, pid int) bool { return false }

// faultPoint is a step boundary (a failpoint on unix only).
func faultPoint(step string, h host.Host) {}
