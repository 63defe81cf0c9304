package detect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// ErrExists is returned by WriteNew when the file is already there.
var ErrExists = errors.New("already exists")

// CheckNew returns an error wrapping ErrExists when path exists.
func CheckNew(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return ui.WithFix(fmt.Errorf("%s %w: init never overwrites it", path, ErrExists), "edit it, or remove it and run init again")
	}
	return nil
}

// WriteNew validates c and writes it as a commented stack.toml at path,
// atomically and never over an existing file: a temporary file beside path
// is linked into place, which fails if path exists, even if another
// process created it a moment ago.
func WriteNew(path string, c *stack.Config) error {
	if err := CheckNew(path); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	data, err := c.Encode()
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".init-tmp")
	os.Remove(tmp)
	if err := stack.WriteFileAtomic(tmp, data, 0o644); err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	if err != nil && !errors.Is(err, os.ErrExist) {
		// No hard links here (some FUSE and FAT file systems): create the
		// file exclusively instead, which also never replaces one.
		err = stack.WriteFileExclusive(path, data, 0o644)
	}
	if errors.Is(err, os.ErrExist) {
		return ui.WithFix(fmt.Errorf("%s %w: init never overwrites it", path, ErrExists), "edit it, or remove it and run init again")
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
