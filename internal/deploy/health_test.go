package deploy

import (
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
)

func TestHealthTarget(t *testing.T) {
	cases := []struct {
		listen, redirect string
		names            []string
		tls              bool
		httpsPort        int
		url, host        string
	}{
		{"80", "none", []string{"example.com"}, false, 0, "http://127.0.0.1:80/healthz", "example.com"},
		{"0.0.0.0:8080", "none", []string{"a.test", "b.test"}, false, 0, "http://127.0.0.1:8080/healthz", "a.test"},
		{"[::]:81", "none", []string{"a.test"}, false, 0, "http://[::1]:81/healthz", "a.test"},
		{"127.0.0.2:80", "www-to-apex", []string{"www.a.test"}, false, 0, "http://127.0.0.2:80/healthz", "a.test"},
		{"80", "apex-to-www", []string{"a.test"}, true, 0, "https://127.0.0.1:443/healthz", "www.a.test"},
		{"80", "none", []string{"*.a.test"}, true, 8443, "https://127.0.0.1:8443/healthz", "www.a.test"},
	}
	for _, tc := range cases {
		c := stack.Default("app", "go")
		c.Nginx.Listen, c.Proxy.Redirect, c.Proxy.ServerNames = tc.listen, tc.redirect, tc.names
		got, err := healthTarget(c, tc.tls, tc.httpsPort)
		if err != nil || got.URL != tc.url || got.Host != tc.host {
			t.Errorf("%s %s %v tls=%v: %+v %v, want %s Host %s", tc.listen, tc.redirect, tc.names, tc.tls, got, err, tc.url, tc.host)
		}
	}
}
