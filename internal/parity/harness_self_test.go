package parity

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
)

// TestHarnessCatchesAWrongProxy puts net/http/httputil's ReverseProxy, a
// proxy without nginx's semantics, where the embedded proxy goes, and checks
// that the harness reports the differences DESIGN.md names: no X-Real-IP,
// a Host with the upstream's address, hop-by-hop headers stripped, static
// files not served. A harness whose normalisation hid these would let
// every case pass.
func TestHarnessCatchesAWrongProxy(t *testing.T) {
	requireNginx(t)
	s := startSite(t, siteSpec{proxy: func(t *testing.T, c *stack.Config, ln net.Listener) {
		u, _ := url.Parse("http://" + c.Upstream.Servers[0])
		srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(u), ReadHeaderTimeout: timeout}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}})
	cases := []struct {
		c    parityCase
		want []string // lines of the diff that must be there
	}{
		{parityCase{name: "x_real_ip", req: get("/wrong/1")}, []string{"-upstream header x-real-ip: 127.0.0.1"}},
		{parityCase{name: "host", req: raw("GET /wrong/2 HTTP/1.1", "Host: Example.com:8080")}, []string{"-upstream header host: example.com"}},
		{parityCase{name: "proxy_connection", req: get("/wrong/3", "Proxy-Connection: keep-alive")}, []string{"-upstream header proxy-connection: keep-alive"}},
		{parityCase{name: "static", req: get("/static/notes.txt")}, []string{"-header etag: " + etag("notes.txt")}},
		{parityCase{name: "underscore", req: get("/wrong/4", "X_Under: 1")}, []string{"+upstream header x_under: 1"}},
	}
	for _, tc := range cases {
		views, status := compare(t, s, tc.c, true)
		d := Diff("nginx", views[0], "proxy", views[1])
		if status != 200 {
			t.Errorf("%s: nginx answered %d:\n%s", tc.c.name, status, views[0])
		}
		for _, w := range tc.want {
			if !strings.Contains(d, "\n"+w+"\n") {
				t.Errorf("%s: the diff lacks %q:\n%s", tc.c.name, w, d)
			}
		}
	}
}
