package proxy

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// publicAddr returns a non-loopback IPv4 address of this machine, or skips.
func publicAddr(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address to act as a remote client")
	return ""
}

// Error pages show the app's log lines, folders and addresses only to a
// client on this machine; a remote one learns what failed, not where.
func TestErrorPagesPrivateOnlyOnLoopback(t *testing.T) {
	ip := publicAddr(t)
	c := testConfig(t)
	down := "127.0.0.1:1"
	p, err := New(c, Options{Upstreams: []string{down}, ErrorHints: func() []string { return []string{"SECRET-LOG-LINE at /srv/app/main.go:12"} }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skip(err)
	}
	go p.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	// Dialled on the public address, the client's address is ip too, not
	// loopback: the page is the public one.
	resp, body := rawExchange(t, ln.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 502 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, secret := range []string{"SECRET-LOG-LINE", down, "connection refused", "/srv/"} {
		if strings.Contains(body, secret) {
			t.Errorf("the public 502 page shows %q:\n%s", secret, body)
		}
	}
	mustContain(t, body, "the app is not answering")

	// The same proxy seen from loopback (a second listener) says it all.
	lo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(lo)
	_, body = rawExchange(t, lo.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	mustContain(t, body, "SECRET-LOG-LINE")
	mustContain(t, body, down)
}
