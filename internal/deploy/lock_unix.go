//go:build unix

package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/stackctl/stackctl/internal/ui"
)

// lock takes an exclusive lock on dir/lock so two deploys of one project
// never interleave; the returned function releases it.
func lock(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, ui.WithFix(fmt.Errorf("another deploy of this project is running (%s is locked)", f.Name()), "wait for it to finish")
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
