package supervise

import (
	"path"
	"path/filepath"
	"strings"
)

// alwaysIgnoredDirs are folders whose changes never reload the app: version
// control, serve's own build output, the virtualenv and Python's caches.
var alwaysIgnoredDirs = []string{".git", ".hg", ".svn", ".stackctl", ".venv", "__pycache__", "node_modules"}

// editorTempFiles are the files editors write next to the one being saved.
var editorTempFiles = []string{
	"*~",         // emacs, gedit backups
	"#*#", ".#*", // emacs autosave and lock files
	".*.swp", ".*.swx", ".*.swo", // vim swap files
	"4913",                           // vim's probe that a folder is writable
	"*___jb_tmp___", "*___jb_old___", // JetBrains safe write
	".goutputstream-*", // GNOME's atomic save
}

// Ignore decides which changed paths reload the app.
type Ignore struct {
	patterns []string
}

// NewIgnore returns the rules for app.ignore's glob patterns on top of the
// folders and editor files that are always ignored. A pattern without a
// slash ("*.log", "tmp") matches the name of a file or folder at any depth,
// and everything under a matching folder; a pattern with a slash
// ("static/gen/*.css") matches the path from the project folder.
func NewIgnore(patterns []string) *Ignore {
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		p = strings.Trim(filepath.ToSlash(p), "/")
		p = strings.TrimPrefix(p, "./")
		if p != "" {
			out = append(out, p)
		}
	}
	return &Ignore{patterns: out}
}

// Match reports whether rel, a path relative to the project folder, is
// ignored.
func (ig *Ignore) Match(rel string) bool {
	rel = filepath.ToSlash(filepath.Clean(rel))
	if rel == "." {
		return false
	}
	parts := strings.Split(rel, "/")
	for _, part := range parts {
		for _, d := range alwaysIgnoredDirs {
			if part == d {
				return true
			}
		}
	}
	base := parts[len(parts)-1]
	for _, g := range editorTempFiles {
		if ok, _ := path.Match(g, base); ok {
			return true
		}
	}
	for _, p := range ig.patterns {
		if !strings.Contains(p, "/") {
			for _, part := range parts {
				if ok, _ := path.Match(p, part); ok {
					return true
				}
			}
			continue
		}
		// A path pattern matches the path itself or any folder above it.
		for i := len(parts); i > 0; i-- {
			if ok, _ := path.Match(p, strings.Join(parts[:i], "/")); ok {
				return true
			}
		}
	}
	return false
}
