package stack

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// WriteFileExclusive never replaces a file (init's path on file systems
// without hard links).
func TestWriteExclusive(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFileExclusive(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileExclusive(path, []byte("two"), 0o644); !errors.Is(err, os.ErrExist) {
		t.Errorf("second write: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Errorf("file holds %q", b)
	}
}
