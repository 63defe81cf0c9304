package parity

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

func TestViewNormalises(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("hello\n"))
	zw.Close()
	r := &Response{
		Proto: "HTTP/1.1", Status: 200, Reason: "OK",
		Headers: []Field{
			{"Server", "nginx/1.22.1"},
			{"Date", "Tue, 24 Nov 2026 08:00:00 GMT"},
			{"Vary", "b"},
			{"Content-Encoding", "gzip"},
			{"Content-Length", "99"},
			{"Expires", "Tue, 24 Nov 2026 08:00:30 GMT"},
			{"Location", "http://example.com:4321/static/"},
			{"vary", "a"},
			{"Connection", "keep-alive"},
		},
		Body: gz.Bytes(),
	}
	got := View(r, ViewOptions{Method: "GET", FrontPort: "4321"})
	want := "HTTP/1.1 200 OK\n" +
		"header content-encoding: gzip\n" +
		"header date: (the time)\n" +
		"header expires: Date+30s\n" +
		"header location: http://example.com:PORT/static/\n" +
		"header server: (the front's name)\n" +
		"header vary: b\n" +
		"header vary: a\n" +
		"gzip body, decoded:\n" +
		"body:\n  hello\n"
	if got != want {
		t.Errorf("View:\n%s", Diff("want", want, "got", got))
	}
}

func TestViewErrorPageAndEcho(t *testing.T) {
	page := &Response{Proto: "HTTP/1.1", Status: 502, Reason: "Bad Gateway",
		Headers: []Field{{"Content-Type", "text/html"}, {"Content-Length", "157"}}, Body: []byte("<html>nginx</html>")}
	if got := View(page, ViewOptions{}); got != "HTTP/1.1 502 Bad Gateway\nheader content-type: text/html\nbody: the front's own page\n" {
		t.Errorf("error page view:\n%s", got)
	}
	echo := &Response{Proto: "HTTP/1.1", Status: 500, Reason: "Internal Server Error",
		Headers: []Field{{EchoServerHeader, "A"}, {EchoConnHeader, "7"}, {"Content-Length", "10"}},
		Body:    []byte(`{"server":"A","method":"GET","target":"/\u00ff","proto":"HTTP/1.1","headers":[{"name":"Host","value":"x"}],"framing":"none","body_length":0,"body_sha256":"e3b0c44298fc1c149afbf4c8996fb924"}`)}
	got := View(echo, ViewOptions{})
	for _, want := range []string{"header content-length: 10\n", `upstream A got: GET "/\xff" HTTP/1.1`, "upstream header host: x\n", "upstream body: 0 bytes (none)"} {
		if !strings.Contains(got, want) {
			t.Errorf("echo view lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "x-echo-conn") {
		t.Errorf("echo view keeps the connection header:\n%s", got)
	}
}

func TestDiff(t *testing.T) {
	if d := Diff("a", "x\ny\n", "b", "x\ny\n"); d != "" {
		t.Errorf("equal texts: %q", d)
	}
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n"
	b := "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n12\n13\n"
	want := "--- nginx\n+++ proxy\n" +
		"@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n" +
		"@@ -10,3 +10,4 @@\n 10\n 11\n 12\n+13\n"
	if got := Diff("nginx", a, "proxy", b); got != want {
		t.Errorf("Diff:\n%s\nwant:\n%s", got, want)
	}
	whole := DiffContext("nginx", "a\nb\nc\nd\ne\nf\ng\nh\n", "proxy", "a\nb\nc\nd\nE\nf\ng\nh\n", 100)
	if want := "--- nginx\n+++ proxy\n@@ -1,8 +1,8 @@\n a\n b\n c\n d\n-e\n+E\n f\n g\n h\n"; whole != want {
		t.Errorf("DiffContext with the whole text:\n%s\nwant:\n%s", whole, want)
	}
}
