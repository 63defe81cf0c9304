package hosttest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Load is a browser-like load on a host's nginx for zero-downtime checks:
// keep-alive connections, and a GET retried once when a reused idle
// connection turns out to be closed (Go's http.Transport does that), so a
// graceful nginx reload is not counted as a failure but a lost request is.
type Load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	stop       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

// StartLoad starts clients asking http://addr+path with Host: hostHeader
// in a loop until Check (or the test's end), each pausing 2 ms after an
// answer.
func StartLoad(t testing.TB, addr, hostHeader, path string, clients int) *Load {
	return StartLoadPaced(t, addr, hostHeader, path, clients, 2*time.Millisecond)
}

// StartLoadPaced is StartLoad with each client pausing pause after an
// answer; 0 sends as fast as the clients and the servers go (a capacity
// run).
func StartLoadPaced(t testing.TB, addr, hostHeader, path string, clients int, pause time.Duration) *Load {
	return startLoad(t, "http", addr, hostHeader, path, clients, pause, nil)
}

// StartLoadHTTPS is StartLoad over HTTPS: the clients check the server's
// certificate for hostHeader against roots (and keep their connections:
// a certificate the server changes meanwhile shows in new handshakes only).
func StartLoadHTTPS(t testing.TB, addr, hostHeader, path string, clients int, roots *x509.CertPool) *Load {
	return startLoad(t, "https", addr, hostHeader, path, clients, 2*time.Millisecond, &tls.Config{RootCAs: roots, ServerName: hostHeader})
}

func startLoad(t testing.TB, scheme, addr, hostHeader, path string, clients int, pause time.Duration, tc *tls.Config) *Load {
	l := &Load{stop: make(chan struct{})}
	tr := &http.Transport{MaxIdleConnsPerHost: clients, IdleConnTimeout: 30 * time.Second, TLSClientConfig: tc}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", scheme+"://"+addr+path, nil)
				req.Host = hostHeader
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						if err != nil {
							l.errs = append(l.errs, err.Error())
						} else {
							l.errs = append(l.errs, resp.Status)
						}
					}
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

// Counts is how many requests were answered 200 and how many failed so
// far, for a test that reports each step's share of the load.
func (l *Load) Counts() (ok, failed int64) { return l.ok.Load(), l.failed.Load() }

// Stop stops the load and returns its counts and the first errors, for a
// test that counts failures rather than forbidding them.
func (l *Load) Stop() (ok, failed int64, errs []string) {
	l.end()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed.Load(), append([]string(nil), l.errs...)
}

func (l *Load) end() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// Check stops the load and fails the test when a request failed or none
// was answered.
func (l *Load) Check(t testing.TB, what string) {
	t.Helper()
	l.end()
	t.Logf("%s under load: %d requests answered 200, %d failed", what, l.ok.Load(), l.failed.Load())
	if l.failed.Load() != 0 {
		t.Errorf("%s: %d requests failed: %v", what, l.failed.Load(), l.errs)
	}
	if l.ok.Load() == 0 {
		t.Errorf("%s: no request was answered", what)
	}
}
