package proxy

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// balanceConfig is the [upstream] table: the policy, nginx's passive health
// check (max_fails within fail_timeout) and the keepalive pool size.
type balanceConfig struct {
	policy      string
	maxFails    int
	failTimeout time.Duration
	keepalive   int
}

// peer is one upstream server, with nginx's failure accounting and a pool
// of idle keepalive connections.
type peer struct {
	addr    string
	network string
	address string

	active atomic.Int64 // requests in flight, for least_conn

	mu      sync.Mutex
	fails   int
	checked time.Time // when the failure window started, or the last probe
	idle    []*appConn
	removed bool
	// nginx's smooth weighted round robin (every weight is 1): current
	// is current_weight, effective is effective_weight, lowered by a
	// failure and raised back by one each time the peer is considered.
	current   int
	effective int
}

// appConn is a connection to an upstream server.
type appConn struct {
	nc   net.Conn
	pr   *pollReader
	br   *bufio.Reader
	peer *peer
	dl   deadlines
	// used is true once the connection served a request: an error on it
	// before any response byte may just be the server closing an idle
	// keepalive connection.
	used bool
	// early is true when the app answered before it read the whole
	// request body: the connection is closed after the response.
	early bool

	// For idleClosed: its RawConn.Control callback, bound once, and its
	// result.
	peekFn func(fd uintptr)
	closed bool
}

// idleClosed reports whether an idle pooled connection can no longer carry
// a request: the app closed it (restarted on its port) or wrote to it
// unasked. One non-blocking peek, no allocation.
func (app *appConn) idleClosed() bool {
	if app.pr.rc == nil {
		return false
	}
	if app.peekFn == nil {
		app.peekFn = func(fd uintptr) { app.closed = peekClosed(fd) }
	}
	app.closed = true // unless the peek runs and finds it open
	if app.pr.rc.Control(app.peekFn) != nil {
		return true
	}
	return app.closed
}

// errNoUpstream is returned when no upstream is set within the hold time,
// or when every upstream is marked failed.
var (
	errNoUpstream     = errors.New("no upstream is set (the app is not running or not ready yet)")
	errNoLiveUpstream = errors.New("no live upstreams: every upstream failed within fail_timeout")
)

// pool holds the current upstream servers and picks one per try.
type pool struct {
	mu    sync.Mutex
	cfg   balanceConfig
	peers []*peer
	ready chan struct{} // closed while peers is not empty
	rr    atomic.Uint64 // ip_hash retries
	// pick serialises the smooth weighted round robin across requests,
	// as nginx's single worker does.
	pick sync.Mutex
}

func newPool(cfg balanceConfig) *pool {
	return &pool{cfg: cfg, ready: make(chan struct{})}
}

func (p *pool) configure(cfg balanceConfig) {
	p.mu.Lock()
	p.cfg = cfg
	p.mu.Unlock()
}

// set replaces the upstream list, keeping the state and idle connections of
// servers present in both.
func (p *pool) set(addrs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := map[string]*peer{}
	for _, server := range p.peers {
		old[server.addr] = server
	}
	peers := make([]*peer, 0, len(addrs))
	for _, a := range addrs {
		if server, ok := old[a]; ok {
			delete(old, a)
			peers = append(peers, server)
			continue
		}
		server := &peer{addr: a, network: "tcp", address: a, effective: 1}
		if rest, ok := strings.CutPrefix(a, "unix:"); ok {
			server.network, server.address = "unix", rest
		}
		peers = append(peers, server)
	}
	for _, server := range old {
		server.mu.Lock()
		server.removed = true
		idle := server.idle
		server.idle = nil
		server.mu.Unlock()
		for _, app := range idle {
			app.nc.Close()
		}
	}
	wasEmpty := len(p.peers) == 0
	p.peers = peers
	switch {
	case wasEmpty && len(peers) > 0:
		close(p.ready)
	case !wasEmpty && len(peers) == 0:
		p.ready = make(chan struct{})
	}
}

// snapshot returns the current peers and config, waiting up to hold for a
// first upstream to be set.
func (p *pool) snapshot(hold time.Duration, done <-chan struct{}) ([]*peer, balanceConfig, error) {
	p.mu.Lock()
	peers, cfg, ready := p.peers, p.cfg, p.ready
	p.mu.Unlock()
	if len(peers) > 0 {
		return peers, cfg, nil
	}
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
		return nil, cfg, errNoUpstream
	case <-done:
		return nil, cfg, errNoUpstream
	}
	p.mu.Lock()
	peers, cfg = p.peers, p.cfg
	p.mu.Unlock()
	if len(peers) == 0 {
		return nil, cfg, errNoUpstream
	}
	return peers, cfg, nil
}

// picker chooses the peers of one request's tries, each at most once.
type picker struct {
	peers  []*peer
	cfg    balanceConfig
	tried  uint64 // bitmap for the first 64 peers
	triedN int
	hash   uint32
	pool   *pool
}

// next returns the peer for the next try, or nil when every peer was tried
// or is marked failed (then the failure marks are reset, as nginx does, so
// the next request tries again).
func (pick *picker) next(clientIP net.IP) *peer {
	n := len(pick.peers)
	if pick.triedN >= n || pick.triedN >= 64 {
		return nil
	}
	if n == 1 {
		// nginx never marks the single server of an upstream as failed.
		pick.triedN++
		pick.tried |= 1
		return pick.peers[0]
	}
	now := time.Now()
	var server *peer
	switch pick.cfg.policy {
	case "ip_hash":
		server = pick.ipHash(now, clientIP)
	case "least_conn":
		server = pick.leastConn(now)
	default:
		server = pick.smooth(now, func(int) bool { return true })
	}
	if server == nil {
		return pick.exhausted()
	}
	return server
}

// ipHash is ngx_http_upstream_get_ip_hash_peer: the server the client's
// address hashes to, then (once that failed) the next available one from a
// shared round robin position.
func (pick *picker) ipHash(now time.Time, clientIP net.IP) *peer {
	n := len(pick.peers)
	var start int
	if pick.triedN == 0 {
		pick.hash = ipHash(clientIP)
		start = int(pick.hash % uint32(n))
	} else {
		start = int(pick.pool.rr.Add(1) % uint64(n))
	}
	for k := 0; k < n; k++ {
		i := (start + k) % n
		if pick.tried&(1<<i) == 0 && pick.peers[i].available(pick.cfg, now, true) {
			pick.triedN++
			pick.tried |= 1 << i
			return pick.peers[i]
		}
	}
	return nil
}

// leastConn is ngx_http_upstream_get_least_conn_peer: the fewest active
// requests, ties broken by the smooth weighted round robin.
func (pick *picker) leastConn(now time.Time) *peer {
	best, bestN := -1, int64(0)
	for i, server := range pick.peers {
		if pick.tried&(1<<i) != 0 || !server.available(pick.cfg, now, false) {
			continue
		}
		if a := server.active.Load(); best < 0 || a < bestN {
			best, bestN = i, a
		}
	}
	if best < 0 {
		return nil
	}
	if server := pick.smooth(now, func(i int) bool { return pick.peers[i].active.Load() == bestN }); server != nil {
		return server
	}
	// The counts moved since: any available peer will do.
	return pick.smooth(now, func(int) bool { return true })
}

// smooth is ngx_http_upstream_get_peer, nginx's smooth weighted round
// robin, over the untried, available peers that eligible accepts: each adds
// its effective weight to its current weight, the highest current weight
// (the first on a tie) is chosen and loses the sum of the weights added.
// With equal weights and no failures it is plain round robin from the
// first server; after a failure the order is nginx's, not a counter's.
// It returns nil when no peer qualifies.
func (pick *picker) smooth(now time.Time, eligible func(i int) bool) *peer {
	pick.pool.pick.Lock()
	defer pick.pool.pick.Unlock()
	best, total := -1, 0
	for i, server := range pick.peers {
		if pick.tried&(1<<i) != 0 || !eligible(i) || !server.available(pick.cfg, now, false) {
			continue
		}
		server.mu.Lock()
		server.current += server.effective
		total += server.effective
		if server.effective < 1 {
			server.effective++
		}
		cur := server.current
		server.mu.Unlock()
		if best < 0 || cur > pick.peers[best].currentWeight() {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	server := pick.peers[best]
	server.available(pick.cfg, now, true) // start the probe of a recovered peer
	server.mu.Lock()
	server.current -= total
	server.mu.Unlock()
	pick.triedN++
	pick.tried |= 1 << best
	return server
}

func (server *peer) currentWeight() int {
	server.mu.Lock()
	defer server.mu.Unlock()
	return server.current
}

func (pick *picker) exhausted() *peer {
	if pick.triedN == 0 {
		for _, server := range pick.peers {
			server.mu.Lock()
			server.fails = 0
			server.mu.Unlock()
		}
	}
	pick.triedN = len(pick.peers)
	return nil
}

// available reports whether the peer may take a request: it has fewer than
// max_fails failures, or fail_timeout passed since they were counted (then
// one request probes it, and take records that).
func (server *peer) available(cfg balanceConfig, now time.Time, take bool) bool {
	server.mu.Lock()
	defer server.mu.Unlock()
	if cfg.maxFails <= 0 || server.fails < cfg.maxFails {
		return true
	}
	if now.Sub(server.checked) <= cfg.failTimeout {
		return false
	}
	if take {
		server.checked = now
	}
	return true
}

// fail records a failed try (nginx: error or timeout talking to it).
func (server *peer) fail() {
	server.mu.Lock()
	server.fails++
	server.checked = time.Now()
	server.effective = max(server.effective-1, 0) // nginx: effective_weight -= weight
	server.mu.Unlock()
}

// ok records a successful try, clearing the failures.
func (server *peer) ok() {
	server.mu.Lock()
	server.fails = 0
	server.mu.Unlock()
}

// ipHash is nginx's ip_hash: the first three octets of an IPv4 address (the
// whole address for IPv6).
func ipHash(ip net.IP) uint32 {
	var b []byte
	if v4 := ip.To4(); v4 != nil {
		b = v4[:3]
	} else {
		b = ip.To16()
	}
	h := uint32(89)
	for _, c := range b {
		h = (h*113 + uint32(c)) % 6271
	}
	return h
}

// get returns an idle keepalive connection or dials a new one within
// connectTimeout.
func (server *peer) get(connectTimeout time.Duration) (*appConn, error) {
	for {
		server.mu.Lock()
		n := len(server.idle)
		if n == 0 {
			server.mu.Unlock()
			return server.dial(connectTimeout)
		}
		app := server.idle[n-1]
		server.idle = server.idle[:n-1]
		server.mu.Unlock()
		// Like nginx's keepalive module, which closes a cached connection
		// as soon as it turns readable: one the app closed (restarted on
		// its port) or wrote to unasked is never used for a request.
		if app.idleClosed() {
			app.nc.Close()
			continue
		}
		return app, nil
	}
}

func (server *peer) dial(connectTimeout time.Duration) (*appConn, error) {
	d := net.Dialer{Timeout: connectTimeout}
	nc, err := d.Dial(server.network, server.address)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	app := &appConn{nc: nc, peer: server}
	app.pr = newPollReader(nc, &app.dl)
	app.br = bufio.NewReaderSize(app.pr, upstreamHeaderBuffer)
	return app, nil
}

// put returns a connection whose response was read completely to the idle
// pool, or closes it when the pool is full.
func (server *peer) put(app *appConn, keepalive int) {
	app.used = true
	server.mu.Lock()
	if server.removed || len(server.idle) >= keepalive {
		server.mu.Unlock()
		app.nc.Close()
		return
	}
	server.idle = append(server.idle, app)
	server.mu.Unlock()
}

func (p *pool) closeIdle() {
	p.mu.Lock()
	peers := p.peers
	p.mu.Unlock()
	for _, server := range peers {
		server.mu.Lock()
		idle := server.idle
		server.idle = nil
		server.mu.Unlock()
		for _, app := range idle {
			app.nc.Close()
		}
	}
}
