package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

// Change is one path that a deploy makes hold a given content: a regular
// file with Data and Mode, a symbolic link to Link, or nothing (Remove).
type Change struct {
	// Path is the absolute path on this machine (--root already applied).
	Path string
	// Label says what the path is in the summary ("systemd unit", "nginx site").
	Label string
	// Data and Mode are the file's content and permission bits.
	Data []byte
	Mode fs.FileMode
	// Link, when not empty, makes Path a symbolic link to Link.
	Link string
	// Remove makes Path absent.
	Remove bool
	// Dir makes Path a folder (0755); a rollback removes it when deploy
	// created it and it is empty again.
	Dir bool
}

// kind names what the Change makes Path.
func (c Change) kind() string {
	switch {
	case c.Remove:
		return "none"
	case c.Link != "":
		return "link"
	case c.Dir:
		return "dir"
	default:
		return "file"
	}
}

// current reads what is at path now, without following a final symlink.
func current(path string) (state, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{Kind: "none"}, nil
	}
	if err != nil {
		return state{}, err
	}
	s := state{Mode: st.Mode().Perm()}
	s.UID, s.GID, s.HasOwner = owner(st)
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		s.Kind = "link"
		s.Link, err = os.Readlink(path)
		return s, err
	case st.IsDir():
		s.Kind = "dir"
		return s, nil
	case st.Mode().IsRegular():
		s.Kind = "file"
		s.data, err = os.ReadFile(path)
		return s, err
	default:
		return state{}, fmt.Errorf("%s is a %s, not a file deploy can replace: move it away", path, st.Mode().Type())
	}
}

// state is what a path held before a deploy touched it, as recorded in a
// backup's manifest.
type state struct {
	Path     string      `json:"path"`
	Kind     string      `json:"kind"` // "file", "link", "dir" or "none"
	Mode     fs.FileMode `json:"mode,omitempty"`
	Link     string      `json:"link,omitempty"`
	UID      int         `json:"uid,omitempty"`
	GID      int         `json:"gid,omitempty"`
	HasOwner bool        `json:"has_owner,omitempty"`
	// Blob is the file holding the old content, relative to the backup folder.
	Blob string `json:"blob,omitempty"`

	data []byte
}

// unchanged reports whether applying c would leave the path as it is.
func (s state) unchanged(c Change) bool {
	switch c.kind() {
	case "none":
		return s.Kind == "none"
	case "link":
		return s.Kind == "link" && s.Link == c.Link
	case "dir":
		return s.Kind == "dir"
	default:
		return s.Kind == "file" && s.Mode == c.Mode.Perm() && bytes.Equal(s.data, c.Data)
	}
}

// manifest is a backup folder's index: every path the deploy touched, what
// it held before, and the folders the deploy created.
type manifest struct {
	Service     string   `json:"service"`
	Created     string   `json:"created"`
	Entries     []state  `json:"entries"`
	CreatedDirs []string `json:"created_dirs,omitempty"`
}

const (
	manifestName  = "manifest.json"
	rolledBackTag = ".rolled-back"
)

// Pending is a Change together with what its path holds now.
type Pending struct {
	Change
	before state
}

// Existed reports whether the path held something before.
func (p Pending) Existed() bool { return p.before.Kind != "none" }

// Before returns the current content of a file ("" for links and absent paths).
func (p Pending) Before() []byte { return p.before.data }

// BeforeLink returns the current link target, when the path is a link.
func (p Pending) BeforeLink() string { return p.before.Link }

// Diff compares each Change with what is on disk and returns those that
// would change something, in order. Unchanged paths are left out, which is
// what makes a repeated deploy a no-op.
func Diff(changes []Change) ([]Pending, error) {
	var out []Pending
	seen := map[string]bool{}
	for _, c := range changes {
		if !filepath.IsAbs(c.Path) || filepath.Clean(c.Path) != c.Path {
			return nil, fmt.Errorf("internal: change path %q is not clean and absolute", c.Path)
		}
		if seen[c.Path] {
			return nil, fmt.Errorf("internal: %s is written twice", c.Path)
		}
		seen[c.Path] = true
		s, err := current(c.Path)
		if err != nil {
			return nil, err
		}
		if s.unchanged(c) {
			continue
		}
		s.Path = c.Path
		out = append(out, Pending{Change: c, before: s})
	}
	return out, nil
}

// Txn is an applied set of changes and the backup that undoes it.
type Txn struct {
	// Dir is the timestamped backup folder.
	Dir string
	m   manifest
}

// Apply backs up every path in pending into a new timestamped folder under
// backupsDir, then writes the changes. If a write fails, what was already
// written is restored and the error returned.
func Apply(pending []Pending, backupsDir, service string) (*Txn, error) {
	if err := os.MkdirAll(backupsDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the backup folder: %w", err)
	}
	now := time.Now().UTC()
	dir, err := os.MkdirTemp(backupsDir, now.Format("20060102T150405.000000000Z")+"-")
	if err != nil {
		return nil, fmt.Errorf("create the backup folder: %w", err)
	}
	t := &Txn{Dir: dir, m: manifest{Service: service, Created: now.Format(time.RFC3339Nano)}}
	// Record every old state, content included, before touching anything.
	for i, p := range pending {
		s := p.before
		if s.Kind == "file" {
			s.Blob = fmt.Sprintf("files/%03d", i)
			if err := writeNew(filepath.Join(dir, s.Blob), s.data, 0o600); err != nil {
				return nil, fmt.Errorf("back up %s: %w", s.Path, err)
			}
		}
		t.m.Entries = append(t.m.Entries, s)
	}
	// Folders to create are recorded too, so a rollback removes them.
	var dirs []string
	for _, p := range pending {
		if p.Remove {
			continue
		}
		parent := filepath.Dir(p.Path)
		if p.Dir {
			parent = p.Path
		}
		missing, err := missingDirs(parent)
		if err != nil {
			return nil, err
		}
		for _, d := range missing {
			if !contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	t.m.CreatedDirs = dirs
	if err := t.saveManifest(); err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return t, t.undoAfter(fmt.Errorf("create %s: %w", d, err))
		}
	}
	for _, p := range pending {
		if err := write(p.Change); err != nil {
			return t, t.undoAfter(err)
		}
	}
	return t, nil
}

// undoAfter restores the backup after a failed write and returns the
// write's error, joined with any restore problem.
func (t *Txn) undoAfter(err error) error {
	if rerr := t.Rollback(); rerr != nil {
		return errors.Join(err, fmt.Errorf("restoring the backup failed too: %w", rerr))
	}
	return err
}

func (t *Txn) saveManifest() error {
	data, err := json.MarshalIndent(t.m, "", "  ")
	if err != nil {
		return err
	}
	return stack.WriteFileAtomic(filepath.Join(t.Dir, manifestName), append(data, '\n'), 0o600)
}

// Rollback restores every path the transaction touched to its old state,
// byte for byte, removes what did not exist and the folders it created,
// and marks the backup as rolled back.
func (t *Txn) Rollback() error {
	var errs []error
	for i := len(t.m.Entries) - 1; i >= 0; i-- {
		if err := t.restore(t.m.Entries[i]); err != nil {
			errs = append(errs, err)
		}
	}
	// Deepest first; a folder someone else filled meanwhile stays.
	dirs := append([]string(nil), t.m.CreatedDirs...)
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) && !isNotEmpty(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !strings.HasSuffix(t.Dir, rolledBackTag) {
		if err := os.Rename(t.Dir, t.Dir+rolledBackTag); err != nil {
			return err
		}
		t.Dir += rolledBackTag
	}
	return nil
}

// Paths lists the paths the transaction touched.
func (t *Txn) Paths() []string {
	out := make([]string, len(t.m.Entries))
	for i, e := range t.m.Entries {
		out[i] = e.Path
	}
	return out
}

func (t *Txn) restore(s state) error {
	switch s.Kind {
	case "none":
		if err := os.Remove(s.Path); err != nil && !errors.Is(err, fs.ErrNotExist) && !isNotEmpty(err) {
			return fmt.Errorf("remove %s: %w", s.Path, err)
		}
		return nil
	case "dir":
		return nil // a folder that existed is never removed
	case "link":
		if err := write(Change{Path: s.Path, Link: s.Link}); err != nil {
			return err
		}
	case "file":
		data, err := os.ReadFile(filepath.Join(t.Dir, s.Blob))
		if err != nil {
			return fmt.Errorf("read the backup of %s: %w", s.Path, err)
		}
		if err := write(Change{Path: s.Path, Data: data, Mode: s.Mode}); err != nil {
			return err
		}
	default:
		return fmt.Errorf("backup of %s: unknown kind %q", s.Path, s.Kind)
	}
	if s.HasOwner && os.Geteuid() == 0 {
		if err := os.Lchown(s.Path, s.UID, s.GID); err != nil {
			return err
		}
	}
	return nil
}

// write makes c.Path hold c: a file or link is created beside it under a
// temporary name and renamed into place, so the path is never half-written.
func write(c Change) error {
	switch c.kind() {
	case "none":
		if err := os.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", c.Path, err)
		}
		return nil
	case "dir":
		if err := os.Mkdir(c.Path, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", c.Path, err)
		}
		return nil
	case "link":
		tmp := filepath.Join(filepath.Dir(c.Path), fmt.Sprintf(".%s.tmp-%d", filepath.Base(c.Path), time.Now().UnixNano()))
		if err := os.Symlink(c.Link, tmp); err != nil {
			return fmt.Errorf("link %s: %w", c.Path, err)
		}
		if err := os.Rename(tmp, c.Path); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("link %s: %w", c.Path, err)
		}
		return nil
	default:
		if st, err := os.Lstat(c.Path); err == nil && st.IsDir() {
			return fmt.Errorf("%s is a folder: move it away", c.Path)
		}
		return stack.WriteFileAtomic(c.Path, c.Data, c.Mode.Perm())
	}
}

// writeNew writes a file that must not exist yet, creating its folder.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return stack.WriteFileExclusive(path, data, perm)
}

// missingDirs returns dir and those of its parents that do not exist,
// outermost first.
func missingDirs(dir string) ([]string, error) {
	var out []string
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return nil, fmt.Errorf("%s is not a folder", d)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out = append([]string{d}, out...)
		if filepath.Dir(d) == d {
			break
		}
	}
	return out, nil
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// ErrNoBackup is returned by LastBackup when there is nothing to roll back.
var ErrNoBackup = errors.New("no deploy to roll back")

// LastBackup opens the newest backup under backupsDir that was not rolled
// back yet.
func LastBackup(backupsDir string) (*Txn, error) {
	ents, err := os.ReadDir(backupsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoBackup
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasSuffix(e.Name(), rolledBackTag) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, ErrNoBackup
	}
	sort.Strings(names) // names start with a sortable UTC timestamp
	return OpenBackup(filepath.Join(backupsDir, names[len(names)-1]))
}

// OpenBackup reads the backup folder dir.
func OpenBackup(dir string) (*Txn, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, fmt.Errorf("read the backup %s: %w", dir, err)
	}
	t := &Txn{Dir: dir}
	if err := json.Unmarshal(data, &t.m); err != nil {
		return nil, fmt.Errorf("read the backup %s: %w", dir, err)
	}
	return t, nil
}
