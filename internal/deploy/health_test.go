package deploy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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

// The slot's health check (healthScript, run here by sh against a real
// HTTP server on loopback) asks as the site does — the site's Host and,
// with TLS, X-Forwarded-Proto — counts a redirect as healthy without
// following it, and on a refusal names the status and shows the start of
// the answer, its control characters removed.
func TestHealthScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	var mu sync.Mutex
	var seen []string
	status, body := http.StatusFound, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Host+" "+r.Header.Get("X-Forwarded-Proto")+" "+r.URL.Path)
		code, text := status, body
		mu.Unlock()
		if code == http.StatusFound {
			w.Header().Set("Location", "/accounts/login/")
		}
		w.WriteHeader(code)
		io.WriteString(w, text)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	run := func(proto string) (string, error) {
		out, err := exec.Command("sh", "-c", healthScript, "stackctl", strconv.Itoa(port), "/", "1", "nosuch-stackctl-test.service", "mysite.example", proto).CombinedOutput()
		return string(out), err
	}
	if out, err := run("https"); err != nil {
		t.Fatalf("a 302 is healthy, got %v:\n%s", err, out)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != "mysite.example https /" {
		t.Errorf("the app saw %q, want one GET / with Host mysite.example and X-Forwarded-Proto https", seen)
	}
	status, body, seen = http.StatusBadRequest, "<h1>Bad Request (400)</h1>\x1b[31m DisallowedHost", nil
	mu.Unlock()
	out, err := run("")
	if err == nil {
		t.Fatalf("a 400 is not healthy:\n%s", out)
	}
	for _, want := range []string{"no 2xx or 3xx answer to GET / (Host: mysite.example)", "last answer: 400", "the answer began:\n<h1>Bad Request (400)</h1>[31m DisallowedHost"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if s != "mysite.example  /" {
			t.Errorf("without TLS the app saw %q, want no X-Forwarded-Proto", s)
		}
	}
	for code, want := range map[int]bool{0: false, 199: false, 200: true, 204: true, 301: true, 302: true, 399: true, 400: false, 404: false, 502: false} {
		if HealthyStatus(code) != want {
			t.Errorf("HealthyStatus(%d) = %v, want %v", code, !want, want)
		}
	}
}
