package nginx

import (
	"bytes"
	"errors"
	"io/fs"
	"os"

	"github.com/stackctl/stackctl/internal/stack"
)

// WriteResult says what WriteFile did.
type WriteResult struct {
	// Changed is false when the file already held exactly this site and
	// was left alone.
	Changed bool
	// Backup is the path the previous, different version was copied to
	// (path + ".bak"); empty when there was no previous file.
	Backup string
}

// WriteFile installs site at path without ever leaving a partial file: an
// unchanged file is not rewritten; a different one is first copied to
// path.bak, then replaced atomically (temporary file + rename).
func WriteFile(path string, site []byte) (WriteResult, error) {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, site):
		return WriteResult{}, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return WriteResult{}, err
	}
	var res WriteResult
	if err == nil {
		res.Backup = path + ".bak"
		if err := stack.WriteFileAtomic(res.Backup, old, 0o644); err != nil {
			return WriteResult{}, err
		}
	}
	if err := stack.WriteFileAtomic(path, site, 0o644); err != nil {
		return WriteResult{}, err
	}
	res.Changed = true
	return res, nil
}
