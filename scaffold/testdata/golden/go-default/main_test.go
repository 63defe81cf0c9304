package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func testHandler(t *testing.T) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	return newHandler(log.New(&logs, "", 0)), &logs
}

func get(t *testing.T, h http.Handler, path, remote string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = remote
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHomePage(t *testing.T) {
	h, logs := testHandler(t)
	rec := get(t, h, "/", "203.0.113.7:51234", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	body := rec.Body.String()
	for _, want := range []string{"Hello, World!", `<span class="addr" id="client">203.0.113.7</span>`, `href="/static/style.css"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if !strings.Contains(logs.String(), `203.0.113.7 GET "/" 200`) {
		t.Errorf("request not logged: %q", logs.String())
	}
}

func TestClientAddress(t *testing.T) {
	tests := []struct {
		name, remote, realIP, want string
	}{
		{"direct client", "198.51.100.4:4000", "", "198.51.100.4"},
		{"proxy on loopback", "127.0.0.1:4000", "203.0.113.9", "203.0.113.9"},
		{"proxy on IPv6 loopback", "[::1]:4000", "2001:db8::1", "2001:db8::1"},
		{"spoofed from outside", "198.51.100.4:4000", "10.0.0.1", "198.51.100.4"},
		{"garbage X-Real-IP", "127.0.0.1:4000", "<script>", "127.0.0.1"},
	}
	h, _ := testHandler(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.realIP != "" {
				hdr.Set("X-Real-IP", tt.realIP)
			}
			body := get(t, h, "/", tt.remote, hdr).Body.String()
			want := `id="client">` + tt.want + `</span>`
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q:\n%s", want, body)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	h, _ := testHandler(t)
	rec := get(t, h, "/healthz", "127.0.0.1:1", nil)
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\\n\"", rec.Code, rec.Body.String())
	}
}

func TestNotFound(t *testing.T) {
	h, logs := testHandler(t)
	for _, path := range []string{"/nope", "/templates/index.html", "/static/", "/static/missing.css"} {
		if rec := get(t, h, path, "127.0.0.1:1", nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, rec.Code)
		}
	}
	if !strings.Contains(logs.String(), `"/nope" 404`) {
		t.Errorf("404 not logged: %q", logs.String())
	}
}

func TestStatic(t *testing.T) {
	h, _ := testHandler(t)
	rec := get(t, h, "/static/style.css", "127.0.0.1:1", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /static/style.css = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type = %q, want text/css", ct)
	}
	if !strings.Contains(rec.Body.String(), "font-family") {
		t.Errorf("style.css body = %q", rec.Body.String())
	}
}

func TestListenAddr(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{nil, "127.0.0.1:5000"},
		{map[string]string{"PORT": "9000"}, "127.0.0.1:9000"},
		{map[string]string{"HOST": "0.0.0.0"}, "0.0.0.0:5000"},
		{map[string]string{"HOST": "::1", "PORT": "81"}, "[::1]:81"},
	}
	for _, tt := range tests {
		got := listenAddr(func(k string) string { return tt.env[k] })
		if got != tt.want {
			t.Errorf("listenAddr(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

// TestGracefulShutdown serves on a real socket, starts a slow request,
// cancels the context as SIGTERM would, and checks the request still
// completes and run returns without error.
func TestGracefulShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, slow, log.New(io.Discard, "", 0)) }()

	type result struct {
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{string(b), err}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("request never reached the handler")
	}
	cancel()
	// The server must stop accepting while the request is in flight.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	select {
	case r := <-resc:
		if r.err != nil || r.body != "done" {
			t.Errorf("in-flight request = %q, %v; want \"done\"", r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request never finished")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
}
