package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// routeScript prints, for each address or name given, "NAME IP SRC": its
// IP address as this host resolves it, and this host's source address
// towards it (what the app hosts see as the lb's address).
const routeScript = `set -u
for a in "$@"; do
	ip=$a
	case $a in *[!0-9a-fA-F.:]*) ip=$(getent ahosts "$a" | awk '{print $1; exit}') ;; esac
	src=$(ip -o route get "$ip" 2>/dev/null | sed -n 's/.* src \([^ ]*\).*/\1/p')
	echo "$a ${ip:--} ${src:--}"
done
`

// lbRoute is how the lb reaches one app host: the app host's address, and
// the lb's own address the app host sees requests come from.
type lbRoute struct{ to, src string }

// lbRoutes asks the lb how it reaches each app host (deploy.private_addresses,
// else the address SSH reached).
func lbRoutes(ctx context.Context, c *stack.Config, lb host.Host, apps []host.Host) ([]lbRoute, error) {
	var addrs []string
	for _, h := range apps {
		addrs = append(addrs, addrOf(c, h))
	}
	var out bytes.Buffer
	if err := host.Script(ctx, lb, false, routeScript, nil, &out, addrs...); err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(apps) {
		return nil, fmt.Errorf("lb %s: unexpected route answer %q", lb.Name(), out.String())
	}
	routes := make([]lbRoute, len(apps))
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 || f[1] == "-" || f[2] == "-" {
			return nil, ui.WithFix(fmt.Errorf("lb %s has no route to app host %s (%s)", lb.Name(), apps[i].Name(), addrs[i]),
				"set deploy.private_addresses."+apps[i].Name()+" to an address the lb reaches it at")
		}
		ip, err := netip.ParseAddr(f[1])
		src, err2 := netip.ParseAddr(f[2])
		if err != nil || err2 != nil {
			return nil, fmt.Errorf("lb %s: cannot read the route to %s: %q", lb.Name(), addrs[i], line)
		}
		routes[i] = lbRoute{to: ip.String(), src: src.String()}
	}
	return routes, nil
}

// LBSources is, for each app host, the addresses it sees the lb's requests
// come from (setup opens port 80 to them only).
func LBSources(ctx context.Context, c *stack.Config, lb host.Host, apps []host.Host) ([][]string, error) {
	routes, err := lbRoutes(ctx, c, lb, apps)
	if err != nil {
		return nil, err
	}
	src := make([][]string, len(routes))
	for i, rt := range routes {
		src[i] = []string{rt.src}
	}
	return src, nil
}

// lbRun is the load-balancer host's part of a deploy: only nginx, with an
// upstream over the app hosts.
type lbRun struct {
	*fleet
	h       host.Host
	facts   hostFacts
	want    []HostFile
	before  map[string]HostFile
	touched []HostFile
	// https is set when the site switches to HTTPS (its certificate is
	// new): apply says so.
	https bool
}

// addrOf is the address the lb reaches an app host at: its
// deploy.private_addresses entry, else the address SSH reached.
// HostAddr is the address the other hosts reach h at: its
// deploy.private_addresses entry, else the address SSH reached.
func HostAddr(c *stack.Config, h host.Host) string { return addrOf(c, h) }

func addrOf(c *stack.Config, h host.Host) string {
	if a := c.Deploy.PrivateAddresses[h.Name()]; a != "" {
		return a
	}
	if a, ok := h.(interface{ Addr() string }); ok && a.Addr() != "" {
		return a.Addr()
	}
	return h.Name()
}

// probeLB checks the lb host and finds the addresses the app hosts see it
// at; it sets runs[i].trusted.
func (f *fleet) probeLB(ctx context.Context, runs []*hostRun) (*lbRun, error) {
	lb := &lbRun{fleet: f, h: f.LB}
	cert := ""
	if f.c.Nginx.TLS.Enabled {
		cert = f.c.CertPath()
	}
	facts, err := probeHost(ctx, lb.h, "/nonexistent", f.l.Service, cert, "")
	if err != nil {
		return nil, err
	}
	if !facts.Nginx || !facts.Systemd {
		return nil, ui.WithFix(fmt.Errorf("lb %s lacks nginx or systemd; nothing was changed", lb.h.Name()), "on the server: apt-get install nginx systemd-sysv")
	}
	lb.facts = facts
	apps := make([]host.Host, len(runs))
	for i, r := range runs {
		apps[i] = r.h
	}
	routes, err := lbRoutes(ctx, f.c, lb.h, apps)
	if err != nil {
		return nil, err
	}
	for i, rt := range routes {
		runs[i].lbAddr = rt.to
		runs[i].trusted = []string{rt.src}
	}
	return lb, nil
}

// lbKeepalivePerHost is the lb's pool of idle keep-alive connections per
// app host and per nginx worker (nginx's keepalive is per worker, for the
// whole upstream). A connection carries one request at a time: 32 cover 32
// requests in flight to one host from one worker; beyond them the lb opens
// more and closes them after use.
const lbKeepalivePerHost = 32

// plan renders the lb's site: an upstream over the app hosts' nginx, with
// passive failover (max_fails/fail_timeout), TLS and the ACME challenge
// here, no static folders (the app hosts serve them).
func (lb *lbRun) plan(ctx context.Context, runs []*hostRun) error {
	sc := *lb.c
	sc.Proxy.Static = nil
	// Keep-alive connections to the app hosts: without them every request
	// opens a connection, and each one the lb closes holds a local port in
	// TIME_WAIT for 60 s; at about 500 requests/s per host the lb ran out
	// of ports (EADDRNOTAVAIL, then "no live upstreams"; issue 25).
	// An app host's reload closes its idle connections; a request that
	// meets one is passed to the next host (Balancer: proxy_next_upstream).
	sc.Upstream.Keepalive = lbKeepalivePerHost * len(runs)
	sc.Upstream.MaxFails = lbMaxFails(lb.c)
	l, err := stack.ParseListen(sc.Nginx.Listen)
	if err != nil {
		return err
	}
	sc.Upstream.Servers = nil
	for _, r := range runs {
		sc.Upstream.Servers = append(sc.Upstream.Servers, net.JoinHostPort(r.lbAddr, strconv.Itoa(l.Port)))
	}
	tlsOn := lb.c.Nginx.TLS.Enabled && lb.facts.Cert
	sc.Nginx.TLS.Enabled = tlsOn
	site, err := lb.RenderSite(&sc, SiteOptions{NginxVersion: lb.facts.NginxVersion, ACMEChallenge: lb.c.Nginx.TLS.Enabled && !tlsOn, Balancer: true})
	if err != nil {
		return fmt.Errorf("render the lb's nginx site: %w", err)
	}
	name := lb.c.Name + ".conf"
	sitePath, link := path.Join("/etc/nginx/conf.d", name), ""
	switch {
	case lb.c.Deploy.SitesDir != "":
		sitePath = path.Join(lb.c.Deploy.SitesDir, name)
	case lb.facts.DebianSites:
		sitePath, link = path.Join("/etc/nginx/sites-available", name), path.Join("/etc/nginx/sites-enabled", name)
	}
	lb.want = []HostFile{{Path: sitePath, Exists: true, Data: site, Mode: 0o644}}
	if link != "" {
		lb.want = append(lb.want, HostFile{Path: link, Exists: true, Link: sitePath})
	}
	paths := []string{sitePath}
	if link != "" {
		paths = append(paths, link)
	}
	lb.before, err = readHostFiles(ctx, lb.h, paths...)
	return err
}

// changed returns the lb's files this deploy changes.
func (lb *lbRun) changed() []HostFile { return changedFiles(lb.want, lb.before) }

// apply installs the lb's site when it changed: written with backup,
// checked by nginx -t (restored when refused), then a graceful reload.
func (lb *lbRun) apply(ctx context.Context) error {
	changed := lb.changed()
	if len(changed) == 0 {
		lb.say(lb.h, "%s site unchanged", lb.p.Green("✓"))
		return nil
	}
	for _, w := range changed {
		lb.touched = append(lb.touched, lb.before[w.Path])
	}
	stateDir := path.Join(stateBase, lb.c.Name)
	if err := writeHostFiles(ctx, lb.h, stateDir, path.Join(stateDir, "backups", "lb-"+lb.Now().UTC().Format("20060102T150405Z")), changed); err != nil {
		return err
	}
	if out, err := host.Output(ctx, lb.h, true, "nginx", "-t"); err != nil {
		uerr := undoFiles(lb.h, stateDir, lb.touched)
		return ui.WithFix(fmt.Errorf("lb %s: nginx rejects the site: %s (restored: %v)", lb.h.Name(), strings.TrimSpace(out), uerr == nil), "fix stack.toml")
	}
	if out, err := host.Output(ctx, lb.h, true, "sh", "-c", reloadScript, "stackctl", strconv.Itoa(int(lb.DrainTimeout/time.Second))); err != nil {
		return fmt.Errorf("lb %s: reload nginx: %s", lb.h.Name(), strings.TrimSpace(out))
	}
	if lb.https {
		lb.say(lb.h, "%s site → HTTPS", lb.p.Cyan("⇄"))
		return nil
	}
	lb.say(lb.h, "%s nginx → %s", lb.p.Cyan("⇄"), lb.upstreamList())
	return nil
}

func (lb *lbRun) upstreamList() string {
	var s []string
	for _, w := range lb.want {
		for _, line := range strings.Split(string(w.Data), "\n") {
			t := strings.TrimSpace(line)
			if strings.HasPrefix(t, "server ") && strings.Contains(t, "max_fails") {
				s = append(s, strings.Fields(t)[1])
			}
		}
	}
	return strings.Join(s, ", ")
}

func (lb *lbRun) printDryRun() {
	changed := lb.changed()
	if len(changed) == 0 {
		lb.say(lb.h, "lb site unchanged")
		return
	}
	for _, w := range changed {
		if w.Link != "" {
			fmt.Fprintf(lb.Out, "    + %s -> %s\n", w.Path, w.Link)
			continue
		}
		fmt.Fprint(lb.Out, indent(UnifiedDiff(w.Path+" (now)", w.Path+" (new)", lb.before[w.Path].Data, w.Data)))
		fmt.Fprintln(lb.Out)
	}
	fmt.Fprintf(lb.Out, "    then on %s: nginx -t; systemctl reload nginx\n", lb.h.Name())
}

// lbMinMaxFails is the lb's least max_fails. nginx counts every error as an
// unsuccessful attempt of the host, also a request it sent on a keep-alive
// connection that the app host closed while reloading (and then passed to
// the next host), and adds them up over fail_timeout. Measured under about
// 1,000 requests/s: 1 to 3 such requests per reload, 7 over 20 reloads in
// 12 s; with max_fails=1, and with 3, the lb skipped a healthy host. A
// reload costs at most one request per connection a worker has open to
// the host, and a worker keeps lbKeepalivePerHost idle ones; a dead host
// reaches this many with its first requests, each passed to the next host.
const lbMinMaxFails = lbKeepalivePerHost

// lbMaxFails is max_fails of the lb's upstream servers: upstream.max_fails,
// at least lbMinMaxFails; 0 (never skip a host) stays 0.
func lbMaxFails(c *stack.Config) int {
	if c.Upstream.MaxFails == 0 {
		return 0
	}
	return max(c.Upstream.MaxFails, lbMinMaxFails)
}
