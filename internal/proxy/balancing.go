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
	idle    []*upconn
	removed bool
	// nginx's smooth weighted round robin (every weight is 1): current
	// is current_weight, effective is effective_weight, lowered by a
	// failure and raised back by one each time the peer is considered.
	current   int
	effective int
}

// upconn is a connection to an upstream server.
type upconn struct {
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
	for _, pe := range p.peers {
		old[pe.addr] = pe
	}
	peers := make([]*peer, 0, len(addrs))
	for _, a := range addrs {
		if pe, ok := old[a]; ok {
			delete(old, a)
			peers = append(peers, pe)
			continue
		}
		pe := &peer{addr: a, network: "tcp", address: a, effective: 1}
		if rest, ok := strings.CutPrefix(a, "unix:"); ok {
			pe.network, pe.address = "unix", rest
		}
		peers = append(peers, pe)
	}
	for _, pe := range old {
		pe.mu.Lock()
		pe.removed = true
		idle := pe.idle
		pe.idle = nil
		pe.mu.Unlock()
		for _, uc := range idle {
			uc.nc.Close()
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
func (pk *picker) next(clientIP net.IP) *peer {
	n := len(pk.peers)
	if pk.triedN >= n || pk.triedN >= 64 {
		return nil
	}
	now := time.Now()
	if n == 1 {
		// nginx never marks the single server of an upstream as failed.
		pk.triedN++
		pk.tried |= 1
		return pk.peers[0]
	}
	start := 0
	switch pk.cfg.policy {
	case "ip_hash":
		if pk.triedN == 0 {
			pk.hash = ipHash(clientIP)
			start = int(pk.hash % uint32(n))
		} else {
			start = int(pk.pool.rr.Add(1) % uint64(n))
		}
	case "least_conn":
		// ngx_http_upstream_get_least_conn_peer: the fewest active
		// requests, ties broken by the smooth weighted round robin.
		best, bestN := -1, int64(0)
		for i := 0; i < n; i++ {
			if pk.tried&(1<<i) != 0 || !pk.peers[i].available(pk.cfg, now, false) {
				continue
			}
			if a := pk.peers[i].active.Load(); best < 0 || a < bestN {
				best, bestN = i, a
			}
		}
		if best < 0 {
			return pk.exhausted()
		}
		if pe := pk.smooth(now, func(i int) bool { return pk.peers[i].active.Load() == bestN }); pe != nil {
			return pe
		}
		// The counts moved since: any available peer will do.
		if pe := pk.smooth(now, func(int) bool { return true }); pe != nil {
			return pe
		}
		return pk.exhausted()
	default:
		if pe := pk.smooth(now, func(int) bool { return true }); pe != nil {
			return pe
		}
		return pk.exhausted()
	}
	for k := 0; k < n; k++ {
		i := (start + k) % n
		if pk.tried&(1<<i) != 0 {
			continue
		}
		if pk.peers[i].available(pk.cfg, now, true) {
			pk.triedN++
			pk.tried |= 1 << i
			return pk.peers[i]
		}
	}
	return pk.exhausted()
}

// smooth is ngx_http_upstream_get_peer, nginx's smooth weighted round
// robin, over the untried, available peers that eligible accepts: each adds
// its effective weight to its current weight, the highest current weight
// (the first on a tie) is chosen and loses the sum of the weights added.
// With equal weights and no failures it is plain round robin from the
// first server; after a failure the order is nginx's, not a counter's.
// It returns nil when no peer qualifies.
func (pk *picker) smooth(now time.Time, eligible func(i int) bool) *peer {
	pk.pool.pick.Lock()
	defer pk.pool.pick.Unlock()
	best, total := -1, 0
	for i, pe := range pk.peers {
		if pk.tried&(1<<i) != 0 || !eligible(i) || !pe.available(pk.cfg, now, false) {
			continue
		}
		pe.mu.Lock()
		pe.current += pe.effective
		total += pe.effective
		if pe.effective < 1 {
			pe.effective++
		}
		cur := pe.current
		pe.mu.Unlock()
		if best < 0 || cur > pk.peers[best].currentWeight() {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	pe := pk.peers[best]
	pe.available(pk.cfg, now, true) // start the probe of a recovered peer
	pe.mu.Lock()
	pe.current -= total
	pe.mu.Unlock()
	pk.triedN++
	pk.tried |= 1 << best
	return pe
}

func (pe *peer) currentWeight() int {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	return pe.current
}

func (pk *picker) exhausted() *peer {
	if pk.triedN == 0 {
		for _, pe := range pk.peers {
			pe.mu.Lock()
			pe.fails = 0
			pe.mu.Unlock()
		}
	}
	pk.triedN = len(pk.peers)
	return nil
}

// available reports whether the peer may take a request: it has fewer than
// max_fails failures, or fail_timeout passed since they were counted (then
// one request probes it, and take records that).
func (pe *peer) available(cfg balanceConfig, now time.Time, take bool) bool {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if cfg.maxFails <= 0 || pe.fails < cfg.maxFails {
		return true
	}
	if now.Sub(pe.checked) <= cfg.failTimeout {
		return false
	}
	if take {
		pe.checked = now
	}
	return true
}

// fail records a failed try (nginx: error or timeout talking to it).
func (pe *peer) fail() {
	pe.mu.Lock()
	pe.fails++
	pe.checked = time.Now()
	pe.effective = max(pe.effective-1, 0) // nginx: effective_weight -= weight
	pe.mu.Unlock()
}

// ok records a successful try, clearing the failures.
func (pe *peer) ok() {
	pe.mu.Lock()
	pe.fails = 0
	pe.mu.Unlock()
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
func (pe *peer) get(connectTimeout time.Duration) (*upconn, error) {
	for {
		pe.mu.Lock()
		n := len(pe.idle)
		if n == 0 {
			pe.mu.Unlock()
			return pe.dial(connectTimeout)
		}
		uc := pe.idle[n-1]
		pe.idle = pe.idle[:n-1]
		pe.mu.Unlock()
		// Like nginx's keepalive module, which closes a cached connection
		// as soon as it turns readable: one the app closed (restarted on
		// its port) or wrote to unasked is never used for a request.
		if uc.pr.rc != nil && idleClosed(uc.pr.rc) {
			uc.nc.Close()
			continue
		}
		return uc, nil
	}
}

func (pe *peer) dial(connectTimeout time.Duration) (*upconn, error) {
	d := net.Dialer{Timeout: connectTimeout}
	nc, err := d.Dial(pe.network, pe.address)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	uc := &upconn{nc: nc, peer: pe}
	uc.pr = newPollReader(nc, &uc.dl)
	uc.br = bufio.NewReaderSize(uc.pr, upstreamHeaderBuffer)
	return uc, nil
}

// put returns a connection whose response was read completely to the idle
// pool, or closes it when the pool is full.
func (pe *peer) put(uc *upconn, keepalive int) {
	uc.used = true
	pe.mu.Lock()
	if pe.removed || len(pe.idle) >= keepalive {
		pe.mu.Unlock()
		uc.nc.Close()
		return
	}
	pe.idle = append(pe.idle, uc)
	pe.mu.Unlock()
}

func (p *pool) closeIdle() {
	p.mu.Lock()
	peers := p.peers
	p.mu.Unlock()
	for _, pe := range peers {
		pe.mu.Lock()
		idle := pe.idle
		pe.idle = nil
		pe.mu.Unlock()
		for _, uc := range idle {
			uc.nc.Close()
		}
	}
}
