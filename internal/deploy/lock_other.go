//go:build !unix

package deploy

import (
	"fmt"
	"os"

	"github.com/stackctl/stackctl/internal/host"
)

// lock only creates dir where file locks are not available.
func lock(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	return func() {}, nil
}

// staleHolder never judges a holder stale where processes cannot be asked.
func staleHolder(by string, pid int) bool { return false }

// faultPoint is a step boundary (a failpoint on unix only).
func faultPoint(step string, h host.Host) {}
