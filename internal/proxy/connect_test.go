package proxy

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fullBacklogListener returns the address of a loopback socket listening
// with a backlog of zero whose queue is already full, so a further connect
// gets no answer (Linux drops the SYN): an app that does not accept.
func fullBacklogListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	t.Cleanup(func() { f.Close() })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the accept queue.
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the kernel kept accepting connections on a full backlog; cannot simulate a connect timeout here")
	return ""
}

func TestConnectTimeout(t *testing.T) {
	addr := fullBacklogListener(t)
	c := testConfig(t)
	c.Proxy.ConnectTimeout = "300ms"
	_, px := startProxy(t, c, Options{Upstreams: []string{addr}})
	start := time.Now()
	resp, body := rawExchange(t, px, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	d := time.Since(start)
	// nginx: proxy_connect_timeout expiring is an upstream timeout, 504.
	if resp.StatusCode != 504 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if d < 300*time.Millisecond || !strings.Contains(body, "connect_timeout") {
		t.Errorf("after %v: %.300s", d, body)
	}
}
