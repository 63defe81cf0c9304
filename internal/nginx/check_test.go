package nginx_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
)

func TestCheck(t *testing.T) {
	nginxtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c := stack.Default("checked", "go")
	dir := nginxtest.TempDir(t)
	c.Nginx.AccessLog = dir + "/access.log"
	c.Nginx.ErrorLog = dir + "/error.log"
	c.Nginx.Listen = "127.0.0.1:" + itoa(nginxtest.FreePort(t))
	site, err := Render(c, Options{NginxVersion: "1.22.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, site); err != nil {
		t.Fatalf("a rendered site must pass: %v", err)
	}

	// A broken site: nginx's message and the line it points at.
	broken := strings.Replace(string(site), "    server_tokens off;\n", "    server_tokens off;\n    no_such_directive on;\n", 1)
	err = Check(ctx, []byte(broken))
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *CheckError, got %T %v", err, err)
	}
	wantLine := 1 + strings.Count(broken[:strings.Index(broken, "no_such_directive")], "\n")
	if ce.Line != wantLine || strings.TrimSpace(ce.Text) != "no_such_directive on;" {
		t.Errorf("want line %d (no_such_directive on;), got line %d %q", wantLine, ce.Line, ce.Text)
	}
	if !strings.Contains(err.Error(), `unknown directive "no_such_directive"`) || !strings.Contains(err.Error(), "site.conf:") {
		t.Errorf("the error must hold nginx's message naming the site's line: %v", err)
	}
	if strings.Contains(err.Error(), "/tmp/") {
		t.Errorf("the temporary path must not leak into the message: %v", err)
	}
}

func TestDetectVersion(t *testing.T) {
	nginxtest.Require(t)
	v, err := DetectVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(v, ".") < 1 || strings.Trim(v, "0123456789.") != "" {
		t.Errorf("version %q is not dotted digits", v)
	}
}
