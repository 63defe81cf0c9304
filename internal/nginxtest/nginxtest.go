// Package nginxtest runs the real nginx in tests: it finds the binary (or
// skips the test with an install hint), writes wrapper nginx.conf files that
// include a generated site, checks them with `nginx -t`, starts nginx as an
// ordinary child process on loopback ports and stops it when the test ends,
// and makes self-signed certificates for TLS sites.
//
// Everything nginx writes (pid file, logs, temp folders) stays under a
// per-test prefix folder. Tests run as root on CI, where nginx's workers
// drop to an unprivileged user: TempDir returns folders those workers can
// read, so sites need no special permissions.
//
// A typical test:
//
//	bin := nginxtest.Require(t)
//	dir := nginxtest.TempDir(t)
//	port := nginxtest.FreePort(t)
//	site := render(..., "127.0.0.1:"+strconv.Itoa(port))
//	srv := nginxtest.Start(t, bin, nginxtest.Minimal, site)
//	srv.WaitListening(t, "127.0.0.1:"+strconv.Itoa(port))
//	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
package nginxtest

import (
	"context"
	"errors"
	"fmt"
	"github.com/stackctl/stackctl/internal/testutil"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/nginx"
)

// RequireEnv is the environment variable that turns a missing nginx from a
// skipped test into a failed one (CI sets it after installing nginx).
const RequireEnv = "STACKCTL_REQUIRE_NGINX"

// InstallHint says how to get nginx.
const InstallHint = "install nginx to run it (Debian/Ubuntu: apt-get install nginx)"

// Require returns the path of the nginx binary. Without nginx it skips the
// test with an install hint, or fails it when STACKCTL_REQUIRE_NGINX=1.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := nginx.Binary()
	if err == nil {
		return bin
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("nginx not found and %s=1: %s", RequireEnv, InstallHint)
	}
	t.Skipf("nginx not found: %s, or set %s=1 to make this a failure", InstallHint, RequireEnv)
	return ""
}

// TempDir returns a new temporary folder, removed when the test ends, that
// nginx's workers can read (0755) even when they run as another user. The
// folder testing made to hold the test's temporary folders, 0700 by
// default, is opened up too.
func TempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	// Below Linux's ephemeral range (see testutil.PortRange): a port the
	// kernel hands out for outgoing connections (a load generator makes
	// thousands) could be taken between this check and its use.
	return testutil.PortRange(t, 1)
}

// Wrapper builds the nginx.conf that loads site files: Minimal or Stock.
type Wrapper func(prefix string, sites ...string) ([]byte, error)

// Minimal is the smallest nginx.conf that includes the sites inside
// http {} (nginx.WrapperConfig, also what `gen-nginx --check` uses).
func Minimal(prefix string, sites ...string) ([]byte, error) {
	return nginx.WrapperConfig(prefix, sites...)
}

// WriteConf writes site into prefix as site<N>.conf files and the wrapper's
// nginx.conf including them, and returns the nginx.conf path.
func WriteConf(t testing.TB, prefix string, wrap Wrapper, sites ...[]byte) string {
	t.Helper()
	var paths []string
	for i, s := range sites {
		p := filepath.Join(prefix, fmt.Sprintf("site%d.conf", i))
		if err := os.WriteFile(p, s, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	conf, err := wrap(prefix, paths...)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	return confPath
}

// Test runs `nginx -t` on the sites loaded together by wrap, in a fresh
// prefix, and returns nginx's output as the error when it rejects them.
func Test(t testing.TB, bin string, wrap Wrapper, sites ...[]byte) error {
	t.Helper()
	prefix := TempDir(t)
	conf := WriteConf(t, prefix, wrap, sites...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t", "-p", prefix+"/", "-e", filepath.Join(prefix, "error.log"), "-c", conf).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nginx -t: %v\n%s", err, out)
	}
	return nil
}

// Server is an nginx started by Start.
type Server struct {
	// Prefix is nginx's prefix folder: its nginx.conf, sites and logs.
	Prefix string
	// Conf is the nginx.conf it runs.
	Conf string
	// ErrorLog is the main error log.
	ErrorLog string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs nginx in the foreground (daemon off) with the sites loaded by
// wrap, in a fresh prefix. The test fails if nginx does not start; nginx
// is stopped when the test ends (SIGTERM, then SIGKILL to its process
// group after 10s). Call WaitListening before sending requests.
func Start(t testing.TB, bin string, wrap Wrapper, sites ...[]byte) *Server {
	t.Helper()
	prefix := TempDir(t)
	conf := WriteConf(t, prefix, wrap, sites...)
	s := &Server{Prefix: prefix, Conf: conf, ErrorLog: filepath.Join(prefix, "error.log"), done: make(chan struct{})}
	s.cmd = exec.Command(bin, "-p", prefix+"/", "-e", s.ErrorLog, "-c", conf, "-g", "daemon off;")
	out, err := os.Create(filepath.Join(prefix, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	ownProcessGroup(s.cmd)
	if err := s.cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("starting nginx: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		out.Close()
		close(s.done)
	}()
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *Server) stop(t testing.TB) {
	select {
	case <-s.done:
		return
	default:
	}
	terminate(s.cmd)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Logf("nginx did not stop within 10s of SIGTERM; killing its process group")
		killProcessGroup(s.cmd)
		<-s.done
	}
}

// Logs returns what nginx wrote to its error log and stderr so far, for
// failure messages.
func (s *Server) Logs() string {
	var b strings.Builder
	for _, f := range []string{s.ErrorLog, filepath.Join(s.Prefix, "stderr.log")} {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

// WaitListening waits until every addr ("127.0.0.1:8080") accepts TCP
// connections, failing the test with nginx's logs if nginx exits or 15s
// pass first.
func (s *Server) WaitListening(t testing.TB, addrs ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, addr := range addrs {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-s.done:
				t.Fatalf("nginx exited (%v) before listening on %s:\n%s", s.err, addr, s.Logs())
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("nginx is not listening on %s after 15s: %v\n%s", addr, err, s.Logs())
			}
		}
	}
}

// Exited reports whether nginx has exited, and its Wait error.
func (s *Server) Exited() (bool, error) {
	select {
	case <-s.done:
		if s.err == nil {
			return true, errors.New("nginx exited with status 0")
		}
		return true, s.err
	default:
		return false, nil
	}
}
