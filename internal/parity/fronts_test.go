package parity

import (
	"net"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
)

// requireNginx skips the test without nginx (or fails it under
// STACKCTL_REQUIRE_NGINX=1) and returns the binary.
func requireNginx(t *testing.T) string {
	t.Helper()
	return nginxtest.Require(t)
}

// freePort is a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	return nginxtest.FreePort(t)
}

// oneWorker is the distribution's stock nginx.conf (nginxtest.Stock: the
// http {} block a deployed site is included in, with its gzip, mime types
// and sendfile) with one worker process. Without an upstream zone each
// worker balances on its own and keeps its own upstream connections, so
// with several workers the round-robin order and connection reuse would
// depend on which worker accepted each connection; the embedded proxy is
// one process, like one worker.
func oneWorker(prefix string, sites ...string) ([]byte, error) {
	conf, err := nginxtest.Stock(prefix, sites...)
	if err != nil {
		return nil, err
	}
	s := string(conf)
	i := strings.Index(s, "worker_processes ")
	if i < 0 {
		return []byte("worker_processes 1;\n" + s), nil
	}
	j := strings.Index(s[i:], ";")
	return []byte(s[:i] + "worker_processes 1" + s[i+j:]), nil
}

// startNginx renders c with nginx.Render and runs nginx with it until the
// test ends.
func startNginx(t *testing.T, c *stack.Config) {
	t.Helper()
	bin := requireNginx(t)
	site, err := nginx.Render(c, nginx.Options{NginxVersion: nginx.DefaultVersion, Source: c.Path, StackctlVersion: "parity"})
	if err != nil {
		t.Fatalf("nginx.Render: %v", err)
	}
	srv := nginxtest.Start(t, bin, oneWorker, site)
	srv.WaitListening(t, c.Nginx.Listen)
}

// startProxy is, until internal/proxy lands, a second nginx from the same
// Config listening on serve.listen. TEMPORARY.
func startProxy(t *testing.T, c *stack.Config, ln net.Listener) {
	t.Helper()
	ln.Close()
	c2 := *c
	c2.Nginx.Listen = c.Serve.Listen
	c2.Nginx.AccessLog = c.Nginx.AccessLog + ".2"
	startNginx(t, &c2)
}
