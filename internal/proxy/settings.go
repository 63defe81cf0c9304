package proxy

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
)

// settings is everything a request needs from stack.toml, computed once per
// New or Update and swapped atomically.
type settings struct {
	serverName      string // $host when the request names none (nginx: the first server_name)
	serverNames     []string
	redirect        string
	maxBodySize     int64 // 0: no limit
	connectTimeout  time.Duration
	readTimeout     time.Duration // proxy_read_timeout
	sendTimeout     time.Duration // proxy_send_timeout
	websocket       bool
	gzip            bool
	securityHeaders bool
	// hsts is the Strict-Transport-Security line (nginx.tls.hsts, with
	// "; preload" for nginx.tls.hsts_preload) sent on TLS connections, as
	// the TLS site's add_header; "" for none.
	hsts    string
	static  []staticDir // longest prefix first
	balance balanceConfig

	// Client-side timeouts: nginx's client_header_timeout, Debian's
	// keepalive_timeout, nginx's client_body_timeout and send_timeout.
	headerTimeout     time.Duration
	keepaliveTimeout  time.Duration
	bodyTimeout       time.Duration
	clientSendTimeout time.Duration
}

// staticDir is one [[proxy.static]] folder.
type staticDir struct {
	url     string // "/static/"
	dir     string // absolute
	expires time.Duration
	roots   *rootCache
}

func newSettings(c *stack.Config, ct ClientTimeouts) (*settings, error) {
	if c == nil {
		return nil, fmt.Errorf("proxy: no configuration")
	}
	p := c.Proxy
	s := &settings{
		serverNames:       p.ServerNames,
		redirect:          p.Redirect,
		maxBodySize:       p.ClientMaxBodySize.Bytes(),
		connectTimeout:    orDefault(p.ConnectTimeout.Duration(), 60*time.Second),
		readTimeout:       orDefault(p.ReadTimeout.Duration(), 60*time.Second),
		sendTimeout:       orDefault(p.SendTimeout.Duration(), 60*time.Second),
		websocket:         p.WebSocket,
		gzip:              p.Gzip,
		securityHeaders:   p.SecurityHeaders,
		headerTimeout:     orDefault(ct.Header, 60*time.Second),
		keepaliveTimeout:  orDefault(ct.Keepalive, 65*time.Second),
		bodyTimeout:       orDefault(ct.Body, 60*time.Second),
		clientSendTimeout: orDefault(ct.Send, 60*time.Second),
		balance: balanceConfig{
			policy:      c.Upstream.Balance,
			maxFails:    c.Upstream.MaxFails,
			failTimeout: orDefault(c.Upstream.FailTimeout.Duration(), 10*time.Second),
			// nginx's keepalive is per worker process and gen-nginx's
			// worker_processes is auto (one per core): the same total.
			keepalive: c.Upstream.Keepalive * runtime.NumCPU(),
		},
	}
	if c.Nginx.TLS.HSTS {
		s.hsts = hstsHeader
		if c.Nginx.TLS.HSTSPreload {
			s.hsts = hstsPreloadHeader
		}
	}
	if len(p.ServerNames) > 0 {
		s.serverName = strings.ToLower(p.ServerNames[0])
	}
	switch s.balance.policy {
	case "", stack.BalanceRoundRobin, stack.BalanceLeastConn, stack.BalanceIPHash:
	default:
		return nil, fmt.Errorf("proxy: upstream.balance %q is not round_robin, least_conn or ip_hash", s.balance.policy)
	}
	base, err := filepath.Abs(c.Dir())
	if err != nil {
		return nil, err
	}
	for i, st := range p.Static {
		if err := stack.ValidateURLPrefix(st.URL); err != nil {
			return nil, fmt.Errorf("proxy: proxy.static[%d].url: %v", i, err)
		}
		if err := stack.ValidateRelDir(st.Dir); err != nil {
			return nil, fmt.Errorf("proxy: proxy.static[%d].dir: %v", i, err)
		}
		s.static = append(s.static, staticDir{
			url:     st.URL,
			dir:     filepath.Join(base, filepath.FromSlash(st.Dir)),
			expires: st.Expires.Duration(),
			roots:   &rootCache{dir: filepath.Join(base, filepath.FromSlash(st.Dir))},
		})
	}
	// nginx picks the longest matching prefix location.
	sort.SliceStable(s.static, func(i, j int) bool { return len(s.static[i].url) > len(s.static[j].url) })
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// staticFor returns the static folder whose prefix matches the normalised
// path, or nil when the request goes to the app.
func (s *settings) staticFor(path string) *staticDir {
	for i := range s.static {
		if strings.HasPrefix(path, s.static[i].url) {
			return &s.static[i]
		}
	}
	return nil
}
