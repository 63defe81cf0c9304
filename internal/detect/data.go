package detect

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
)

// DataPath is a project path init proposes for app.data: one the app
// writes, which on servers lives in the data folder /var/lib/<service>/
// and survives releases.
type DataPath struct {
	// Path is relative to the project: "instance", "media", "db.sqlite3".
	Path string
	// Why is the finding that made init propose it.
	Why string
}

// What the proposals mean on a server, said once at the end of each line.
const (
	folderOnServers = "on servers a link into /var/lib/<service>/, kept across releases"
	sqliteOnServers = "on servers a link into /var/lib/<service>/, kept across releases; SQLite resolves the link, so its -journal and -wal files go beside the real file there"
)

// proposeData adds rel to the proposed app.data, with a finding that says
// why and what it means. A path inside one already proposed is covered by
// it and not listed again; proposals inside rel give way to it. It reports
// whether rel was proposed.
func (p *Project) proposeData(rel, why, meaning string) bool {
	p.decided(rel)
	if err := stack.ValidateDataPath(rel); err != nil {
		p.dataNote(fmt.Sprintf("%s → not in app.data: %v", why, err))
		return false
	}
	var kept []DataPath
	for _, d := range p.Data {
		if d.Path == rel || strings.HasPrefix(rel, d.Path+"/") {
			return false // already covered
		}
	}
	for _, d := range p.Data {
		if strings.HasPrefix(d.Path, rel+"/") {
			p.dropFound(d.Why)
			continue
		}
		kept = append(kept, d)
	}
	line := fmt.Sprintf("%s → app.data %q: %s", why, rel, meaning)
	p.Data = append(kept, DataPath{Path: rel, Why: line})
	p.dataNote(line)
	return true
}

// dataNote adds a finding about app.data, which SetData replaces.
func (p *Project) dataNote(line string) {
	p.Found = append(p.Found, line)
	p.dataFound = append(p.dataFound, line)
}

// decided marks rel as explained, so the search for stray SQLite files
// leaves it alone.
func (p *Project) decided(rel string) {
	if p.dataDecided == nil {
		p.dataDecided = map[string]bool{}
	}
	p.dataDecided[rel] = true
}

// dropFound removes one finding about app.data.
func (p *Project) dropFound(line string) {
	p.Found = dropString(p.Found, line)
	p.dataFound = dropString(p.dataFound, line)
}

func dropString(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// DataPaths returns the paths of app.data: the proposals, or what SetData
// set.
func (p *Project) DataPaths() []string {
	var out []string
	for _, d := range p.Data {
		out = append(out, d.Path)
	}
	return out
}

// SetData replaces the proposed app.data with paths the user chose (why
// says how: "--data", "--no-data"), and the findings about app.data with
// one line saying so.
func (p *Project) SetData(paths []string, why string) {
	for _, l := range p.dataFound {
		p.Found = dropString(p.Found, l)
	}
	p.Data, p.dataFound = nil, nil
	line := why + " → app.data is empty: the app writes nothing that must survive a release"
	if len(paths) > 0 {
		line = fmt.Sprintf("%s → app.data %s: %s", why, quoteList(paths), folderOnServers)
	}
	for _, d := range paths {
		p.Data = append(p.Data, DataPath{Path: d, Why: line})
	}
	p.dataNote(line)
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// sqliteExts are the names SQLite databases go by.
var sqliteExts = []string{".sqlite", ".sqlite3", ".db"}

// sqliteHeader starts every SQLite 3 database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// Bounds of the search for SQLite files, so init stays quick in a large
// tree.
const (
	strayMaxDepth   = 6
	strayMaxEntries = 20000
)

// proposeStrayDatabases proposes each SQLite database file under the
// project that nothing proposed so far covers or explained. Folders that
// never hold the app's data (virtualenvs, node_modules, .git and other
// hidden folders, tests) are not searched.
func (p *Project) proposeStrayDatabases(dir string) error {
	found, err := strayDatabases(dir)
	if err != nil {
		return err
	}
	for _, rel := range found {
		if p.dataDecided[rel] {
			continue
		}
		p.proposeData(rel, rel+" is a SQLite database in the project", sqliteOnServers)
	}
	return nil
}

// strayDatabases lists the SQLite files under dir, relative to it, sorted.
// A file counts when its name ends as SQLite's do and it is empty (SQLite
// makes a database of an empty file) or starts with SQLite's header.
func strayDatabases(dir string) ([]string, error) {
	var out []string
	seen := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // an unreadable folder is not the app's
		}
		if seen++; seen > strayMaxEntries {
			return fs.SkipAll
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			if rel != "." && (skipDir(e.Name()) || strings.Count(rel, "/") >= strayMaxDepth) {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !hasSQLiteExt(e.Name()) {
			return nil
		}
		if isSQLite(p) {
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func hasSQLiteExt(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	for _, e := range sqliteExts {
		if ext == e {
			return true
		}
	}
	return false
}

// isSQLite reports whether the file at p is empty or a SQLite database.
func isSQLite(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, _ := f.Read(head)
	return n == 0 || bytes.Equal(head[:n], sqliteHeader)
}
