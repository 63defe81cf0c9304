package nginxtest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatalf("port %d is not free: %v", p, err)
	}
	l.Close()
}

func TestTempDirReadableByOthers(t *testing.T) {
	dir := TempDir(t)
	for _, d := range []string{dir, filepath.Dir(dir)} {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o005 != 0o005 {
			t.Errorf("%s: mode %v %v, want others to read and enter it", d, st.Mode(), err)
		}
	}
}

func TestStockKeepsTheDistributionsHTTPBlock(t *testing.T) {
	prefix := "/tmp/prefix"
	out, err := adaptStock([]byte(DebianNginxConf), prefix, "/tmp/prefix/a.conf", "/tmp/prefix/b.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, w := range []string{
		`pid "/tmp/prefix/nginx.pid";`,
		`error_log "/tmp/prefix/error.log";`,
		`access_log "/tmp/prefix/access.log";`,
		`include "/tmp/prefix/a.conf";`,
		`include "/tmp/prefix/b.conf";`,
		"include /etc/nginx/mime.types;",
		"gzip on;",
		"ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;",
		`proxy_temp_path "/tmp/prefix/proxy_temp";`,
	} {
		if !strings.Contains(s, w) {
			t.Errorf("want %q in:\n%s", w, s)
		}
	}
	for _, n := range []string{"/run/nginx.pid", "/var/log/nginx", "conf.d", "sites-enabled"} {
		if strings.Contains(s, n) {
			t.Errorf("%q must be gone:\n%s", n, s)
		}
	}
	if _, err := adaptStock([]byte("events {}\n"), prefix); err == nil {
		t.Errorf("a file without the sites-enabled include must be refused")
	}
	if _, err := adaptStock([]byte(DebianNginxConf), "/tmp/a\"b"); err == nil {
		t.Errorf("a prefix with a quote must be refused")
	}
}

const helloSite = `server {
    listen 127.0.0.1:%d;
    location / { return 200 "hello $host\n"; }
    location /static/ { alias %s/; }
}
`

// TestStartServesAndStops starts nginx with both wrappers, fetches a page,
// and checks the process is gone once the test's cleanups ran.
func TestStartServesAndStops(t *testing.T) {
	bin := Require(t)
	for _, wrap := range []struct {
		name string
		w    Wrapper
	}{{"minimal", Minimal}, {"stock", Stock}} {
		var srv *Server
		t.Run(wrap.name, func(t *testing.T) {
			dir := TempDir(t)
			if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("static a"), 0o644); err != nil {
				t.Fatal(err)
			}
			port := FreePort(t)
			site := fmt.Sprintf(helloSite, port, dir)
			if err := Test(t, bin, wrap.w, []byte(site)); err != nil {
				t.Fatal(err)
			}
			srv = Start(t, bin, wrap.w, []byte(site))
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			srv.WaitListening(t, addr)
			for path, want := range map[string]string{"/": "hello x.test\n", "/static/a.txt": "static a"} {
				req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
				req.Host = "x.test"
				resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != want {
					t.Errorf("%s: %q, want %q\n%s", path, body, want, srv.Logs())
				}
			}
		})
		if exited, _ := srv.Exited(); !exited {
			t.Errorf("%s: nginx still running after the test's cleanup", wrap.name)
		}
	}
}

func TestTestReportsNginxMessage(t *testing.T) {
	bin := Require(t)
	err := Test(t, bin, Minimal, []byte("server { listen 127.0.0.1:1; bogus_directive; }\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown directive "bogus_directive"`) {
		t.Errorf("want nginx's message, got %v", err)
	}
}

func TestSelfSignedCert(t *testing.T) {
	dir := TempDir(t)
	c := SelfSignedCert(t, dir, "a.example.com")
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		t.Fatal("no leaf")
	}
	if err := leaf.VerifyHostname("a.example.com"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if _, err := leaf.Verify(x509VerifyOptions(c)); err != nil {
		t.Errorf("the pool must trust the certificate: %v", err)
	}
}

func x509VerifyOptions(c Cert) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: c.Pool, DNSName: "a.example.com"}
}
