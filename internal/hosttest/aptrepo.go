package hosttest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// aptMu keeps the tests of one package from running mkaptrepo.sh twice at
// once; the script's own lock does the same across packages.
var aptMu sync.Mutex

// ensureAptRepo returns the bare root filesystem and the package
// repository, building them with mkaptrepo.sh (from rootfs) when missing.
func ensureAptRepo(t testing.TB, rootfs string) (bare, repo string) {
	t.Helper()
	bare, repo = envOr(bareRootfsEnv, defaultBareRootfs), envOr(aptRepoEnv, defaultAptRepo)
	aptMu.Lock()
	defer aptMu.Unlock()
	if exists(filepath.Join(bare, rootfsMarker)) && exists(filepath.Join(repo, "Packages")) {
		return bare, repo
	}
	script := besideThisFile(t, "mkaptrepo.sh")
	t.Logf("hosttest: building the bare root filesystem and the package repository with %s (once)", script)
	began := time.Now()
	out, err := runEnv(rootfsTimeout, []string{bareRootfsEnv + "=" + bare, aptRepoEnv + "=" + repo}, "bash", script, rootfs)
	if err != nil {
		t.Fatalf("hosttest: %s %s: %v\n%s", script, rootfs, err, out)
	}
	t.Logf("hosttest: %s and %s ready in %s", bare, repo, time.Since(began).Round(time.Second))
	return bare, repo
}

// serveAptRepo serves repo over HTTP on the bridge address, for the
// cluster's hosts only, and writes the sources.list that names it.
func (c *Cluster) serveAptRepo(repo string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(c.BridgeAddr, "0"))
	if err != nil {
		return fmt.Errorf("package repository: %v", err)
	}
	c.AptSource = fmt.Sprintf("deb [trusted=yes] http://%s/ ./", ln.Addr())
	c.aptList = filepath.Join(c.Dir, "sources.list")
	if err := os.WriteFile(c.aptList, []byte(c.AptSource+"\n"), 0o644); err != nil {
		ln.Close()
		return err
	}
	c.aptSrv = &http.Server{
		Handler:           http.FileServer(http.Dir(repo)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := c.aptSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.t.Logf("hosttest: package repository: %v", err)
		}
	}()
	return nil
}

// envOr returns the environment variable key, or def when it is unset.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// besideThisFile returns the path of a file in this package's folder.
func besideThisFile(t testing.TB, name string) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatalf("hosttest: cannot locate %s (runtime.Caller failed)", name)
	}
	return filepath.Join(filepath.Dir(self), name)
}
