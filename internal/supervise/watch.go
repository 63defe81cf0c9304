package supervise

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long a Watcher waits for changes to stop before it
// reports them: an editor's save or a `git checkout` is one reload.
const DefaultDebounce = 150 * time.Millisecond

// Watcher reports changes under a project's watched paths, recursively,
// new folders included, leaving out what an Ignore matches. Changes come in
// batches once the files have been quiet for the debounce time.
type Watcher struct {
	fs     *fsnotify.Watcher
	root   string
	trees  []string        // absolute folders watched recursively
	files  map[string]bool // absolute files watched on their own
	ignore *Ignore
	skip   map[string]bool // absolute files never reported
}

// WatchSpec says what a Watcher watches.
type WatchSpec struct {
	// Root is the project folder; Paths and Ignore are relative to it.
	Root string
	// Paths are folders (watched recursively) and files (app.watch).
	Paths []string
	// Ignore filters changes (app.ignore plus the fixed rules).
	Ignore *Ignore
	// Files are single files watched whatever Paths and Ignore say (stack.toml).
	Files []string
	// Skip are files never reported (stack.toml for the app's watcher, which
	// serve handles itself).
	Skip []string
}

// NewWatcher starts watching what spec names. A watched path that does not
// exist is an error naming it.
func NewWatcher(spec WatchSpec) (*Watcher, error) {
	root, err := filepath.Abs(spec.Root)
	if err != nil {
		return nil, err
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("cannot watch files: %w", err)
	}
	w := &Watcher{fs: fw, root: root, files: map[string]bool{}, ignore: spec.Ignore, skip: map[string]bool{}}
	if w.ignore == nil {
		w.ignore = NewIgnore(nil)
	}
	for _, f := range spec.Skip {
		if abs, err := filepath.Abs(f); err == nil {
			w.skip[abs] = true
		}
	}
	watchedDirs := map[string]bool{}
	addDir := func(dir string) error {
		if watchedDirs[dir] {
			return nil
		}
		watchedDirs[dir] = true
		return fw.Add(dir)
	}
	for _, p := range spec.Paths {
		abs := p
		if !filepath.IsAbs(p) {
			abs = filepath.Join(root, p)
		}
		abs = filepath.Clean(abs)
		st, err := os.Stat(abs)
		if err != nil {
			fw.Close()
			return nil, fmt.Errorf("app.watch: %w", err)
		}
		if !st.IsDir() {
			w.files[abs] = true
			if err := addDir(filepath.Dir(abs)); err != nil {
				fw.Close()
				return nil, fmt.Errorf("cannot watch %s: %w", abs, err)
			}
			continue
		}
		w.trees = append(w.trees, abs)
		if err := w.addTree(abs, nil); err != nil {
			fw.Close()
			return nil, err
		}
		watchedDirs[abs] = true
	}
	for _, f := range spec.Files {
		abs, err := filepath.Abs(f)
		if err != nil {
			fw.Close()
			return nil, err
		}
		w.files[abs] = true
		if err := addDir(filepath.Dir(abs)); err != nil {
			fw.Close()
			return nil, fmt.Errorf("cannot watch %s: %w", abs, err)
		}
	}
	return w, nil
}

// addTree watches dir and every folder under it that is not ignored; found
// gets the files met on the way (for a folder that just appeared, whose
// files were written before the watch began).
func (w *Watcher) addTree(dir string, found *[]string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if p != dir && w.ignored(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			if found != nil {
				*found = append(*found, p)
			}
			return nil
		}
		if err := w.fs.Add(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return fmt.Errorf("cannot watch %s: %w", p, err)
		}
		return nil
	})
}

// ignored reports whether an absolute path is filtered by the Ignore rules.
func (w *Watcher) ignored(p string) bool {
	rel, err := filepath.Rel(w.root, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		// Outside the project (an absolute app.watch entry): judge the
		// path below its watched tree.
		for _, t := range w.trees {
			if r, err := filepath.Rel(t, p); err == nil && !strings.HasPrefix(r, "..") {
				return w.ignore.Match(r)
			}
		}
		return w.ignore.Match(filepath.Base(p))
	}
	return w.ignore.Match(rel)
}

// relevant reports whether a change to p is reported.
func (w *Watcher) relevant(p string) bool {
	if w.skip[p] {
		return false
	}
	if w.files[p] {
		return true
	}
	for _, t := range w.trees {
		if p == t || strings.HasPrefix(p, t+string(filepath.Separator)) {
			return !w.ignored(p)
		}
	}
	return false
}

// Run reports batches of changed paths (absolute, sorted) to fn until ctx
// ends, waiting until no change came for debounce (but at most ten times as
// long). fn runs on Run's goroutine. Run closes the Watcher when it returns.
func (w *Watcher) Run(ctx context.Context, debounce time.Duration, fn func(changed []string)) error {
	defer w.fs.Close()
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	// pending maps each changed path to whether it was created in this
	// batch: a file created and gone again by the end of the batch is an
	// editor's or an atomic save's temporary file, not a change.
	pending := map[string]bool{}
	var first time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fs.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod || !w.relevant(ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Lstat(ev.Name); err == nil && st.IsDir() {
					var found []string
					if err := w.addTree(ev.Name, &found); err == nil {
						for _, f := range found {
							pending[f] = true
						}
					}
				}
			}
			if len(pending) == 0 {
				first = time.Now()
			}
			created, seen := pending[ev.Name]
			pending[ev.Name] = created || !seen && ev.Has(fsnotify.Create)
			wait := min(debounce, time.Until(first.Add(10*debounce)))
			timer.Reset(max(wait, 0))
		case <-timer.C:
			if len(pending) == 0 {
				continue
			}
			batch := make([]string, 0, len(pending))
			for p, created := range pending {
				if created {
					if _, err := os.Lstat(p); err != nil {
						continue // temporary
					}
				}
				batch = append(batch, p)
			}
			sort.Strings(batch)
			clear(pending)
			if len(batch) > 0 {
				fn(batch)
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Too many changes to list: report the project as changed.
				if len(pending) == 0 {
					first = time.Now()
				}
				pending[w.root] = false
				timer.Reset(debounce)
				continue
			}
			return fmt.Errorf("watching files: %w", err)
		}
	}
}
