package nginx_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	. "github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/stack"
)

// stringField is one string in stack.toml that reaches the nginx text.
type stringField struct {
	name  string // the field as errors name it
	valid string // a valid value the payload is added to
	set   func(c *stack.Config, v string)
}

func stringFields() []stringField {
	static := func(c *stack.Config) *stack.Static {
		if len(c.Proxy.Static) == 0 {
			c.Proxy.Static = []stack.Static{{URL: "/static/", Dir: "static", Expires: "30d"}}
		}
		return &c.Proxy.Static[0]
	}
	tlsOn := func(c *stack.Config) { c.Nginx.TLS.Enabled = true }
	return []stringField{
		{"name", "myapp", func(c *stack.Config, v string) { c.Name = v }},
		{"proxy.server_names[0]", "example.com", func(c *stack.Config, v string) { c.Proxy.ServerNames = []string{v} }},
		{"proxy.client_max_body_size", "10m", func(c *stack.Config, v string) { c.Proxy.ClientMaxBodySize = stack.Size(v) }},
		{"proxy.connect_timeout", "5s", func(c *stack.Config, v string) { c.Proxy.ConnectTimeout = stack.Duration(v) }},
		{"proxy.read_timeout", "60s", func(c *stack.Config, v string) { c.Proxy.ReadTimeout = stack.Duration(v) }},
		{"proxy.send_timeout", "60s", func(c *stack.Config, v string) { c.Proxy.SendTimeout = stack.Duration(v) }},
		{"proxy.redirect", "none", func(c *stack.Config, v string) { c.Proxy.Redirect = v }},
		{"proxy.static[0].url", "/static/", func(c *stack.Config, v string) { static(c).URL = v }},
		{"proxy.static[0].dir", "static", func(c *stack.Config, v string) { static(c).Dir = v }},
		{"proxy.static[0].expires", "30d", func(c *stack.Config, v string) { static(c).Expires = stack.Duration(v) }},
		{"upstream.servers[0]", "127.0.0.1:5000", func(c *stack.Config, v string) { c.Upstream.Servers = []string{v} }},
		{"upstream.servers[0]", "unix:/run/app.sock", func(c *stack.Config, v string) { c.Upstream.Servers = []string{v} }},
		{"upstream.balance", "least_conn", func(c *stack.Config, v string) { c.Upstream.Balance = v }},
		{"upstream.fail_timeout", "10s", func(c *stack.Config, v string) { c.Upstream.FailTimeout = stack.Duration(v) }},
		{"nginx.listen", "127.0.0.1:80", func(c *stack.Config, v string) { c.Nginx.Listen = v }},
		{"nginx.app_dir", "/srv/myapp", func(c *stack.Config, v string) { c.Nginx.AppDir = v }},
		{"nginx.access_log", "/var/log/nginx/a.log", func(c *stack.Config, v string) { c.Nginx.AccessLog = v }},
		{"nginx.error_log", "/var/log/nginx/e.log", func(c *stack.Config, v string) { c.Nginx.ErrorLog = v }},
		{"nginx.tls.cert", "/etc/ssl/site.crt", func(c *stack.Config, v string) { tlsOn(c); c.Nginx.TLS.Cert = v }},
		{"nginx.tls.key", "/etc/ssl/site.key", func(c *stack.Config, v string) { tlsOn(c); c.Nginx.TLS.Key = v }},
		{"nginx.tls.acme_webroot", "/var/www/letsencrypt", func(c *stack.Config, v string) { tlsOn(c); c.Nginx.TLS.ACMEWebroot = v }},
	}
}

// payloads could end a directive, open or close a block, start a variable
// or a comment, or split a value into two arguments.
var payloads = []string{";", "{", "}", `"`, "'", "$", " ", "\t", "\n", "\r", "#", "\\", ";return 200 x;", "$host", "}server{", "# x\nlisten 81"}

// TestInjectionRejected puts each payload into each string field that
// reaches the config, at the end and in the middle of a valid value, and
// wants Render to refuse naming the field and the value.
func TestInjectionRejected(t *testing.T) {
	for _, f := range stringFields() {
		// The valid value renders.
		c := stack.Default("myapp", "go")
		f.set(c, f.valid)
		if _, err := Render(c, Options{NginxVersion: "1.22.1"}); err != nil {
			t.Fatalf("%s=%q must render: %v", f.name, f.valid, err)
		}
		for _, p := range payloads {
			mid := len(f.valid) / 2
			for _, v := range []string{f.valid + p, f.valid[:mid] + p + f.valid[mid:], p + f.valid} {
				c := stack.Default("myapp", "go")
				f.set(c, v)
				out, err := Render(c, Options{NginxVersion: "1.22.1"})
				if err == nil {
					t.Errorf("%s=%q rendered:\n%s", f.name, v, out)
					continue
				}
				if out != nil {
					t.Errorf("%s=%q: Render returned text with its error", f.name, v)
				}
				var ve *stack.ValidationError
				if !errors.As(err, &ve) {
					t.Errorf("%s=%q: want a *stack.ValidationError, got %T %v", f.name, v, err, err)
					continue
				}
				if !strings.Contains(err.Error(), f.name+": ") || !strings.Contains(err.Error(), strconv.Quote(v)) {
					t.Errorf("%s=%q: the error must name the field and the value, got:\n%v", f.name, v, err)
				}
			}
		}
	}
}

// TestHeaderCommentStaysAComment: the header names the stack.toml path and
// stackctl's version, which are not validated like stack.toml values; a
// newline in them must not end the comment.
func TestHeaderCommentStaysAComment(t *testing.T) {
	c := stack.Default("myapp", "go")
	out, err := Render(c, Options{NginxVersion: "1.22.1", Source: "/tmp/x\nserver { listen 81; }\r\n", StackctlVersion: "v1\ninclude /etc/passwd;"})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "listen 81") || strings.Contains(line, "include /etc/passwd") {
			if !strings.HasPrefix(line, "#") {
				t.Errorf("header text escaped its comment: %q", line)
			}
		}
	}
	if !strings.Contains(string(out), `from /tmp/x\nserver { listen 81; }\r\n.`) {
		t.Errorf("the source path must be shown with its newline escaped:\n%s", out)
	}
}
