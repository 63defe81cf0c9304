package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// snapshot records every path under root: kind, mode, link target and a
// hash of the content, skipping the folders named in skip (relative).
func snapshot(t *testing.T, root string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case info.IsDir():
			out[rel] = "dir " + info.Mode().Perm().String()
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			out[rel] = "file " + info.Mode().Perm().String() + " " + hex.EncodeToString(sum[:])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(a, b map[string]string) string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out strings.Builder
	for _, k := range keys {
		if a[k] != b[k] {
			out.WriteString(k + ": " + a[k] + " -> " + b[k] + "\n")
		}
	}
	return out.String()
}

func mustWrite(t *testing.T, p string, data string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// A transaction writes files, links and folders, and its rollback gives back
// exactly the tree that was there: old contents and modes, old link targets,
// and no trace of what did not exist.
func TestApplyRollbackRestoresTreeExactly(t *testing.T) {
	root := t.TempDir()
	backups := filepath.Join(t.TempDir(), "backups")
	mustWrite(t, filepath.Join(root, "etc/app.conf"), "old config\n", 0o640)
	mustWrite(t, filepath.Join(root, "etc/gone.txt"), "will be removed\n", 0o600)
	mustWrite(t, filepath.Join(root, "etc/avail/site.conf"), "old site\n", 0o644)
	if err := os.Symlink("/nowhere/old", filepath.Join(root, "etc/link")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)

	changes := []Change{
		{Path: filepath.Join(root, "etc/app.conf"), Data: []byte("new config\n"), Mode: 0o644},
		{Path: filepath.Join(root, "etc/gone.txt"), Remove: true},
		{Path: filepath.Join(root, "etc/link"), Link: filepath.Join(root, "etc/avail/site.conf")},
		{Path: filepath.Join(root, "srv/app/bin/app"), Data: []byte{0, 1, 2, 3}, Mode: 0o755},
		{Path: filepath.Join(root, "etc/enabled/site.conf"), Link: "../avail/site.conf"},
		{Path: filepath.Join(root, "var/www/acme"), Dir: true},
	}
	pending, err := Diff(changes)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != len(changes) {
		t.Fatalf("Diff found %d changes, want %d", len(pending), len(changes))
	}
	txn, err := Apply(pending, backups, "app")
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, root)
	for _, want := range []struct{ path, state string }{
		{"etc/link", "link " + filepath.Join(root, "etc/avail/site.conf")},
		{"etc/enabled/site.conf", "link ../avail/site.conf"},
		{"var/www/acme", "dir -rwxr-xr-x"},
	} {
		if after[want.path] != want.state {
			t.Errorf("after apply %s = %q, want %q", want.path, after[want.path], want.state)
		}
	}
	if _, ok := after["etc/gone.txt"]; ok {
		t.Error("etc/gone.txt still exists after apply")
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/app.conf")); string(got) != "new config\n" {
		t.Errorf("etc/app.conf = %q", got)
	}
	// Applying the same changes again changes nothing.
	again, err := Diff(changes)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("second Diff: %d pending changes, want 0 (first: %s)", len(again), again[0].Path)
	}

	if err := txn.Rollback(); err != nil {
		t.Fatal(err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); d != "" {
		t.Errorf("tree after rollback differs from before:\n%s", d)
	}
	if !strings.HasSuffix(txn.Dir, rolledBackTag) {
		t.Errorf("backup %s not marked as rolled back", txn.Dir)
	}
	if _, err := LastBackup(backups); err != ErrNoBackup {
		t.Errorf("LastBackup after rollback: %v, want ErrNoBackup", err)
	}
}

// LastBackup finds the newest backup on disk and restores from it, the
// way `deploy --rollback` does in a later process.
func TestLastBackupRestoresNewestDeploy(t *testing.T) {
	root := t.TempDir()
	backups := filepath.Join(t.TempDir(), "b")
	f := filepath.Join(root, "site.conf")
	for _, content := range []string{"v1\n", "v2\n", "v3\n"} {
		p, err := Diff([]Change{{Path: f, Data: []byte(content), Mode: 0o644}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Apply(p, backups, "app"); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"v2\n", "v1\n"} {
		txn, err := LastBackup(backups)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Rollback(); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(f); string(got) != want {
			t.Fatalf("after rollback: %q, want %q", got, want)
		}
	}
	txn, err := LastBackup(backups)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(f); !os.IsNotExist(err) {
		t.Errorf("the first deploy created %s; rolling it back must remove it (err=%v)", f, err)
	}
}

// A write that fails halfway restores what was already written.
func TestApplyFailureUndoesEarlierWrites(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a.conf")
	mustWrite(t, a, "old a\n", 0o644)
	// A folder where a file should go makes the second write fail.
	blocked := filepath.Join(root, "blocked")
	if err := os.Mkdir(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	pending, err := Diff([]Change{
		{Path: a, Data: []byte("new a\n"), Mode: 0o644},
		{Path: filepath.Join(root, "new/dir/b.conf"), Data: []byte("b\n"), Mode: 0o644},
	})
	if err != nil {
		t.Fatal(err)
	}
	pending = append(pending, Pending{Change: Change{Path: blocked, Data: []byte("x"), Mode: 0o644}, before: state{Path: blocked, Kind: "dir"}})
	_, err = Apply(pending, filepath.Join(t.TempDir(), "b"), "app")
	if err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Fatalf("Apply: err = %v, want the folder error", err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); d != "" {
		t.Errorf("a failed apply left changes:\n%s", d)
	}
}

func TestDiffRejectsDuplicateAndRelativePaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	if _, err := Diff([]Change{{Path: p, Data: []byte("1")}, {Path: p, Data: []byte("2")}}); err == nil {
		t.Error("two changes of one path: no error")
	}
	if _, err := Diff([]Change{{Path: "rel/x", Data: []byte("1")}}); err == nil {
		t.Error("a relative path: no error")
	}
	// A file whose mode alone differs is a change.
	mustWrite(t, p, "same", 0o600)
	got, err := Diff([]Change{{Path: p, Data: []byte("same"), Mode: 0o644}})
	if err != nil || len(got) != 1 {
		t.Errorf("mode change: %d pending, err %v; want 1", len(got), err)
	}
	if !bytes.Equal(got[0].Before(), []byte("same")) {
		t.Errorf("Before() = %q", got[0].Before())
	}
}

func TestPermissionFix(t *testing.T) {
	err := permissionFix(&fs.PathError{Op: "open", Path: "/etc/x", Err: fs.ErrPermission})
	if !strings.Contains(err.Error(), "sudo stackctl deploy") {
		t.Errorf("permission error: %v", err)
	}
	if other := permissionFix(fs.ErrNotExist); other != fs.ErrNotExist {
		t.Errorf("other errors must pass unchanged: %v", other)
	}
}
