package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
)

// App data (DEPLOY.md "App data survives releases"): each app.data path is,
// in every release, a link to the same path under the data folder
// /var/lib/<service>/ — the app's StateDirectory=, owned by deploy.user,
// never pruned and never written by deploy, rollback or keep_releases
// beyond creating what is missing.

// dataFolders returns the folders under the data folder that must exist
// for app.data: a path that is a folder in the project (or has no file
// extension) is a folder there; a file (a SQLite database) needs only its
// parent folder, since the app creates the file itself.
func dataFolders(c *stack.Config) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range c.App.Data {
		dir := d
		if dataIsFile(c.Dir(), d) {
			dir = path.Dir(d)
		}
		if dir != "." && !seen[dir] {
			seen[dir] = true
			out = append(out, dir)
		}
	}
	return out
}

// dataIsFile tells whether app.data path d names a file: what it is in the
// project when it exists there, else whether its name has an extension
// ("db.sqlite3" is a file, "instance" and "media" are folders).
func dataIsFile(project, d string) bool {
	st, err := os.Lstat(filepath.Join(project, filepath.FromSlash(d)))
	if err == nil {
		return !st.IsDir()
	}
	return errors.Is(err, fs.ErrNotExist) && strings.Contains(path.Base(d), ".") && !strings.HasPrefix(path.Base(d), ".")
}

// dataScript makes the data folder $2 and the folders after it under $2,
// owned by the app's user $1 and its group, mode 0750, when missing. What
// exists is left exactly as it is.
const dataScript = `set -euf
user=$1; top=$2; shift 2
group=$(id -gn "$user")
mk() { [ -d "$1" ] || install -d -o "$user" -g "$group" -m 0750 "$1"; }
mk "$top"
for p in "$@"; do
	cur=$top
	IFS=/
	for part in $p; do cur="$cur/$part"; mk "$cur"; done
	unset IFS
done
`

// makeDataFolders creates the app's data folder and the folders app.data
// needs in it (the release's links point there), owned by deploy.user.
func (r *hostRun) makeDataFolders(ctx context.Context) error {
	if len(r.c.App.Data) == 0 {
		return nil
	}
	args := append([]string{"sh", "-c", dataScript, "stackctl", r.c.Deploy.User, dataDir(r.l)}, dataFolders(r.c)...)
	if out, err := host.Output(ctx, r.h, true, args...); err != nil {
		return fmt.Errorf("%s: make the data folder %s: %s: %w", r.h.Name(), dataDir(r.l), strings.TrimSpace(out), err)
	}
	return nil
}
