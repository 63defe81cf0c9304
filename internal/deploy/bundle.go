package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// ManifestName is the file in each release listing its files with their
// SHA-256, in sha256sum's format, so the host can check what it received
// (sha256sum -c) and the next deploy sends only what changed.
const ManifestName = ".stackctl-files"

// Bundle is a release's content, built once on this machine for one host
// architecture.
type Bundle struct {
	// Files are the release's files, sorted by path.
	Files []AppFile
	// Sums maps each file's path to its SHA-256 (hex).
	Sums map[string]string
	// Python is true for an app that runs from a virtualenv.
	Python bool
	// BuildArgv is the build command (Go, Django's collectstatic), for
	// the dry run.
	BuildArgv []string
	// Rule names what chose the project's files (RuleGit, RuleWalk).
	Rule string
	// Uncommitted are the uncommitted changes of a git tree that ship
	// ("M app.py", "?? new.py"), for the note deploy says.
	Uncommitted []string
}

// Manifest renders the bundle's ManifestName file.
func (b *Bundle) Manifest() []byte {
	var buf bytes.Buffer
	for _, f := range b.Files {
		fmt.Fprintf(&buf, "%s  %s\n", b.Sums[f.Rel], f.Rel)
	}
	return buf.Bytes()
}

// ParseManifest reads a ManifestName file into path → SHA-256.
func ParseManifest(data []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		sum, p, ok := strings.Cut(line, "  ")
		if ok && len(sum) == 64 {
			m[p] = sum
		}
	}
	return m
}

// ModesName is the file in each release listing the permission bits of
// its files, one "<octal mode>  <path>" line per file in the order of
// ManifestName ("755  bin/app"), as `stat -c '%a  %n'` prints them, so
// the host checks them too (prepareScript). ManifestName keeps sha256sum's
// format, which has no room for a mode. Knowing the modes of the current
// release, the next deploy sends a file whose mode alone changed (a script
// made executable): a sent file is a new inode, while a file left
// unchanged is a hard link shared with the earlier releases, whose mode
// must never change in place. Releases made before ModesName existed have
// none: their modes are unknown, and Changed sends every file once more.
const ModesName = ".stackctl-modes"

// Modes renders the bundle's ModesName file.
func (b *Bundle) Modes() []byte {
	var buf bytes.Buffer
	for _, f := range b.Files {
		fmt.Fprintf(&buf, "%o  %s\n", f.Mode.Perm(), f.Rel)
	}
	return buf.Bytes()
}

// ParseModes reads a ModesName file into path → permission bits (never
// nil: a nil map stands for a release without the file, whose modes are
// unknown).
func ParseModes(data []byte) map[string]fs.FileMode {
	m := map[string]fs.FileMode{}
	for _, line := range strings.Split(string(data), "\n") {
		mode, p, ok := strings.Cut(line, "  ")
		if n, err := strconv.ParseUint(mode, 8, 32); ok && err == nil && n <= 0o777 {
			m[p] = fs.FileMode(n)
		}
	}
	return m
}

// goArch maps `uname -m` to GOARCH.
var goArch = map[string]string{
	"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
	"armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386",
	"riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x",
}

// GOARCH returns the Go architecture of a host's `uname -m`.
func GOARCH(machine string) (string, error) {
	a, ok := goArch[strings.TrimSpace(machine)]
	if !ok {
		return "", fmt.Errorf("unknown machine architecture %q", machine)
	}
	return a, nil
}

// BuildBundle builds the release content of c for a Linux host of the
// given GOARCH: a Go app is cross-compiled (CGO_ENABLED=0 GOOS=linux
// -trimpath) to bin/<name>, with its static folders; a Flask app is its
// project files; a Django app its project files and collectstatic's
// output. The project files are the ones git would commit, or outside git
// the folder's without local state, .env and bytecode (releaseFiles);
// nothing at or under an app.data entry ships, nor what app.ignore matches.
func BuildBundle(ctx context.Context, c *stack.Config, goarch string) (*Bundle, error) {
	files, argv, pf, err := releaseFiles(ctx, RealSystem(), c)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Sums: map[string]string{}, Files: files, BuildArgv: argv, Rule: pf.rule(), Uncommitted: pf.changes}
	if c.App.Template == "go" {
		bin, err := buildLinuxBinary(ctx, c, goarch)
		if err != nil {
			return nil, err
		}
		b.Files = append(b.Files, bin)
		b.BuildArgv = []string{"go", "build", "-trimpath", "-o", bin.Rel, goMainPackage(c)}
	} else {
		b.Python = true
	}
	sort.Slice(b.Files, func(i, j int) bool { return b.Files[i].Rel < b.Files[j].Rel })
	for i, f := range b.Files {
		if i > 0 && f.Rel == b.Files[i-1].Rel {
			return nil, fmt.Errorf("%s is installed twice (listed in two proxy.static folders?)", f.Rel)
		}
		if strings.ContainsAny(f.Rel, "\n\r\\") || f.Rel == ManifestName || f.Rel == ModesName {
			return nil, ui.Errorf("rename it", "%s: deploy cannot install a file with this name", f.Rel)
		}
		sum := sha256.Sum256(f.Data)
		b.Sums[f.Rel] = hex.EncodeToString(sum[:])
	}
	return b, nil
}

// buildLinuxBinary cross-compiles the Go app of c for linux/goarch
// (CGO_ENABLED=0, -trimpath) into the release's bin/<name>.
func buildLinuxBinary(ctx context.Context, c *stack.Config, goarch string) (AppFile, error) {
	dir := c.Dir()
	goBin, err := lookPath("go")
	if err != nil {
		return AppFile{}, ui.WithFix(errors.New("go is not installed: deploy builds the Go app on this machine"), "install Go (https://go.dev/dl/) and run deploy again")
	}
	tmp, err := os.MkdirTemp("", "stackctl-build-")
	if err != nil {
		return AppFile{}, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, c.Name)
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", out, goMainPackage(c))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return AppFile{}, ui.WithFix(fmt.Errorf("build the app for linux/%s: %s", goarch, strings.TrimSpace(string(msg))), "fix the build error (try 'GOOS=linux GOARCH="+goarch+" go build .' in "+dir+"); nothing was sent")
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return AppFile{}, err
	}
	return AppFile{Rel: "bin/" + c.Name, Data: data, Mode: 0o755}, nil
}

// Changed returns the files whose content or mode differ from the release
// described by oldSums (path → SHA-256, as ParseManifest returns) and
// oldModes (path → mode, as ParseModes returns), and the number of bytes
// they hold. A file whose old mode is unknown (oldModes nil: a release
// made before ModesName) counts as changed: sending it again is the only
// way to be sure of its mode. nil, nil is an empty release: every file.
func (b *Bundle) Changed(oldSums map[string]string, oldModes map[string]fs.FileMode) ([]AppFile, int) {
	var out []AppFile
	n := 0
	for _, f := range b.Files {
		mode, known := oldModes[f.Rel]
		if oldSums[f.Rel] == b.Sums[f.Rel] && known && mode == f.Mode.Perm() {
			continue
		}
		out = append(out, f)
		n += len(f.Data)
	}
	return out, n
}

// Tar writes files, the manifest and the modes as a tar stream.
func (b *Bundle) Tar(files []AppFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	add := func(name string, data []byte, mode int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, f := range files {
		if err := add(f.Rel, f.Data, int64(f.Mode.Perm())); err != nil {
			return nil, err
		}
	}
	if err := add(ManifestName, b.Manifest(), 0o644); err != nil {
		return nil, err
	}
	if err := add(ModesName, b.Modes(), 0o644); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
