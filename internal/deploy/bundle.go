package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
	// BuildArgv is the build command (Go), for the dry run.
	BuildArgv []string
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
// project files (without local state, .env, bytecode or app.ignore).
func BuildBundle(ctx context.Context, c *stack.Config, goarch string) (*Bundle, error) {
	b := &Bundle{Sums: map[string]string{}}
	dir := c.Dir()
	switch c.App.Template {
	case "go":
		goBin, err := lookPath("go")
		if err != nil {
			return nil, ui.WithFix(errors.New("go is not installed: deploy builds the Go app on this machine"), "install Go (https://go.dev/dl/) and run deploy again")
		}
		tmp, err := os.MkdirTemp("", "stackctl-build-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, c.Name)
		pkg := goMainPackage(c)
		b.BuildArgv = []string{"go", "build", "-trimpath", "-o", "bin/" + c.Name, pkg}
		cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", out, pkg)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, ui.WithFix(fmt.Errorf("build the app for linux/%s: %s", goarch, strings.TrimSpace(string(msg))), "fix the build error (try 'GOOS=linux GOARCH="+goarch+" go build .' in "+dir+"); nothing was sent")
		}
		data, err := os.ReadFile(out)
		if err != nil {
			return nil, err
		}
		b.Files = append(b.Files, AppFile{Rel: "bin/" + c.Name, Data: data, Mode: 0o755})
		for _, s := range c.Proxy.Static {
			sf, err := collect(dir, s.Dir, c.App.Ignore)
			if err != nil {
				return nil, err
			}
			b.Files = append(b.Files, sf...)
		}
	case "flask":
		files, err := collect(dir, ".", c.App.Ignore)
		if err != nil {
			return nil, err
		}
		b.Files = files
		b.Python = true
	case "django":
		// The project's files, and its static files as collectstatic
		// gathers them here (the host needs no build step for them).
		files, argv, err := buildDjango(ctx, RealSystem(), c)
		if err != nil {
			return nil, err
		}
		b.Files, b.BuildArgv = files, argv
		b.Python = true
	default:
		return nil, fmt.Errorf("app.template %q cannot be deployed", c.App.Template)
	}
	sort.Slice(b.Files, func(i, j int) bool { return b.Files[i].Rel < b.Files[j].Rel })
	for i, f := range b.Files {
		if i > 0 && f.Rel == b.Files[i-1].Rel {
			return nil, fmt.Errorf("%s is installed twice (listed in two proxy.static folders?)", f.Rel)
		}
		if strings.ContainsAny(f.Rel, "\n\r\\") || f.Rel == ManifestName {
			return nil, ui.Errorf("rename it", "%s: deploy cannot install a file with this name", f.Rel)
		}
		sum := sha256.Sum256(f.Data)
		b.Sums[f.Rel] = hex.EncodeToString(sum[:])
	}
	return b, nil
}

// Changed returns the files whose content or mode differ from the release
// described by old (path → SHA-256, as ParseManifest returns), and the
// number of bytes they hold.
func (b *Bundle) Changed(old map[string]string) ([]AppFile, int) {
	var out []AppFile
	n := 0
	for _, f := range b.Files {
		if old[f.Rel] == b.Sums[f.Rel] {
			continue
		}
		out = append(out, f)
		n += len(f.Data)
	}
	return out, n
}

// Tar writes files and the manifest as a tar stream.
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
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
