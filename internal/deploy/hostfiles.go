package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/host"
)

// HostFile is what a path on a host holds: a regular file, a symbolic
// link, or nothing.
type HostFile struct {
	Path string
	// Exists is false for an absent path.
	Exists bool
	// Link is the target when the path is a symbolic link.
	Link string
	Data []byte
	Mode fs.FileMode
}

// same reports whether a and b hold the same thing.
func (a HostFile) same(b HostFile) bool {
	if a.Exists != b.Exists {
		return false
	}
	if !a.Exists {
		return true
	}
	if a.Link != "" || b.Link != "" {
		return a.Link == b.Link
	}
	return bytes.Equal(a.Data, b.Data) && a.Mode.Perm() == b.Mode.Perm()
}

// readFilesScript prints a tar of the paths given as arguments that exist
// (files and links as they are, not followed), relative to /.
const readFilesScript = `set -eu
for f in "$@"; do
	if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "${f#/}"; fi
done | tar -C / --null --no-recursion -T - -cf -
`

// readHostFiles reads paths on h (as root), in one command.
func readHostFiles(ctx context.Context, h host.Host, paths ...string) (map[string]HostFile, error) {
	var out bytes.Buffer
	if err := host.Script(ctx, h, true, readFilesScript, nil, &out, paths...); err != nil {
		return nil, fmt.Errorf("read %s: %w", strings.Join(paths, ", "), err)
	}
	files := map[string]HostFile{}
	for _, p := range paths {
		files[p] = HostFile{Path: p}
	}
	tr := tar.NewReader(&out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading its files: %w", h.Name(), err)
		}
		p := "/" + strings.TrimPrefix(hdr.Name, "/")
		f := HostFile{Path: p, Exists: true, Mode: fs.FileMode(hdr.Mode).Perm()}
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			f.Link = hdr.Linkname
		case tar.TypeReg:
			if f.Data, err = io.ReadAll(tr); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s: %s is not a file or a link: move it away", h.Name(), p)
		}
		files[p] = f
	}
	return files, nil
}

// putFilesScript installs the files of the tar on stdin: each is extracted
// into a staging folder, then renamed over its path (an atomic switch for
// files and links alike); "rm:PATH" arguments remove a path. What a path
// held before is copied to the backup folder first.
const putFilesScript = `set -eu
umask 022
stage=$1; backup=$2; shift 2
mkdir -p "$stage"
tar -C "$stage" --no-same-owner -xf -
for op in "$@"; do
	kind=${op%%:*}; p=${op#*:}
	if [ -n "$backup" ] && { [ -e "$p" ] || [ -L "$p" ]; }; then
		mkdir -p "$backup$(dirname "$p")"
		cp -a "$p" "$backup$p"
	fi
	case $kind in
	put) mkdir -p "$(dirname "$p")"; mv -fT "$stage$p" "$p" ;;
	rm) rm -f "$p" ;;
	esac
done
rm -rf "$stage"
`

// writeHostFiles makes each path on h hold what files say (as root): new
// content is renamed into place, so a reader sees the old file or the new
// one, never a part. When backup is set, the old content is copied there.
func writeHostFiles(ctx context.Context, h host.Host, stateDir, backup string, files []HostFile) error {
	if len(files) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var ops []string
	now := time.Now()
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return fmt.Errorf("internal: %q is not a clean absolute path", f.Path)
		}
		if !f.Exists {
			ops = append(ops, "rm:"+f.Path)
			continue
		}
		hdr := &tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Mode: int64(f.Mode.Perm()), ModTime: now, Typeflag: tar.TypeReg, Size: int64(len(f.Data))}
		if f.Link != "" {
			hdr.Typeflag, hdr.Linkname, hdr.Size, hdr.Mode = tar.TypeSymlink, f.Link, 0, 0o777
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if f.Link == "" {
			if _, err := tw.Write(f.Data); err != nil {
				return err
			}
		}
		ops = append(ops, "put:"+f.Path)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	stage := path.Join(stateDir, fmt.Sprintf(".stage-%d", now.UnixNano()))
	args := append([]string{stage, backup}, ops...)
	if err := host.Script(ctx, h, true, putFilesScript, &buf, nil, args...); err != nil {
		return fmt.Errorf("write files: %w", err)
	}
	return nil
}

// undoFiles puts every path of before back as it was, on a context of its
// own: an undo must run even when the deploy was interrupted.
func undoFiles(h host.Host, stateDir string, before []HostFile) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return writeHostFiles(ctx, h, stateDir, "", before)
}

// errInterrupted marks a deploy stopped by Ctrl-C.
var errInterrupted = errors.New("interrupted")
