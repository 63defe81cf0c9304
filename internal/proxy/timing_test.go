package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedApp is an upstream whose every connection is handled by fn, for
// timing and connection-reuse cases a well-behaved echo cannot produce.
type scriptedApp struct {
	ln    net.Listener
	done  chan struct{} // closed when the test ends
	conns atomic.Int32
	reqs  sync.Map // request line -> *atomic.Int32
}

func startScriptedApp(t *testing.T, fn func(a *scriptedApp, c net.Conn, br *bufio.Reader)) *scriptedApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &scriptedApp{ln: ln, done: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	t.Cleanup(func() {
		close(a.done)
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.conns.Add(1)
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				fn(a, c, bufio.NewReader(c))
			}()
		}
	}()
	return a
}

func (a *scriptedApp) addr() string { return a.ln.Addr().String() }

// pause waits d, or until the test ends.
func (a *scriptedApp) pause(d time.Duration) {
	select {
	case <-time.After(d):
	case <-a.done:
	}
}

// readRequest reads one request head and returns its line and
// Content-Length (the body is left unread); ok is false at EOF.
func (a *scriptedApp) readRequest(br *bufio.Reader) (line string, length int64, ok bool) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return "", 0, false
	}
	line = req.Method + " " + req.RequestURI
	n, _ := a.reqs.LoadOrStore(line, new(atomic.Int32))
	n.(*atomic.Int32).Add(1)
	return line, req.ContentLength, true
}

func (a *scriptedApp) count(line string) int {
	if n, ok := a.reqs.Load(line); ok {
		return int(n.(*atomic.Int32).Load())
	}
	return 0
}

func answer(c net.Conn, status int, body string) error {
	_, err := fmt.Fprintf(c, "HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)
	return err
}

// shortTimeouts are client-side timeouts short enough for a test to go
// past them, as nginx's would be set in the parity suite.
var shortTimeouts = ClientTimeouts{Header: time.Second, Body: 500 * time.Millisecond, Send: 500 * time.Millisecond, Keepalive: 2 * time.Second}

// An answer later than send_timeout (but within read_timeout) reaches the
// client: send_timeout runs between two writes, not from the request.
func TestLateAnswerReachesClient(t *testing.T) {
	app := startScriptedApp(t, func(a *scriptedApp, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, ok := a.readRequest(br); !ok {
				return
			}
			a.pause(1500 * time.Millisecond) // 3 × send_timeout
			answer(c, 200, "late but fine")
		}
	})
	c := testConfig(t)
	c.Proxy.ReadTimeout = "5s"
	_, px := startProxy(t, c, Options{Upstreams: []string{app.addr()}, ClientTimeouts: shortTimeouts})
	resp, body := rawExchange(t, px, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || body != "late but fine" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// The proxy's own 504, later than send_timeout, reaches the client too.
func TestGatewayTimeoutReachesClient(t *testing.T) {
	app := startScriptedApp(t, func(a *scriptedApp, c net.Conn, br *bufio.Reader) {
		a.readRequest(br)
		io.Copy(io.Discard, br) // never answers
	})
	c := testConfig(t)
	c.Proxy.ReadTimeout = "1s"
	_, px := startProxy(t, c, Options{Upstreams: []string{app.addr()}, ClientTimeouts: shortTimeouts})
	resp, body := rawExchange(t, px, "GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 504 {
		t.Fatalf("%d %.200q", resp.StatusCode, body)
	}
}

// A download read slowly but steadily, much longer than send_timeout in
// all, succeeds; a client that stops reading is cut off.
func TestSlowSteadyDownload(t *testing.T) {
	const size, huge = 640 << 10, 64 << 20
	stalledEnd := make(chan error, 1)
	app := startScriptedApp(t, func(a *scriptedApp, c net.Conn, br *bufio.Reader) {
		for {
			line, _, ok := a.readRequest(br)
			if !ok {
				return
			}
			n := size
			if line == "GET /stalled" {
				n = huge // more than every socket buffer between the two
			}
			err := answer(c, 200, strings.Repeat("d", n))
			if line == "GET /stalled" {
				stalledEnd <- err
			}
			if err != nil {
				return
			}
		}
	})
	c := testConfig(t)
	_, px := startProxy(t, c, Options{Upstreams: []string{app.addr()}, ClientTimeouts: shortTimeouts})
	nc, err := net.DialTimeout("tcp", px, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(64 << 10)
	io.WriteString(nc, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	start := time.Now()
	buf := make([]byte, 16<<10)
	total := 0
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for sinceRest := 0; ; {
		n, err := nc.Read(buf)
		total += n
		sinceRest += n
		if err != nil || total >= size {
			break
		}
		if sinceRest >= 64<<10 {
			time.Sleep(100 * time.Millisecond) // far from send_timeout's 500ms
			sinceRest = 0
		}
	}
	if d := time.Since(start); total < size || d <= shortTimeouts.Send {
		t.Fatalf("read %d of %d+head bytes in %v: want all of it, over more than send_timeout", total, size, d)
	}

	// A client that stops reading: the proxy gives up after send_timeout
	// and closes, long before the body is through.
	nc2, err := net.DialTimeout("tcp", px, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	nc2.(*net.TCPConn).SetReadBuffer(4 << 10)
	io.WriteString(nc2, "GET /stalled HTTP/1.1\r\nHost: x\r\n\r\n")
	// The proxy closes both sides: the app's write of the body fails.
	select {
	case err := <-stalledEnd:
		if err == nil {
			t.Errorf("the app wrote all %d bytes to a client that reads nothing", huge)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("the proxy still relays to a client that has not read for 15s (send_timeout 500ms)")
	}
}

// An upload sent slowly but steadily succeeds: client_body_timeout runs
// between two reads.
func TestSlowSteadyUpload(t *testing.T) {
	app := startScriptedApp(t, func(a *scriptedApp, c net.Conn, br *bufio.Reader) {
		for {
			_, n, ok := a.readRequest(br)
			if !ok {
				return
			}
			got, _ := io.CopyN(io.Discard, br, n)
			answer(c, 200, strconv.FormatInt(got, 10))
		}
	})
	c := testConfig(t)
	_, px := startProxy(t, c, Options{Upstreams: []string{app.addr()}, ClientTimeouts: shortTimeouts})
	nc, err := net.DialTimeout("tcp", px, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const pieces, piece = 12, 4096
	fmt.Fprintf(nc, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", pieces*piece)
	start := time.Now()
	for i := 0; i < pieces; i++ {
		time.Sleep(100 * time.Millisecond) // far from client_body_timeout's 500ms
		if _, err := nc.Write([]byte(strings.Repeat("u", piece))); err != nil {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != strconv.Itoa(pieces*piece) {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// The app's answer to an upload it does not read (a 404 at once) reaches
// the client, whether the app then closes or keeps the connection.
func TestEarlyAnswerFromApp(t *testing.T) {
	for _, closeAfter := range []bool{true, false} {
		t.Run(fmt.Sprintf("app_closes=%v", closeAfter), func(t *testing.T) {
			app := startScriptedApp(t, func(a *scriptedApp, c net.Conn, br *bufio.Reader) {
				if _, _, ok := a.readRequest(br); !ok {
					return
				}
				answer(c, 404, "no such upload target")
				if !closeAfter {
					a.pause(3 * time.Second) // neither reads nor closes
				}
			})
			c := testConfig(t)
			c.Proxy.ClientMaxBodySize = "10m"
			_, px := startProxy(t, c, Options{Upstreams: []string{app.addr()}, ClientTimeouts: shortTimeouts})
			body := strings.Repeat("x", 5<<20)
			resp, got := rawExchange(t, px, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
			if resp.StatusCode != 404 || got != "no such upload target" {
				t.Fatalf("%d %.200q", resp.StatusCode, got)
			}
			if n := app.count("POST /upload"); n != 1 {
				t.Errorf("the app got the upload %d times", n)
			}
		})
	}
}

// The proxy's own early answers are read by a client that writes its
// whole body before reading (lingering close), not lost to a reset.
func TestOwnEarlyAnswerWithLingeringClose(t *testing.T) {
	c := testConfig(t)
	c.Proxy.ClientMaxBodySize = "4m"
	c.Proxy.Redirect = "www-to-apex"
	_, px := startProxy(t, c, Options{Upstreams: []string{"127.0.0.1:1"}, ClientTimeouts: shortTimeouts})
	for _, tc := range []struct {
		head   string
		size   int
		status int
	}{
		{"POST /form HTTP/1.1\r\nHost: example.com\r\n", 5 << 20, 413},
		// The redirect server block answers before any location's limit.
		{"POST /form HTTP/1.1\r\nHost: www.example.com\r\n", 5 << 20, 301},
		{"POST /.git/config HTTP/1.1\r\nHost: example.com\r\n", 3 << 20, 403},
	} {
		body := strings.Repeat("x", tc.size)
		nc, err := net.DialTimeout("tcp", px, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.WriteString(nc, tc.head+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
			t.Errorf("%d: writing the body: %v", tc.status, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Errorf("%d: reading the answer: %v", tc.status, err)
		} else if resp.StatusCode != tc.status {
			t.Errorf("got %d, want %d", resp.StatusCode, tc.status)
		}
		nc.Close()
	}
}

// An idle upstream connection the app closed is never used for a request,
// and a request that is not idempotent is never sent twice.
func TestUpstreamKeepaliveSafety(t *testing.T) {
	app := startScriptedApp(t, func(a *scriptedApp, c net.Conn, br *bufio.Reader) {
		line, n, ok := a.readRequest(br)
		if !ok {
			return
		}
		io.CopyN(io.Discard, br, n)
		switch line {
		case "GET /then-close":
			answer(c, 200, "ok")
			a.pause(100 * time.Millisecond) // idle in the proxy's pool, then closed
		case "GET /extra":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nbogus!")
			a.pause(time.Second)
		case "POST /crash":
			return // the app dies with the request read, before answering
		default:
			// This handler closes the connection when it returns, and says
			// so: a pooled connection the app closes at once would race
			// the next request onto it (the POST below, seen 0 times).
			io.WriteString(c, "HTTP/1.1 200 X\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfresh")
		}
	})
	c := testConfig(t)
	_, px := startProxy(t, c, Options{Upstreams: []string{app.addr()}, ClientTimeouts: shortTimeouts})

	if resp, _ := rawExchange(t, px, "GET /then-close HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // the app has closed its end
	resp, body := rawExchange(t, px, "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	if resp.StatusCode != 200 || body != "fresh" || app.count("POST /form") != 1 {
		t.Errorf("POST after the app closed the pooled connection: %d %q, sent %d times", resp.StatusCode, body, app.count("POST /form"))
	}

	// Bytes after a response's end are not the next response.
	if resp, body := rawExchange(t, px, "GET /extra HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("/extra: %d %q", resp.StatusCode, body)
	}
	if resp, body := rawExchange(t, px, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"); body != "fresh" {
		t.Errorf("the request after a response with trailing bytes got %d %q", resp.StatusCode, body)
	}

	// A POST on a kept-alive connection that the app drops: 502, sent once.
	nc, err := net.DialTimeout("tcp", px, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET /warm HTTP/1.1\r\nHost: x\r\n\r\nPOST /crash HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz")
	br := bufio.NewReader(nc)
	var statuses []int
	for i := 0; i < 2; i++ {
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		statuses = append(statuses, r.StatusCode)
	}
	if statuses[1] != 502 || app.count("POST /crash") != 1 {
		t.Errorf("statuses %v; the app got the POST %d times, want once", statuses, app.count("POST /crash"))
	}
}

// Shutdown's grace holds with a request waiting for a slow app: when the
// context ends, Shutdown returns at once, whichever way the request is
// being served.
func TestShutdownDuringSlowRequest(t *testing.T) {
	app := startScriptedApp(t, func(a *scriptedApp, c net.Conn, br *bufio.Reader) {
		a.readRequest(br)
		a.pause(10 * time.Second)
	})
	c := testConfig(t)
	c.Proxy.ReadTimeout = "30s"
	p, err := New(c, Options{Upstreams: []string{app.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(ln)
	var clients sync.WaitGroup
	for _, req := range []string{
		"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n",                        // served inside the read callback
		"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nb", // served outside it
	} {
		nc, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		io.WriteString(nc, req)
		clients.Add(1)
		go func() {
			defer clients.Done()
			nc.SetReadDeadline(time.Now().Add(15 * time.Second))
			io.Copy(io.Discard, nc)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for app.count("GET /slow")+app.count("POST /slow") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	p.Shutdown(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown with a 300ms grace took %v", d)
	}
	clients.Wait()
}

// A body that cannot be stored on disk is a 500, as nginx answers when it
// cannot write client_body_temp_path; not a silent close.
func TestBodySpoolErrorIs500(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	app := startScriptedApp(t, func(a *scriptedApp, c net.Conn, br *bufio.Reader) {
		a.readRequest(br)
		answer(c, 200, "should not get here")
	})
	c := testConfig(t)
	c.Proxy.ClientMaxBodySize = "10m"
	_, px := startProxy(t, c, Options{Upstreams: []string{app.addr()}, ClientTimeouts: shortTimeouts})
	body := strings.Repeat("x", 2<<20) // over the 1 MB kept in memory
	resp, got := rawExchange(t, px, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	if resp.StatusCode != 500 || app.count("POST /big") != 0 {
		t.Fatalf("%d (the app got it %d times): %.200q", resp.StatusCode, app.count("POST /big"), got)
	}
}

// upgradeApp answers an upgrade with 101 and then runs fn on the tunnel.
func upgradeApp(t *testing.T, fn func(c net.Conn, br *bufio.Reader)) *scriptedApp {
	return startScriptedApp(t, func(a *scriptedApp, c net.Conn, br *bufio.Reader) {
		if _, _, ok := a.readRequest(br); !ok {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		fn(c, br)
	})
}

func dialUpgrade(t *testing.T, px string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", px, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return nc, br
}

// A tunnel lives while data moves in either direction, and ends after
// read_timeout of silence both ways.
func TestTunnelIdleLimit(t *testing.T) {
	got := make(chan int, 1)
	app := upgradeApp(t, func(c net.Conn, br *bufio.Reader) {
		n, _ := io.Copy(io.Discard, br) // reads, never writes
		got <- int(n)
	})
	c := testConfig(t)
	c.Proxy.ReadTimeout = "1s"
	_, px := startProxy(t, c, Options{Upstreams: []string{app.addr()}, ClientTimeouts: shortTimeouts})
	nc, br := dialUpgrade(t, px)
	// 2.4s of client messages 300ms apart: longer than read_timeout in all,
	// though the app never says anything.
	for i := 0; i < 8; i++ {
		time.Sleep(300 * time.Millisecond)
		if _, err := nc.Write([]byte("m")); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	// Then silence: the proxy closes the tunnel after read_timeout.
	start := time.Now()
	if _, err := br.ReadByte(); err == nil || isTimeout(err) {
		t.Fatalf("read after silence: %v", err)
	}
	if d := time.Since(start); d < 800*time.Millisecond || d > 5*time.Second {
		t.Errorf("the silent tunnel ended after %v; want about read_timeout (1s)", d)
	}
	select {
	case n := <-got:
		if n != 8 {
			t.Errorf("the app got %d bytes, want 8", n)
		}
	case <-time.After(10 * time.Second):
		t.Error("the app's side of the tunnel is still open")
	}
}

// A tunnel whose client stopped reading ends after send_timeout instead of
// holding the app forever.
func TestTunnelStuckClient(t *testing.T) {
	ended := make(chan error, 1)
	app := upgradeApp(t, func(c net.Conn, br *bufio.Reader) {
		chunk := []byte(strings.Repeat("w", 64<<10))
		for {
			if _, err := c.Write(chunk); err != nil {
				ended <- err
				return
			}
		}
	})
	c := testConfig(t)
	c.Proxy.ReadTimeout = "3s"
	_, px := startProxy(t, c, Options{Upstreams: []string{app.addr()}, ClientTimeouts: shortTimeouts})
	nc, _ := dialUpgrade(t, px)
	nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	select {
	case <-ended: // the proxy closed the app's side
	case <-time.After(15 * time.Second):
		t.Fatal("the app still writes into a tunnel whose client reads nothing")
	}
}
