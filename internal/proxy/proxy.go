// Package proxy is stackctl's embedded reverse proxy: an HTTP/1.1 front built
// from the same stack.Config as the generated nginx site, with nginx's
// semantics (the headers the app sees, the URI passed byte for byte, static
// folders, limits, error statuses, WebSocket and streaming passthrough, gzip).
//
// The server core is a small HTTP/1.1 implementation over net.Conn rather
// than net/http: net/http cannot reproduce what nginx does with request
// headers (their order and spelling, underscores, 400/414 instead of 431,
// Content-Length with Transfer-Encoding), and a direct byte-level forwarder
// is also what reaches nginx's throughput.
//
// The parity tests (parity_test.go) send the same raw requests through real
// nginx 1.22 running gen-nginx's site and through the proxy. Where the proxy
// knowingly differs from that nginx:
//
//   - it answers "Server: stackctl" (nginx with server_tokens off: "nginx"),
//     and its error pages explain what failed, with the app's last log lines
//     for clients on this machine;
//   - an app that answers an upload early and closes at once gets its answer
//     passed, where nginx usually hits the reset while sending the body and
//     answers 502;
//   - a symbolic link in a static folder pointing outside it is refused (404),
//     where nginx's default disable_symlinks off would follow it;
//   - a request with several byte ranges gets the whole file (200), where
//     nginx answers multipart/byteranges;
//   - on a kept-alive connection, client_header_timeout may stretch to
//     keepalive_timeout (65s) from the previous response, rather than 60s
//     from the request's first byte (timers are re-armed lazily);
//   - a client closing its connection is noticed when the response is
//     written, not while the app is still working on it;
//   - HTTP/0.9 requests ("GET /" without a version) are refused with 400.
package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

// Options are the parts of a Proxy that do not come from stack.toml.
type Options struct {
	// Upstreams are the initial upstreams ("host:port" or "unix:/path"). When
	// empty, requests wait up to HoldTimeout for SetUpstreams, then get 502.
	Upstreams []string
	// HoldTimeout is how long a request waits for an upstream to be set;
	// default 10s.
	HoldTimeout time.Duration
	// AccessLog receives one line per request; nil for none.
	AccessLog io.Writer
	// LogFormat is "combined" (nginx's, the default) or "json".
	LogFormat string
	// ErrorHints returns lines shown in error pages' developer-friendly body,
	// such as the app's last log lines; nil for none. They are shown to
	// loopback clients only.
	ErrorHints func() []string
	// ClientTimeouts are the client-side timeouts, which stack.toml does not
	// set (the generated site keeps nginx's defaults); tests shorten them.
	ClientTimeouts ClientTimeouts
}

// ClientTimeouts are nginx's timeouts on the client's side of a request.
// A zero field is nginx's default: 60s, and Debian's keepalive_timeout 65s.
type ClientTimeouts struct {
	// Header is client_header_timeout: the whole request head.
	Header time.Duration
	// Body is client_body_timeout: between two reads of the request body.
	Body time.Duration
	// Send is send_timeout: between two writes to the client.
	Send time.Duration
	// Keepalive is keepalive_timeout: between two requests.
	Keepalive time.Duration
}

// Proxy is the embedded reverse proxy. Create it with New, run it with Serve
// and stop it with Shutdown; SetUpstreams and Update change it while it runs.
type Proxy struct {
	opts     Options
	settings atomic.Pointer[settings]
	pool     *pool
	log      *accessLog

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	done      chan struct{} // closed by Shutdown
	wg        sync.WaitGroup
}

// New returns a Proxy for the site described by c. The Config must be
// validated (stack.Load does it).
func New(c *stack.Config, opts Options) (*Proxy, error) {
	if opts.HoldTimeout <= 0 {
		opts.HoldTimeout = 10 * time.Second
	}
	lg, err := newAccessLog(opts.AccessLog, opts.LogFormat)
	if err != nil {
		return nil, err
	}
	s, err := newSettings(c, opts.ClientTimeouts)
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		opts:      opts,
		log:       lg,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		done:      make(chan struct{}),
	}
	p.settings.Store(s)
	p.pool = newPool(s.balance)
	if len(opts.Upstreams) > 0 {
		if err := validateUpstreams(opts.Upstreams); err != nil {
			return nil, err
		}
		p.pool.set(opts.Upstreams)
	}
	return p, nil
}

// Serve accepts connections on ln until Shutdown is called, and then returns
// nil. Any other accept error is returned.
func (p *Proxy) Serve(ln net.Listener) error {
	p.mu.Lock()
	if p.closing.Load() {
		p.mu.Unlock()
		ln.Close()
		return nil
	}
	p.listeners[ln] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, ln)
		p.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if p.closing.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Like net/http: back off on temporary errors (EMFILE).
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := p.newConn(nc)
		if c == nil {
			nc.Close()
			return nil
		}
		go c.serve()
	}
}

// Shutdown stops accepting connections, closes idle ones, lets requests in
// flight finish and returns when all are done or ctx ends (then it closes
// the remaining connections and returns ctx's error).
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if !p.closing.Swap(true) {
		close(p.done)
	}
	for ln := range p.listeners {
		ln.Close()
	}
	for c := range p.conns {
		c.closeIfIdle()
	}
	p.mu.Unlock()
	finished := make(chan struct{})
	go func() { p.wg.Wait(); close(finished) }()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		err = ctx.Err()
		p.mu.Lock()
		for c := range p.conns {
			// Not under p.mu: closing a socket waits for a read callback
			// on it to return (see abort).
			go c.abort()
		}
		p.mu.Unlock()
		<-finished
	}
	p.pool.closeIdle()
	return err
}

// SetUpstreams atomically replaces the upstreams requests go to (a live
// reload's new port, or the replicas). Requests already sent finish on the
// old ones; held requests proceed.
func (p *Proxy) SetUpstreams(addrs []string) {
	p.pool.set(addrs)
}

// Update applies the proxy settings of a re-read stack.toml (body size,
// timeouts, static folders, gzip, headers, balancing policy, keepalive) to
// the requests that start from now on. The upstream list itself is changed
// with SetUpstreams.
func (p *Proxy) Update(c *stack.Config) error {
	s, err := newSettings(c, p.opts.ClientTimeouts)
	if err != nil {
		return err
	}
	p.settings.Store(s)
	p.pool.configure(s.balance)
	return nil
}

func (p *Proxy) newConn(nc net.Conn) *conn {
	c := newConn(p, nc)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return nil
	}
	p.conns[c] = struct{}{}
	p.wg.Add(1)
	return c
}

func (p *Proxy) forget(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	p.wg.Done()
}

func validateUpstreams(addrs []string) error {
	for _, a := range addrs {
		if err := stack.ValidateUpstream(a); err != nil {
			return err
		}
	}
	return nil
}
