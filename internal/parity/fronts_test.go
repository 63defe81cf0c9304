package parity

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/proxy"
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
func startNginx(t *testing.T, c *stack.Config, ct proxy.ClientTimeouts, httpsPort int) {
	t.Helper()
	bin := requireNginx(t)
	site, err := nginx.Render(c, nginx.Options{NginxVersion: nginx.DefaultVersion, Source: c.Path, StackctlVersion: "parity", HTTPSPort: httpsPort})
	if err != nil {
		t.Fatalf("nginx.Render: %v", err)
	}
	wrap := oneWorker
	if ct != (proxy.ClientTimeouts{}) {
		wrap = func(prefix string, sites ...string) ([]byte, error) {
			conf, err := oneWorker(prefix, sites...)
			if err != nil {
				return nil, err
			}
			ms := func(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }
			set := fmt.Sprintf("http {\n\tclient_header_timeout %s;\n\tclient_body_timeout %s;\n\tsend_timeout %s;\n",
				ms(ct.Header), ms(ct.Body), ms(ct.Send))
			return regexp.MustCompile(`(?m)^http\s*\{\n`).ReplaceAll(conf, []byte(set)), nil
		}
	}
	srv := nginxtest.Start(t, bin, wrap, site)
	srv.WaitListening(t, c.Nginx.Listen)
	if httpsPort != 0 {
		srv.WaitListening(t, "127.0.0.1:"+strconv.Itoa(httpsPort))
	}
}

// startProxy runs the embedded proxy for c on ln until the test ends.
func startProxy(t *testing.T, c *stack.Config, ln net.Listener, ct proxy.ClientTimeouts) {
	t.Helper()
	startProxyTLS(t, c, ln, ct, nil)
}

// startProxyTLS is startProxy with ServeTLS when config is set.
func startProxyTLS(t *testing.T, c *stack.Config, ln net.Listener, ct proxy.ClientTimeouts, config *tls.Config) {
	t.Helper()
	logf, err := os.Create(filepath.Join(c.Dir(), "proxy.access.log"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.New(c, proxy.Options{Upstreams: c.AppUpstreams(), AccessLog: logf, ClientTimeouts: ct})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		if config != nil {
			done <- p.ServeTLS(ln, config)
		} else {
			done <- p.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("proxy.Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("proxy.Serve: %v", err)
		}
		logf.Close()
	})
}
