package parity

// TEMPORARY: a minimal nginx starter and a hand-written site until
// internal/nginxtest and internal/nginx land on main; replaced then.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

func requireNginx(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("nginx")
	if err != nil {
		p = "/usr/sbin/nginx"
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("STACKCTL_REQUIRE_NGINX") == "1" {
				t.Fatalf("nginx is not installed and STACKCTL_REQUIRE_NGINX=1: apt-get install nginx")
			}
			t.Skip("nginx is not installed: apt-get install nginx (or set STACKCTL_REQUIRE_NGINX=1 to fail)")
		}
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startNginx(t *testing.T, site []byte, addr string) {
	t.Helper()
	bin := requireNginx(t)
	prefix := t.TempDir()
	os.Chmod(prefix, 0o755)
	os.WriteFile(filepath.Join(prefix, "site.conf"), site, 0o644)
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log %[1]s/access.log;
	gzip on;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	include %[1]s/site.conf;
}
`, prefix)
	os.WriteFile(filepath.Join(prefix, "nginx.conf"), []byte(conf), 0o644)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-p", prefix, "-c", filepath.Join(prefix, "nginx.conf"), "-e", filepath.Join(prefix, "error.log"))
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, stderr.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %s after 10s", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func renderSite(c *stack.Config) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream parity_app {\n")
	for _, s := range c.NginxUpstreams() {
		fmt.Fprintf(&b, "\tserver %s max_fails=%d fail_timeout=%s;\n", s, c.Upstream.MaxFails, c.Upstream.FailTimeout)
	}
	fmt.Fprintf(&b, "\tkeepalive %d;\n}\n", c.Upstream.Keepalive)
	b.WriteString("map $http_upgrade $parity_connection_upgrade {\n\tdefault upgrade;\n\t'' '';\n}\n")
	fmt.Fprintf(&b, "server {\n\tlisten %s;\n\tserver_name %s;\n", c.Nginx.Listen, strings.Join(c.Proxy.ServerNames, " "))
	fmt.Fprintf(&b, "\taccess_log %s;\n\terror_log %s;\n", c.Nginx.AccessLog, c.Nginx.ErrorLog)
	fmt.Fprintf(&b, "\tclient_max_body_size %s;\n", c.Proxy.ClientMaxBodySize)
	if c.Proxy.Gzip {
		b.WriteString("\tgzip on;\n\tgzip_vary on;\n\tgzip_proxied any;\n\tgzip_types text/plain text/css application/json application/javascript text/xml image/svg+xml;\n")
	} else {
		b.WriteString("\tgzip off;\n")
	}
	if c.Proxy.SecurityHeaders {
		b.WriteString("\tadd_header X-Frame-Options \"SAMEORIGIN\" always;\n\tadd_header X-Content-Type-Options \"nosniff\" always;\n\tadd_header Referrer-Policy \"no-referrer-when-downgrade\" always;\n")
	}
	for _, s := range c.Proxy.Static {
		fmt.Fprintf(&b, "\tlocation %s {\n\t\talias %s/%s/;\n", s.URL, c.Nginx.AppDir, s.Dir)
		if s.Expires != "" {
			fmt.Fprintf(&b, "\t\texpires %s;\n", s.Expires)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("\tlocation / {\n\t\tproxy_pass http://parity_app;\n\t\tproxy_http_version 1.1;\n")
	b.WriteString("\t\tproxy_set_header Host $host;\n\t\tproxy_set_header X-Real-IP $remote_addr;\n\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\t\tproxy_set_header X-Forwarded-Proto $scheme;\n")
	b.WriteString("\t\tproxy_set_header Upgrade $http_upgrade;\n\t\tproxy_set_header Connection $parity_connection_upgrade;\n")
	fmt.Fprintf(&b, "\t\tproxy_connect_timeout %s;\n\t\tproxy_read_timeout %s;\n\t\tproxy_send_timeout %s;\n\t}\n}\n", c.Proxy.ConnectTimeout, c.Proxy.ReadTimeout, c.Proxy.SendTimeout)
	return []byte(b.String()), nil
}

// startProxy is a second nginx until internal/proxy lands.
func startProxy(t *testing.T, c *stack.Config, ln net.Listener) {
	t.Helper()
	ln.Close()
	c2 := *c
	c2.Nginx.Listen = c.Serve.Listen
	c2.Nginx.AccessLog = c.Nginx.AccessLog + ".2"
	site, err := renderSite(&c2)
	if err != nil {
		t.Fatal(err)
	}
	startNginx(t, site, c.Serve.Listen)
}
