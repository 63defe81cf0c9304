package supervise

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWatcherReportsRelevantChangesInBatches(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"sub", ".git", ".stackctl"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfgFile := filepath.Join(dir, "stack.toml")
	w, err := NewWatcher(WatchSpec{Root: dir, Paths: []string{"."}, Ignore: NewIgnore([]string{"*.log"}), Skip: []string{cfgFile}})
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan []string, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx, 50*time.Millisecond, func(b []string) { batches <- b }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	write := func(rel string) string {
		p := filepath.Join(dir, rel)
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	next := func(what string) []string {
		t.Helper()
		select {
		case b := <-batches:
			return b
		case <-time.After(10 * time.Second):
			t.Fatalf("no batch for %s", what)
			return nil
		}
	}
	expect := func(what string, want ...string) {
		t.Helper()
		if got := next(what); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: batch %q, want %q", what, got, want)
		}
	}

	expect("one file", write("main.go"))

	// Ignored changes come first; only the last change is reported.
	write("app.log")
	write(".git/index")
	write(".stackctl/app")
	write("main.go~")
	write(".main.go.swp")
	write("stack.toml")
	expect("ignored files then one file", write("sub/b.go"))

	// Several quick changes are one batch.
	a, b, c := write("a.go"), write("sub/c.go"), write("sub/d.go")
	expect("three quick changes", a, b, c)

	// A new folder is watched too, files written in it before the watch
	// began included.
	deep := filepath.Join(dir, "new", "deeper")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	first := write("new/deeper/e.go")
	got := next("a new folder")
	if !contains(got, first) && !contains(got, filepath.Join(dir, "new")) {
		t.Errorf("new folder: batch %q lacks %s", got, first)
	}
	expect("a file in the new folder", write("new/deeper/f.go"))

	// A temporary file created and renamed away in one batch (an atomic
	// save) is not reported; the file it replaced is.
	tmp := write(".main.go.tmp-123")
	if err := os.Rename(tmp, filepath.Join(dir, "main.go")); err != nil {
		t.Fatal(err)
	}
	expect("an atomic save", filepath.Join(dir, "main.go"))

	// Removing a file is a change.
	if err := os.Remove(filepath.Join(dir, "a.go")); err != nil {
		t.Fatal(err)
	}
	expect("a removed file", filepath.Join(dir, "a.go"))
}

func TestWatcherWatchesSingleFiles(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "stack.toml")
	os.WriteFile(cfgFile, nil, 0o644)
	w, err := NewWatcher(WatchSpec{Root: dir, Files: []string{cfgFile}})
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan []string, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx, 30*time.Millisecond, func(b []string) { batches <- b })
	os.WriteFile(filepath.Join(dir, "main.go"), nil, 0o644)
	// An editor saving by rename still counts.
	tmp := filepath.Join(dir, ".stack.toml.new")
	os.WriteFile(tmp, []byte("name = \"x\"\n"), 0o644)
	if err := os.Rename(tmp, cfgFile); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-batches:
		if !reflect.DeepEqual(b, []string{cfgFile}) {
			t.Errorf("batch %q, want only %s", b, cfgFile)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no batch for stack.toml")
	}
}

func TestWatcherMissingPath(t *testing.T) {
	_, err := NewWatcher(WatchSpec{Root: t.TempDir(), Paths: []string{"nope"}})
	if err == nil || !strings.Contains(err.Error(), "app.watch") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("error = %v, want one naming the missing path", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
