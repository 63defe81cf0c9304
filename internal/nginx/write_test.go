package nginx_test

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/stackctl/stackctl/internal/nginx"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "site.conf")

	res, err := WriteFile(p, []byte("one\n"))
	if err != nil || !res.Changed || res.Backup != "" {
		t.Fatalf("first write: %+v %v", res, err)
	}
	st1, _ := os.Stat(p)

	res, err = WriteFile(p, []byte("one\n"))
	if err != nil || res.Changed {
		t.Fatalf("same content must not be rewritten: %+v %v", res, err)
	}
	st2, _ := os.Stat(p)
	if !os.SameFile(st1, st2) {
		t.Errorf("unchanged file was replaced")
	}
	if _, err := os.Stat(p + ".bak"); !os.IsNotExist(err) {
		t.Errorf("no backup for an unchanged file: %v", err)
	}

	res, err = WriteFile(p, []byte("two\n"))
	if err != nil || !res.Changed || res.Backup != p+".bak" {
		t.Fatalf("changed write: %+v %v", res, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two\n" {
		t.Errorf("new content %q", b)
	}
	if b, _ := os.ReadFile(p + ".bak"); string(b) != "one\n" {
		t.Errorf("backup %q, want the previous version", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	if _, err := WriteFile(filepath.Join(dir, "missing", "site.conf"), []byte("x")); err == nil {
		t.Errorf("writing into a missing folder must fail")
	}
}
