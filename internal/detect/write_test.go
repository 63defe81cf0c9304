package detect

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
)

func TestWriteNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, stack.FileName)
	c := stack.Default("shop", "flask")
	if err := WriteNew(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := stack.Load(path)
	if err != nil || got.Name != "shop" || got.App.WSGI != "wsgi:app" {
		t.Fatalf("load back: %v %+v", err, got)
	}
	before, _ := os.ReadFile(path)
	c.Name = "other"
	if err := WriteNew(path, c); !errors.Is(err, ErrExists) {
		t.Errorf("second write: %v, want ErrExists", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the second write changed the file")
	}
	// An invalid Config is not written.
	bad := stack.Default("x", "django") // no app.wsgi
	other := filepath.Join(dir, "sub", stack.FileName)
	os.Mkdir(filepath.Dir(other), 0o755)
	if err := WriteNew(other, bad); err == nil {
		t.Error("an invalid Config was written")
	}
	for _, d := range []string{dir, filepath.Dir(other)} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.Name() != stack.FileName && e.Name() != "sub" {
				t.Errorf("left behind in %s: %s", d, e.Name())
			}
		}
	}
}
