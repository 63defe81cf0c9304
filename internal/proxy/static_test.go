package proxy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

func staticProject(t *testing.T) (*stack.Config, string) {
	t.Helper()
	c := testConfig(t)
	dir := c.Dir()
	st := filepath.Join(dir, "static")
	os.MkdirAll(filepath.Join(st, "sub"), 0o755)
	os.MkdirAll(filepath.Join(st, "withindex"), 0o755)
	os.WriteFile(filepath.Join(st, "app.css"), []byte("body { color: red; } /* padding to pass gzip_min_length */"), 0o644)
	os.WriteFile(filepath.Join(st, "app.js"), []byte("console.log(1)"), 0o644)
	os.WriteFile(filepath.Join(st, "withindex", "index.html"), []byte("<p>index</p>"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644)
	os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(st, "link.txt"))
	c.Proxy.Static = []stack.Static{{URL: "/static/", Dir: "static", Expires: "30d"}}
	return c, st
}

func TestStaticFiles(t *testing.T) {
	up := startEcho(t)
	c, dir := staticProject(t)
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	fi, _ := os.Stat(filepath.Join(dir, "app.css"))
	etag := fmt.Sprintf("\"%x-%x\"", fi.ModTime().Unix(), fi.Size())
	lastMod := fi.ModTime().UTC().Format(time.RFC1123)
	lastMod = lastMod[:len(lastMod)-3] + "GMT"

	resp, body := rawExchange(t, addr, "GET /static/app.css HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || body[:4] != "body" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	h := resp.Header
	for k, want := range map[string]string{
		"Content-Type":   "text/css",
		"Content-Length": strconv.FormatInt(fi.Size(), 10),
		"ETag":           etag,
		"Last-Modified":  lastMod,
		"Cache-Control":  "max-age=2592000",
		"Accept-Ranges":  "bytes",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	exp, err := time.Parse(time.RFC1123, h.Get("Expires"))
	if err != nil || exp.Sub(time.Now()) < 29*24*time.Hour {
		t.Errorf("Expires %q", h.Get("Expires"))
	}
	if ct := mustGet(t, addr, "/static/app.js").Header.Get("Content-Type"); ct != "application/javascript" {
		t.Errorf("js type %q (nginx's mime.types)", ct)
	}

	for _, tc := range []struct {
		name, raw string
		status    int
		body      string
		header    [2]string
	}{
		{"etag 304", "GET /static/app.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag + "\r\n\r\n", 304, "", [2]string{"ETag", etag}},
		{"ims 304", "GET /static/app.css HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: " + lastMod + "\r\n\r\n", 304, "", [2]string{"Cache-Control", "max-age=2592000"}},
		{"other etag", "GET /static/app.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"1-1\"\r\n\r\n", 200, "", [2]string{}},
		{"range", "GET /static/app.css HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\n", 206, "ody", [2]string{"Content-Range", "bytes 1-3/" + strconv.FormatInt(fi.Size(), 10)}},
		{"suffix range", "GET /static/app.css HTTP/1.1\r\nHost: x\r\nRange: bytes=-2\r\n\r\n", 206, "*/", [2]string{}},
		{"range past end", "GET /static/app.css HTTP/1.1\r\nHost: x\r\nRange: bytes=999-\r\n\r\n", 416, "", [2]string{"Content-Range", "bytes */" + strconv.FormatInt(fi.Size(), 10)}},
		{"missing", "GET /static/nope.css HTTP/1.1\r\nHost: x\r\n\r\n", 404, "", [2]string{}},
		{"dir without index", "GET /static/sub/ HTTP/1.1\r\nHost: x\r\n\r\n", 403, "", [2]string{}},
		{"static root", "GET /static/ HTTP/1.1\r\nHost: x\r\n\r\n", 403, "", [2]string{}},
		{"dir index", "GET /static/withindex/ HTTP/1.1\r\nHost: x\r\n\r\n", 200, "<p>index</p>", [2]string{"Content-Type", "text/html"}},
		{"dir without slash", "GET /static/sub?a=1 HTTP/1.1\r\nHost: x\r\n\r\n", 301, "", [2]string{"Location", "http://x:" + portOf(addr) + "/static/sub/?a=1"}},
		{"symlink out", "GET /static/link.txt HTTP/1.1\r\nHost: x\r\n\r\n", 404, "", [2]string{}},
		{"post", "POST /static/app.css HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, "", [2]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawExchange(t, addr, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.body != "" && tc.status != 206 && body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if tc.status == 206 && tc.body != "*/" && body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if tc.header[0] != "" && resp.Header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s: %q, want %q", tc.header[0], resp.Header.Get(tc.header[0]), tc.header[1])
			}
		})
	}
}

func TestStaticNeverEscapes(t *testing.T) {
	up := startEcho(t)
	c, _ := staticProject(t)
	_, addr := startProxy(t, c, Options{Upstreams: []string{up.addr}})
	// Like nginx, a path that leaves the location after normalisation is
	// matched against the other locations (here: proxied to the app with
	// its URI untouched), never served from outside the folder.
	for _, uri := range []string{"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/..%2fsecret.txt", "//static/../secret.txt"} {
		resp, body := rawExchange(t, addr, "GET "+uri+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 200 || body == "secret" {
			t.Errorf("%s: %d %q", uri, resp.StatusCode, body)
			continue
		}
		mustContain(t, body, `"uri":"`+uri+`"`)
	}
	// Merged slashes still find the static file, as with nginx.
	if resp := mustGet(t, addr, "//static//app.css"); resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
		t.Errorf("//static//app.css: %d", resp.StatusCode)
	}
}

func mustGet(t *testing.T, addr, uri string) *httpResponse {
	t.Helper()
	resp, _ := rawExchange(t, addr, "GET "+uri+" HTTP/1.1\r\nHost: x\r\n\r\n")
	return resp
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}
