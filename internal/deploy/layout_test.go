package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const debianV = `nginx version: nginx/1.22.1
built with OpenSSL 3.0.11 19 Sep 2023
TLS SNI support enabled
configure arguments: --with-cc-opt='-g -O2' --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --http-log-path=/var/log/nginx/access.log --error-log-path=stderr
`

func TestParseBuildInfo(t *testing.T) {
	bi, err := ParseBuildInfo(debianV)
	if err != nil || bi.Version != "1.22.1" || bi.Prefix != "/usr/share/nginx" || bi.ConfPath != "/etc/nginx/nginx.conf" {
		t.Errorf("Debian: %+v, %v", bi, err)
	}
	// Built from source with no paths: nginx's own defaults.
	bi, err = ParseBuildInfo("nginx version: nginx/1.27.0\nbuilt by gcc 12\nconfigure arguments: --with-http_ssl_module\n")
	if err != nil || bi.Prefix != "/usr/local/nginx" || bi.ConfPath != "/usr/local/nginx/conf/nginx.conf" {
		t.Errorf("source build: %+v, %v", bi, err)
	}
	// A relative conf path is relative to the prefix.
	bi, _ = ParseBuildInfo("nginx version: openresty/1.25.3.1\nconfigure arguments: --prefix=/opt/nginx --conf-path=conf/main.conf\n")
	if bi.ConfPath != "/opt/nginx/conf/main.conf" || bi.Version != "1.25.3" {
		t.Errorf("relative conf path: %+v", bi)
	}
	if _, err := ParseBuildInfo("command not found"); err == nil {
		t.Error("garbage: no error")
	}
}

// fakeNginx is a System whose nginx -V prints out.
func fakeNginx(out string) System {
	return System{
		LookPath: func(name string) (string, error) {
			if name == "nginx" {
				return "/usr/sbin/nginx", nil
			}
			return "", errors.New("not found")
		},
		Run: func(_ context.Context, _, name string, args ...string) ([]byte, error) {
			if name == "/usr/sbin/nginx" && len(args) == 1 && args[0] == "-V" {
				return []byte(out), nil
			}
			return nil, errors.New("unexpected " + name + " " + strings.Join(args, " "))
		},
	}
}

func TestDiscoverLayout(t *testing.T) {
	ctx := context.Background()
	mk := func(t *testing.T, conf string, dirs ...string) string {
		root := t.TempDir()
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		mustWrite(t, filepath.Join(root, "etc/nginx/nginx.conf"), conf, 0o644)
		return root
	}
	debianConf := "http {\n    include /ROOT/etc/nginx/conf.d/*.conf;\n    include /ROOT/etc/nginx/sites-enabled/*;\n}\n"
	fix := func(root, conf string) string { return strings.ReplaceAll(conf, "/ROOT", root) }

	t.Run("debian", func(t *testing.T) {
		root := mk(t, "", "etc/nginx/sites-available", "etc/nginx/sites-enabled", "etc/nginx/conf.d")
		mustWrite(t, filepath.Join(root, "etc/nginx/nginx.conf"), fix(root, debianConf), 0o644)
		l, err := DiscoverLayout(ctx, fakeNginx(debianV), root, "")
		if err != nil {
			t.Fatal(err)
		}
		file, link := l.SitePath("myapp")
		if file != filepath.Join(root, "etc/nginx/sites-available/myapp.conf") || link != filepath.Join(root, "etc/nginx/sites-enabled/myapp.conf") || !l.Included {
			t.Errorf("layout %+v: %s %s", l, file, link)
		}
		want := []string{"/usr/sbin/nginx", "-p", root + "/", "-c", filepath.Join(root, "etc/nginx/nginx.conf"), "-t"}
		if strings.Join(l.Args("-t"), " ") != strings.Join(want, " ") {
			t.Errorf("Args = %q, want %q", l.Args("-t"), want)
		}
	})
	t.Run("conf.d", func(t *testing.T) {
		root := mk(t, "", "etc/nginx/conf.d")
		mustWrite(t, filepath.Join(root, "etc/nginx/nginx.conf"), "http {\n  include conf.d/*.conf; # relative\n}\n", 0o644)
		l, err := DiscoverLayout(ctx, fakeNginx(debianV), root, "")
		if err != nil {
			t.Fatal(err)
		}
		file, link := l.SitePath("myapp")
		if file != filepath.Join(root, "etc/nginx/conf.d/myapp.conf") || link != "" || !l.Included {
			t.Errorf("conf.d layout: %s %q included=%v", file, link, l.Included)
		}
	})
	t.Run("not included", func(t *testing.T) {
		root := mk(t, "http {\n  # include conf.d/*.conf;\n}\n", "etc/nginx/conf.d")
		l, err := DiscoverLayout(ctx, fakeNginx(debianV), root, "")
		if err != nil || l.Included {
			t.Errorf("a commented-out include counts as included: %+v %v", l, err)
		}
	})
	t.Run("sites-dir override", func(t *testing.T) {
		root := mk(t, "", "etc/nginx/sites-available", "etc/nginx/sites-enabled", "opt/sites")
		l, err := DiscoverLayout(ctx, fakeNginx(debianV), root, "/opt/sites")
		if err != nil {
			t.Fatal(err)
		}
		if file, link := l.SitePath("a"); file != filepath.Join(root, "opt/sites/a.conf") || link != "" {
			t.Errorf("--sites-dir: %s %q", file, link)
		}
		if _, err := DiscoverLayout(ctx, fakeNginx(debianV), root, "/missing"); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("missing --sites-dir: %v", err)
		}
	})
	t.Run("nowhere", func(t *testing.T) {
		root := mk(t, "http {}\n")
		_, err := DiscoverLayout(ctx, fakeNginx(debianV), root, "")
		if err == nil || !strings.Contains(err.Error(), "--sites-dir") {
			t.Errorf("no sites folder: %v", err)
		}
	})
	t.Run("no nginx", func(t *testing.T) {
		sys := fakeNginx(debianV)
		sys.LookPath = func(string) (string, error) { return "", errors.New("not found") }
		_, err := DiscoverLayout(ctx, sys, t.TempDir(), "")
		if err == nil || !strings.Contains(err.Error(), "apt-get install nginx") {
			t.Errorf("no nginx: %v", err)
		}
	})
	t.Run("without root", func(t *testing.T) {
		// The real paths from nginx -V, and no -p/-c.
		l, err := DiscoverLayout(ctx, fakeNginx(strings.ReplaceAll(debianV, "/etc/nginx/nginx.conf", "/nonexistent/nginx.conf")), "", "")
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/nginx.conf") {
			t.Errorf("missing main config: %+v %v", l, err)
		}
	})
}
