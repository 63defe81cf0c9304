// Package nginx renders a stack.Config as an nginx site: an http-context
// snippet (upstream, map and server blocks) for Debian's sites-enabled/ or
// conf.d/, included inside the stock http {} block. The text comes from the
// templates in templates/nginx/; this package only validates the Config and
// builds the data those templates need.
//
// Render never produces text from a Config that fails validation, and every
// value that reaches the text has been checked by internal/stack (no
// whitespace, quotes, ';', '{', '}', '$' or '#'), so a stack.toml cannot
// inject nginx directives.
package nginx

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/templates"
)

// DefaultVersion is the nginx version Render writes for when none is given
// and none is installed: Debian 12's.
const DefaultVersion = "1.22.1"

// Options are the inputs of Render that are not part of stack.toml.
type Options struct {
	// NginxVersion is the version of the nginx that will load the site
	// ("1.22.1"); the syntax follows it (http2). Empty: the installed
	// nginx's (nginx -v), else DefaultVersion.
	NginxVersion string
	// Source is the stack.toml path named in the header comment.
	Source string
	// StackctlVersion is stackctl's version named in the header comment.
	StackctlVersion string
	// HTTPSPort is the port of the HTTPS server when nginx.tls.enabled;
	// 0 means 443. Tests use it to run a TLS site on a free loopback port.
	HTTPSPort int
	// ACMEChallenge serves certbot's webroot challenge
	// (/.well-known/acme-challenge/ from nginx.tls.acme_webroot) on the plain
	// HTTP site when TLS is off: deploy's first, HTTP-only stage, which must
	// answer the challenge before a certificate exists. With TLS on, the
	// port-80 server always serves it.
	ACMEChallenge bool
	// UpstreamInclude, when set, is an absolute path the upstream block
	// includes instead of listing its servers: deploy's slot switch
	// rewrites that small file (see UpstreamServers) and reloads nginx,
	// leaving the site itself unchanged.
	UpstreamInclude string
	// ReleaseInclude, when set, is an absolute path the site includes at
	// http level: a map giving the release folder nginx serves static files
	// from (see ReleaseMap). The static locations alias that variable, so
	// deploy switches them with the upstream, in the same reload: nginx's
	// old workers keep serving the old release's files to the requests they
	// finish.
	ReleaseInclude string
	// TrustedProxies are the addresses of a load balancer in front of this
	// site (deploy's lb host). Requests from them have their client address
	// taken from X-Forwarded-For (nginx's realip module) and their
	// X-Forwarded-For and X-Forwarded-Proto passed on as the balancer set
	// them, so the app sees the client exactly as on a single host. Every
	// other peer gets the single-host behaviour.
	TrustedProxies []string
	// Balancer renders the site of a load balancer in front of other nginx
	// hosts (deploy's lb host): an idempotent request that meets an error,
	// a timeout or a 502 on one host is passed to the next
	// (proxy_next_upstream). nginx retries a request that met a closed
	// keep-alive connection this way, so an app host's graceful reload,
	// which closes its idle connections, fails no request.
	Balancer bool
}

// BalancerNextUpstream is the proxy_next_upstream of a Balancer site.
// nginx never passes a non-idempotent request (POST, LOCK, PATCH) it has
// sent to the next server, and neither does this.
const BalancerNextUpstream = "error timeout http_502"

// ReleaseVar is the nginx variable holding the release folder the site's
// static files come from when Options.ReleaseInclude is set.
func ReleaseVar(c *stack.Config) string { return "$" + UpstreamName(c.Name) + "_release" }

// ReleaseMap returns the content of the file Options.ReleaseInclude names:
// the release folder dir (absolute, clean) as ReleaseVar.
func ReleaseMap(c *stack.Config, dir string) ([]byte, error) {
	if err := stack.ValidateAbsPath(dir); err != nil {
		return nil, fmt.Errorf("release folder %q: %w", dir, err)
	}
	return []byte("# the release nginx serves static files from, written by stackctl deploy\nmap $host " + ReleaseVar(c) + " {\n    default \"" + dir + "\";\n}\n"), nil
}

// UpstreamServers returns the server lines of the site's upstream block for
// servers (host:port), with upstream.max_fails and upstream.fail_timeout,
// as the file Options.UpstreamInclude names holds them.
func UpstreamServers(c *stack.Config, servers []string) ([]byte, error) {
	v := &fieldErrors{}
	failTimeout := v.seconds("upstream.fail_timeout", c.Upstream.FailTimeout)
	if err := v.err(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, srv := range servers {
		if err := stack.ValidateUpstream(srv); err != nil {
			return nil, fmt.Errorf("upstream server %q: %w", srv, err)
		}
		fmt.Fprintf(&b, "server %s max_fails=%d fail_timeout=%s;\n", srv, c.Upstream.MaxFails, failTimeout)
	}
	return b.Bytes(), nil
}

var siteTemplate = template.Must(template.New("").Option("missingkey=error").ParseFS(templates.Nginx, "nginx/*.tmpl"))

// Render validates c and returns the nginx site it describes. Invalid input
// is reported as a *stack.ValidationError naming each field and value, and
// no text is returned.
func Render(c *stack.Config, opts Options) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("no config to render")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	version := opts.NginxVersion
	if version == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := DetectVersion(ctx)
		cancel()
		if err != nil {
			v = DefaultVersion
		}
		version = v
	}
	ver, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	data, err := buildSite(c, opts, ver)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := siteTemplate.ExecuteTemplate(&buf, "site.conf.tmpl", data); err != nil {
		return nil, fmt.Errorf("rendering the nginx site: %w", err)
	}
	return buf.Bytes(), nil
}

// UpstreamName is the name of the site's upstream block: unique per project
// so that several sites load together in one nginx.
func UpstreamName(projectName string) string {
	return "stackctl_" + strings.ReplaceAll(projectName, "-", "_")
}

// ConnectionUpgradeVar is the variable the site's WebSocket map defines:
// "upgrade" for upgrade requests, empty otherwise.
func ConnectionUpgradeVar(projectName string) string {
	return "$" + UpstreamName(projectName) + "_connection_upgrade"
}

// site is what site.conf.tmpl needs.
type site struct {
	Header            []string
	ReleaseInclude    string
	Trusted           *trusted
	Upstream          upstream
	WebSocket         bool
	ConnectionVar     string
	ACME              *acme
	ACMEWebroot       string // the challenge location in the main server; "" for none
	Redirects         []redirect
	Main              listenBlock
	AccessLog         string
	ErrorLog          string
	ClientMaxBodySize string
	SecurityHeaders   bool
	Gzip              bool
	GzipTypes         string // stack.GzipTypes, space-separated
	Static            []static
	Proxy             proxy
}

// trusted is the realip set-up of a site behind a load balancer.
type trusted struct {
	Addrs          []string
	XFFVar, XFPVar string
}

type upstream struct {
	Name      string
	Balance   string
	Servers   []string
	Include   string
	Keepalive int
}

type listenBlock struct {
	Listens []string
	HTTP2On bool
	Names   string
	TLS     *tls
}

type tls struct {
	Version      string
	Protocols    string
	Cert, Key    string
	SessionCache string
	HSTS         bool
	HSTSPreload  bool
}

type acme struct {
	listenBlock
	AccessLog, ErrorLog string
	Webroot             string
	HTTPSPort           string
}

type redirect struct {
	listenBlock
	Why                 string
	AccessLog, ErrorLog string
	Target              string
}

type static struct {
	URL, Alias, Expires string
}

type proxy struct {
	Upstream                                 string
	XFF, XFP                                 string
	WebSocket                                bool
	ConnectionVar                            string
	ConnectTimeout, SendTimeout, ReadTimeout string
	NextUpstream                             string
}

func buildSite(c *stack.Config, opts Options, ver version) (*site, error) {
	v := &fieldErrors{}
	p, u, n := c.Proxy, c.Upstream, c.Nginx

	s := &site{
		Header:            header(c, opts),
		WebSocket:         p.WebSocket,
		ConnectionVar:     ConnectionUpgradeVar(c.Name),
		AccessLog:         n.AccessLog,
		ErrorLog:          n.ErrorLog,
		ClientMaxBodySize: string(p.ClientMaxBodySize),
		SecurityHeaders:   p.SecurityHeaders,
		Gzip:              p.Gzip,
		GzipTypes:         strings.Join(stack.GzipTypes, " "),
	}

	// upstream
	failTimeout := v.seconds("upstream.fail_timeout", u.FailTimeout)
	s.Upstream = upstream{Name: UpstreamName(c.Name), Keepalive: u.Keepalive}
	switch u.Balance {
	case stack.BalanceLeastConn, stack.BalanceIPHash:
		s.Upstream.Balance = u.Balance
	}
	if opts.UpstreamInclude != "" {
		if err := stack.ValidateAbsPath(opts.UpstreamInclude); err != nil {
			return nil, fmt.Errorf("upstream include %q: %w", opts.UpstreamInclude, err)
		}
		s.Upstream.Include = opts.UpstreamInclude
	}
	for _, srv := range c.NginxUpstreams() {
		if s.Upstream.Include != "" {
			break
		}
		s.Upstream.Servers = append(s.Upstream.Servers,
			fmt.Sprintf("%s max_fails=%d fail_timeout=%s", srv, u.MaxFails, failTimeout))
	}

	xff, xfp := "$proxy_add_x_forwarded_for", "$scheme"
	if len(opts.TrustedProxies) > 0 {
		s.Trusted = &trusted{XFFVar: "$" + UpstreamName(c.Name) + "_x_forwarded_for", XFPVar: "$" + UpstreamName(c.Name) + "_x_forwarded_proto"}
		for _, a := range opts.TrustedProxies {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an IP address", a)
			}
			s.Trusted.Addrs = append(s.Trusted.Addrs, ip.String())
		}
		xff, xfp = s.Trusted.XFFVar, s.Trusted.XFPVar
	}
	s.Proxy = proxy{
		XFF:            xff,
		XFP:            xfp,
		Upstream:       s.Upstream.Name,
		WebSocket:      p.WebSocket,
		ConnectionVar:  s.ConnectionVar,
		ConnectTimeout: v.millis("proxy.connect_timeout", p.ConnectTimeout),
		SendTimeout:    v.millis("proxy.send_timeout", p.SendTimeout),
		ReadTimeout:    v.millis("proxy.read_timeout", p.ReadTimeout),
	}
	if opts.Balancer {
		s.Proxy.NextUpstream = BalancerNextUpstream
	}

	if opts.ReleaseInclude != "" {
		if err := stack.ValidateAbsPath(opts.ReleaseInclude); err != nil {
			return nil, fmt.Errorf("release include %q: %w", opts.ReleaseInclude, err)
		}
		s.ReleaseInclude = opts.ReleaseInclude
	}
	for i, st := range p.Static {
		alias := path.Join(n.AppDir, path.Clean(st.Dir)) + "/"
		if s.ReleaseInclude != "" {
			alias = ReleaseVar(c) + "/" + path.Clean(st.Dir) + "/"
		}
		var exp string
		if st.Expires != "" {
			exp = v.seconds(fmt.Sprintf("proxy.static[%d].expires", i), st.Expires)
		}
		s.Static = append(s.Static, static{URL: st.URL, Alias: alias, Expires: exp})
	}

	// listen addresses
	l, err := stack.ParseListen(n.Listen)
	if err != nil { // Validate already checked it
		return nil, err
	}
	httpsPort := 443
	if opts.HTTPSPort != 0 {
		if err := stack.ValidatePort(opts.HTTPSPort); err != nil {
			return nil, fmt.Errorf("HTTPS port: %w", err)
		}
		httpsPort = opts.HTTPSPort
	}

	mainNames, redirects := canonicalNames(p.ServerNames, p.Redirect)
	allNames := append(append([]string(nil), mainNames...), redirectNames(redirects)...)

	var t *tls
	if n.TLS.Enabled {
		for i, name := range p.ServerNames {
			if strings.HasPrefix(name, "*.") && (n.TLS.Cert == "" || n.TLS.Key == "") {
				v.add(fmt.Sprintf("proxy.server_names[%d]", i),
					"%q is a wildcard: certbot's webroot challenge cannot issue a wildcard certificate; set nginx.tls.cert and nginx.tls.key (--cert/--key) to a certificate you obtained another way (DNS validation)", name)
			}
		}
		t = &tls{
			Version:      ver.String(),
			Protocols:    ver.tlsProtocols(),
			Cert:         c.CertPath(),
			Key:          c.KeyPath(),
			SessionCache: s.Upstream.Name,
			HSTS:         n.TLS.HSTS,
			HSTSPreload:  n.TLS.HSTSPreload,
		}
		s.Main = listenBlock{Listens: listens(l.Host, httpsPort, true, ver), HTTP2On: ver.http2Directive(), TLS: t}
		s.ACME = &acme{
			listenBlock: listenBlock{Listens: listens(l.Host, l.Port, false, ver), Names: strings.Join(allNames, " ")},
			AccessLog:   n.AccessLog,
			ErrorLog:    n.ErrorLog,
			Webroot:     n.TLS.ACMEWebroot,
			HTTPSPort:   portSuffix(httpsPort, 443),
		}
	} else {
		s.Main = listenBlock{Listens: listens(l.Host, l.Port, false, ver)}
		if opts.ACMEChallenge {
			s.ACMEWebroot = n.TLS.ACMEWebroot
		}
	}
	s.Main.Names = strings.Join(mainNames, " ")

	for _, r := range redirects {
		rb := redirect{AccessLog: n.AccessLog, ErrorLog: n.ErrorLog}
		if t != nil {
			rb.listenBlock = listenBlock{Listens: listens(l.Host, httpsPort, true, ver), HTTP2On: ver.http2Directive(), TLS: t}
			rb.Target = "https://" + r.to + portSuffix(httpsPort, 443)
		} else {
			rb.listenBlock = listenBlock{Listens: listens(l.Host, l.Port, false, ver)}
			rb.Target = "http://" + r.to + portSuffix(l.Port, 80)
		}
		rb.Names = r.from
		rb.Why = fmt.Sprintf("%s: %s -> %s", p.Redirect, r.from, r.to)
		s.Redirects = append(s.Redirects, rb)
	}

	if err := v.err(); err != nil {
		return nil, err
	}
	return s, nil
}

func header(c *stack.Config, opts Options) []string {
	ver := opts.StackctlVersion
	if ver == "" {
		ver = "dev"
	}
	from := ""
	if opts.Source != "" {
		from = " from " + commentSafe(opts.Source)
	}
	return []string{
		"Generated by stackctl " + commentSafe(ver) + from + ".",
		"nginx site of " + c.Name + ": include it inside the http {} block (sites-enabled/ or conf.d/).",
		"Edit stack.toml and run `stackctl gen-nginx` again rather than editing this file.",
	}
}

// commentSafe keeps s on one comment line: control characters (a newline
// would end the comment and start a directive) are escaped.
func commentSafe(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) < 0 {
		return s
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

// listens returns the listen parameters for host:port. A bare port listens
// on IPv4 and IPv6 like Debian's default site.
func listens(host string, port int, ssl bool, ver version) []string {
	suffix := ""
	if ssl {
		suffix = " ssl"
		if !ver.http2Directive() {
			suffix += " http2"
		}
	}
	p := strconv.Itoa(port)
	switch {
	case host == "":
		return []string{p + suffix, "[::]:" + p + suffix}
	case strings.Contains(host, ":"):
		return []string{"[" + host + "]:" + p + suffix}
	default:
		return []string{host + ":" + p + suffix}
	}
}

func portSuffix(port, def int) string {
	if port == def {
		return ""
	}
	return ":" + strconv.Itoa(port)
}

type nameRedirect struct{ from, to string }

// canonicalNames applies proxy.redirect to the server names: the names the
// site answers on, and the names that redirect to one of them. Wildcards
// never redirect.
func canonicalNames(names []string, mode string) ([]string, []nameRedirect) {
	var main []string
	seen := map[string]bool{}
	addMain := func(n string) {
		if !seen[n] {
			seen[n] = true
			main = append(main, n)
		}
	}
	var pairs []nameRedirect
	for _, n := range names {
		if strings.HasPrefix(n, "*.") || mode == stack.RedirectNone {
			addMain(n)
			continue
		}
		apex := strings.TrimPrefix(n, "www.")
		if mode == stack.RedirectWWWToApex {
			addMain(apex)
			pairs = append(pairs, nameRedirect{from: "www." + apex, to: apex})
		} else {
			addMain("www." + apex)
			pairs = append(pairs, nameRedirect{from: apex, to: "www." + apex})
		}
	}
	// A redirecting name that is also served, or listed twice, is dropped.
	var out []nameRedirect
	for _, r := range pairs {
		if !seen[r.from] {
			seen[r.from] = true
			out = append(out, r)
		}
	}
	return main, out
}

func redirectNames(rs []nameRedirect) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.from
	}
	return out
}

// maxNginxSeconds is the longest time nginx's time parser accepts.
const maxNginxSeconds = 1<<31 - 1

type fieldErrors struct{ errs []*stack.FieldError }

func (v *fieldErrors) add(field, format string, args ...any) {
	v.errs = append(v.errs, &stack.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *fieldErrors) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &stack.ValidationError{Errors: v.errs}
}

// seconds formats a duration for a directive nginx reads in whole seconds
// (expires, fail_timeout).
func (v *fieldErrors) seconds(field string, d stack.Duration) string {
	t := d.Duration()
	if t%time.Second != 0 {
		v.add(field, "%q: nginx takes this value in whole seconds (1s, 30d)", d)
		return ""
	}
	if t/time.Second > maxNginxSeconds {
		v.add(field, "%q is longer than nginx accepts (at most 68 years)", d)
		return ""
	}
	if strings.Contains(string(d), "ms") {
		return formatDuration(t) // nginx rejects "ms" where it counts seconds
	}
	return string(d)
}

// millis formats a duration for a directive nginx reads in milliseconds
// (proxy timeouts).
func (v *fieldErrors) millis(field string, d stack.Duration) string {
	t := d.Duration()
	if t%time.Millisecond != 0 || t/time.Second > maxNginxSeconds {
		v.add(field, "%q is not a time nginx accepts here (1ms to 68 years)", d)
		return ""
	}
	return string(d)
}

// formatDuration writes d in the largest unit that divides it: 30d, 90m, 60s, 500ms.
func formatDuration(d time.Duration) string {
	for _, u := range []struct {
		d      time.Duration
		suffix string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

// TLSNames are the names the site answers on over HTTPS, so the names its
// certificate must hold: proxy.server_names after proxy.redirect (the
// names served, then those that redirect to them).
func TLSNames(c *stack.Config) []string {
	main, redirects := canonicalNames(c.Proxy.ServerNames, c.Proxy.Redirect)
	return append(main, redirectNames(redirects)...)
}
