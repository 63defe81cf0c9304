package stack

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"
)

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	envKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	userRE    = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)
	serviceRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]+$`)
	labelRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	// wsgiRE is gunicorn's APP_MODULE: a dotted module, ':', a variable or a
	// call of a factory with no arguments.
	wsgiRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\(\))?$`)
	// pathRE is what a path may hold in an nginx config or a unit: no
	// whitespace, quotes, ';', '{', '}', '$', '#' or anything else that could
	// end a directive or start a variable.
	pathRE = regexp.MustCompile(`^[A-Za-z0-9._/@+,=~-]+$`)
)

// ValidateName checks a project name: a folder name and a Go module element,
// [a-z][a-z0-9-]*, at most 63 characters.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the name is empty")
	case name == "." || name == ".." || strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%q is not a folder name (no path separators, not . or ..)", name)
	case len(name) > 63:
		return fmt.Errorf("%q is longer than 63 characters", name)
	case !nameRE.MatchString(name):
		return fmt.Errorf("%q must start with a lower-case letter and hold only a-z, 0-9 and '-'", name)
	case strings.HasSuffix(name, "-"):
		return fmt.Errorf("%q must not end with '-'", name)
	}
	return nil
}

// ValidateModulePath checks a Go module path the way `go mod init` does.
func ValidateModulePath(p string) error {
	if p == "" {
		return fmt.Errorf("the module path is empty")
	}
	if err := module.CheckImportPath(p); err != nil {
		return fmt.Errorf("%q is not a valid Go module path: %v", p, err)
	}
	return nil
}

// ValidatePort checks a TCP port number.
func ValidatePort(p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%d is not a port (1–65535)", p)
	}
	return nil
}

// ParsePort parses and checks a port written as text.
func ParsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port (1–65535)", s)
	}
	return n, ValidatePort(n)
}

// ValidateHostname checks a server name: a DNS host name of letters, digits
// and '-', optionally starting with "*." for a wildcard. Upper case is
// rejected so the name matches what nginx's $host and the proxy compare.
func ValidateHostname(h string) error {
	if h == "" {
		return fmt.Errorf("the domain is empty")
	}
	name := strings.TrimPrefix(h, "*.")
	if len(name) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", h)
	}
	for _, l := range strings.Split(name, ".") {
		if len(l) > 63 || !labelRE.MatchString(l) {
			return fmt.Errorf("%q is not a valid domain (lower-case labels of a-z, 0-9 and '-', separated by dots; '*.' only as a prefix)", h)
		}
	}
	return nil
}

// Listen is a parsed listen value: an optional host and a port.
type Listen struct {
	Host string // "" (all addresses), an IPv4/IPv6 address or a host name
	Port int
}

// String returns the address form net.Listen takes ("127.0.0.1:8080", ":80", "[::1]:80").
func (l Listen) String() string {
	h := l.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(l.Port)
}

// ParseListen parses "PORT", "HOST:PORT" or "[IPv6]:PORT".
func ParseListen(s string) (Listen, error) {
	if s == "" {
		return Listen{}, fmt.Errorf("the address is empty")
	}
	if !strings.Contains(s, ":") {
		p, err := ParsePort(s)
		return Listen{Port: p}, err
	}
	i := strings.LastIndex(s, ":")
	host, port := s[:i], s[i+1:]
	p, err := ParsePort(port)
	if err != nil {
		return Listen{}, fmt.Errorf("%q: %v", s, err)
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() {
			return Listen{}, fmt.Errorf("%q: %s is not an IPv6 address", s, host)
		}
		return Listen{Host: a.String(), Port: p}, nil
	}
	if host == "" || host == "*" {
		return Listen{Port: p}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return Listen{Host: a.String(), Port: p}, nil
	}
	if strings.Trim(host, "0123456789.") == "" {
		// Digits and dots but not an IPv4 address ("1.2.3.4.5", "300.1.1.1"):
		// a typo, not a host name (a top-level domain is never all digits).
		return Listen{}, fmt.Errorf("%q: %s is not an IPv4 address", s, host)
	}
	if host == "localhost" || (ValidateHostname(host) == nil && !strings.HasPrefix(host, "*")) {
		return Listen{Host: host, Port: p}, nil
	}
	return Listen{}, fmt.Errorf("%q is not an address (PORT, HOST:PORT or [IPv6]:PORT)", s)
}

// ValidateUpstream checks an upstream server: "host:port" (IPv4, [IPv6] or
// a host name) or "unix:/absolute/path".
func ValidateUpstream(s string) error {
	if rest, ok := strings.CutPrefix(s, "unix:"); ok {
		if err := ValidateAbsPath(rest); err != nil {
			return fmt.Errorf("%q: %v", s, err)
		}
		return nil
	}
	l, err := ParseListen(s)
	if err != nil || l.Host == "" {
		return fmt.Errorf("%q is not an upstream (host:port or unix:/path)", s)
	}
	return nil
}

// ValidateAbsPath checks an absolute path that goes into nginx or a unit.
func ValidateAbsPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	if !pathRE.MatchString(p) {
		return fmt.Errorf("%q holds characters not allowed in a path here (use letters, digits and . _ / @ + , = ~ -)", p)
	}
	if path.Clean(p) != p && path.Clean(p)+"/" != p {
		return fmt.Errorf("%q is not a clean path (no //, /./ or /../)", p)
	}
	return nil
}

// ValidateRelDir checks a folder relative to the project that must stay
// inside it.
func ValidateRelDir(p string) error {
	if p == "" {
		return fmt.Errorf("the folder is empty")
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q must be relative to the project folder", p)
	}
	if !pathRE.MatchString(p) {
		return fmt.Errorf("%q holds characters not allowed in a path here (use letters, digits and . _ / @ + , = ~ -)", p)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("%q leaves the project folder", p)
	}
	return nil
}

// ValidateURLPrefix checks a location prefix such as "/static/".
func ValidateURLPrefix(u string) error {
	if !strings.HasPrefix(u, "/") || !strings.HasSuffix(u, "/") || u == "/" {
		return fmt.Errorf("%q must start and end with '/' and not be '/' itself (/static/)", u)
	}
	if !pathRE.MatchString(u) || path.Clean(u)+"/" != u {
		return fmt.Errorf("%q is not a clean URL path of letters, digits and . _ / @ + , = ~ -", u)
	}
	return nil
}

// Validate checks every field and returns a *ValidationError listing each
// problem, or nil.
func (c *Config) Validate() error {
	v := &validator{}
	v.check("name", ValidateName(c.Name))

	a := c.App
	known := append(append([]string(nil), Templates...), AdoptedTemplates...)
	if !oneOf(a.Template, known...) {
		v.add("app.template", "%q is not a template (%s)", a.Template, strings.Join(known, ", "))
	}
	switch {
	case IsPython(a.Template) && !wsgiRE.MatchString(a.WSGI):
		v.add("app.wsgi", "%q is not a WSGI app for gunicorn (module:variable or module:factory(), such as %q)", a.WSGI, "wsgi:app")
	case !IsPython(a.Template) && a.WSGI != "":
		v.add("app.wsgi", "is for Python apps; app.template %q has none: remove it", a.Template)
	}
	v.check("app.port", ValidatePort(a.Port))
	if a.Replicas < 1 || a.Replicas > 64 {
		v.add("app.replicas", "%d is not between 1 and 64", a.Replicas)
	} else if ValidatePort(a.Port) == nil && a.Port+a.Replicas-1 > 65535 {
		v.add("app.replicas", "%d replicas from port %d run past port 65535", a.Replicas, a.Port)
	}
	if strings.TrimSpace(a.Command) == "" {
		v.add("app.command", "is empty: say how to start the app (%q)", DefaultCommand(a.Template))
	}
	v.noNewline("app.build", a.Build)
	v.noNewline("app.command", a.Command)
	if !strings.HasPrefix(a.Health, "/") || !pathRE.MatchString(a.Health) {
		v.add("app.health", "%q is not a path (/healthz)", a.Health)
	}
	for i, w := range a.Watch {
		v.check(fmt.Sprintf("app.watch[%d]", i), ValidateRelDir(w))
	}
	v.dataPaths(a.Data)
	for k, val := range a.Env {
		if !envKeyRE.MatchString(k) {
			v.add("app.env", "%q is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", k)
		}
		v.noNewline("app.env."+k, val)
	}

	p := c.Proxy
	if len(p.ServerNames) == 0 {
		v.add("proxy.server_names", "is empty: name at least one domain (example.com)")
	}
	for i, n := range p.ServerNames {
		v.check(fmt.Sprintf("proxy.server_names[%d]", i), ValidateHostname(n))
	}
	if _, err := ParseSize(string(p.ClientMaxBodySize)); err != nil {
		v.add("proxy.client_max_body_size", "%v", err)
	}
	v.positiveTimeout("proxy.connect_timeout", p.ConnectTimeout)
	v.positiveTimeout("proxy.read_timeout", p.ReadTimeout)
	v.positiveTimeout("proxy.send_timeout", p.SendTimeout)
	if !oneOf(p.Redirect, RedirectNone, RedirectWWWToApex, RedirectApexToWWW) {
		v.add("proxy.redirect", "%q is not one of none, www-to-apex, apex-to-www", p.Redirect)
	}
	seen := map[string]bool{}
	for i, s := range p.Static {
		f := fmt.Sprintf("proxy.static[%d]", i)
		v.check(f+".url", ValidateURLPrefix(s.URL))
		if seen[s.URL] {
			v.add(f+".url", "%q is listed twice", s.URL)
		}
		seen[s.URL] = true
		v.check(f+".dir", ValidateRelDir(s.Dir))
		if s.Expires != "" {
			v.positive(f+".expires", s.Expires)
		}
	}

	u := c.Upstream
	for i, s := range u.Servers {
		v.check(fmt.Sprintf("upstream.servers[%d]", i), ValidateUpstream(s))
	}
	if !oneOf(u.Balance, BalanceRoundRobin, BalanceLeastConn, BalanceIPHash) {
		v.add("upstream.balance", "%q is not one of round_robin, least_conn, ip_hash", u.Balance)
	}
	if u.MaxFails < 0 || u.MaxFails > 1000 {
		v.add("upstream.max_fails", "%d is not between 0 and 1000", u.MaxFails)
	}
	v.positive("upstream.fail_timeout", u.FailTimeout)
	if u.Keepalive < 0 || u.Keepalive > 10000 {
		v.add("upstream.keepalive", "%d is not between 0 and 10000", u.Keepalive)
	}

	if l, err := ParseListen(c.Serve.Listen); err != nil {
		v.add("serve.listen", "%v", err)
	} else if len(u.Servers) == 0 && l.Port >= a.Port && l.Port < a.Port+max(a.Replicas, 1) {
		v.add("serve.listen", "port %d is also the app's port: pick two different ports", l.Port)
	}

	n := c.Nginx
	if _, err := ParseListen(n.Listen); err != nil {
		v.add("nginx.listen", "%v", err)
	}
	v.check("nginx.app_dir", ValidateAbsPath(n.AppDir))
	if n.AccessLog != "off" {
		v.check("nginx.access_log", ValidateAbsPath(n.AccessLog))
	}
	v.check("nginx.error_log", ValidateAbsPath(n.ErrorLog))
	if n.TLS.Cert != "" {
		v.check("nginx.tls.cert", ValidateAbsPath(n.TLS.Cert))
	}
	if n.TLS.Key != "" {
		v.check("nginx.tls.key", ValidateAbsPath(n.TLS.Key))
	}
	v.check("nginx.tls.acme_webroot", ValidateAbsPath(n.TLS.ACMEWebroot))
	if n.TLS.HSTSPreload && !n.TLS.HSTS {
		v.add("nginx.tls.hsts_preload", "needs nginx.tls.hsts = true (preload is a flag of the HSTS header)")
	}
	v.acme(n.TLS)

	d := c.Deploy
	if len(d.User) > 32 || !userRE.MatchString(d.User) {
		v.add("deploy.user", "%q is not a user name ([a-z_][a-z0-9_-]*, at most 32)", d.User)
	}
	if !serviceRE.MatchString(d.Service) {
		v.add("deploy.service", "%q is not a unit name (letters, digits, _ . @ -)", d.Service)
	}
	v.deployNames(c)
	if d.SitesDir != "" {
		v.check("deploy.sites_dir", ValidateAbsPath(d.SitesDir))
	}
	hostSeen := map[string]bool{}
	for i, h := range d.Hosts {
		field := fmt.Sprintf("deploy.hosts[%d]", i)
		if err := ValidateDestination(h); err != nil {
			v.add(field, "%v", err)
			continue
		}
		if hostSeen[h] {
			v.add(field, "%q is named twice", h)
		}
		hostSeen[h] = true
	}
	if d.SSHConfig != "" {
		if strings.ContainsAny(d.SSHConfig, "\x00\r\n") || strings.HasPrefix(d.SSHConfig, "-") {
			v.add("deploy.ssh_config", "%q is not a file path", d.SSHConfig)
		}
	}
	if d.LB != "" {
		switch {
		case ValidateDestination(d.LB) != nil:
			v.add("deploy.lb", "%v", ValidateDestination(d.LB))
		case hostSeen[d.LB]:
			v.add("deploy.lb", "%q is also in deploy.hosts: the lb runs only nginx; use another host", d.LB)
		case len(d.Hosts) == 0:
			v.add("deploy.lb", "%q has no app hosts behind it: list them in deploy.hosts", d.LB)
		}
	}
	for h, addr := range d.PrivateAddresses {
		if !hostSeen[h] {
			v.add("deploy.private_addresses."+h, "%q is not in deploy.hosts", h)
		}
		if ip, err := netip.ParseAddr(addr); err != nil || ip.Zone() != "" {
			v.add("deploy.private_addresses."+h, "%q is not an IP address", addr)
		}
	}
	if d.Batch < 1 || d.Batch > 100 {
		v.add("deploy.batch", "%d is not between 1 and 100", d.Batch)
	}
	if d.KeepReleases < 2 || d.KeepReleases > 100 {
		v.add("deploy.keep_releases", "%d is not between 2 and 100 (the current and the previous release are always kept)", d.KeepReleases)
	}
	v.noNewline("deploy.release_command", d.ReleaseCommand)
	if t, err := ParseDuration(string(d.HealthTimeout)); err != nil {
		v.add("deploy.health_timeout", "%v", err)
	} else if t < time.Second || t > time.Hour {
		v.add("deploy.health_timeout", "%q is not between 1s and 1h", d.HealthTimeout)
	}
	if len(d.Hosts) > 0 && ValidatePort(a.Port) == nil && a.Port+SlotOffset > 65535 {
		v.add("app.port", "%d: deploying to hosts runs slot b on app.port+%d, past port 65535; choose a port below %d", a.Port, SlotOffset, 65536-SlotOffset)
	}
	v.processes(c)
	v.services(c)

	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: v.errs}
}

type validator struct{ errs []*FieldError }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) check(field string, err error) {
	if err != nil {
		v.add(field, "%v", err)
	}
}

func (v *validator) positive(field string, d Duration) {
	t, err := ParseDuration(string(d))
	v.positiveResult(field, d, t, err)
}

// positiveTimeout checks a time nginx reads in milliseconds (the proxy_*
// timeouts), where y and M are not units.
func (v *validator) positiveTimeout(field string, d Duration) {
	t, err := ParseTimeout(string(d))
	v.positiveResult(field, d, t, err)
}

func (v *validator) positiveResult(field string, d Duration, t time.Duration, err error) {
	switch {
	case err != nil:
		v.add(field, "%v", err)
	case t <= 0:
		v.add(field, "%q must be longer than zero", d)
	}
}

func (v *validator) noNewline(field, s string) {
	if strings.ContainsAny(s, "\r\n\x00") {
		v.add(field, "%q must be one line", s)
	}
}

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// ValidateDataPath checks one app.data path: a clean path inside the
// project, not the project itself and not a folder deploy makes in each
// release. init checks its proposals with it.
func ValidateDataPath(d string) error {
	if err := ValidateRelDir(d); err != nil {
		return err
	}
	c := path.Clean(d)
	switch {
	case c != d:
		return fmt.Errorf("%q is not a clean path: write %q", d, c)
	case c == ".":
		return fmt.Errorf("%q is the whole project: name the folder or file the app writes (instance)", d)
	}
	if top, _, _ := strings.Cut(c, "/"); top == ".venv" || top == "bin" || top == ".git" || top == ".stackctl" || strings.HasPrefix(top, ".stackctl-") {
		return fmt.Errorf("%q is a folder deploy makes in each release: choose another path", d)
	}
	return nil
}

// DataOverlaps reports whether two app.data paths are the same or one is
// inside the other.
func DataOverlaps(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// dataPaths checks app.data: clean paths inside the project, none inside
// another and none a part of the project stackctl owns.
func (v *validator) dataPaths(data []string) {
	for i, d := range data {
		f := fmt.Sprintf("app.data[%d]", i)
		if err := ValidateDataPath(d); err != nil {
			v.add(f, "%v", err)
			continue
		}
		for j, o := range data[:i] {
			if DataOverlaps(d, o) {
				v.add(f, "%q overlaps app.data[%d] %q: list each data path once", d, j, o)
			}
		}
	}
}

// acme checks the ACME keys of [nginx.tls].
func (v *validator) acme(t TLS) {
	if t.ACMEServer != "" {
		v.check("nginx.tls.acme_server", ValidateACMEServer(t.ACMEServer))
	}
	if t.ACMECA != "" && (strings.ContainsAny(t.ACMECA, "\x00\r\n") || strings.HasPrefix(t.ACMECA, "-")) {
		v.add("nginx.tls.acme_ca", "%q is not a file path", t.ACMECA)
	}
	if t.Email != "" {
		v.check("nginx.tls.email", ValidateEmail(t.Email))
	}
	switch t.Challenge {
	case "", ChallengeHTTP01:
	case ChallengeDNS01:
		v.add("nginx.tls.challenge", "%q is not supported yet (it is what wildcard certificates need): use %q, served by nginx on port 80, or set nginx.tls.cert and nginx.tls.key to a certificate obtained another way", t.Challenge, ChallengeHTTP01)
	default:
		v.add("nginx.tls.challenge", "%q is not a challenge type: use %q", t.Challenge, ChallengeHTTP01)
	}
}

// ValidateACMEServer checks an ACME directory URL: https, with a host.
func ValidateACMEServer(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || strings.ContainsAny(s, " \t\r\n\x00\"'\\"):
		return fmt.Errorf("%q is not a URL", s)
	case u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "":
		return fmt.Errorf("%q is not an ACME directory URL (https://HOST/PATH, as %q)", s, DefaultACMEServer)
	}
	return nil
}

// ValidateEmail checks an e-mail address: a plain addr-spec (no display
// name), as the ACME account's contact.
func ValidateEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || strings.HasPrefix(s, "-") || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return fmt.Errorf("%q is not an e-mail address (name@example.com)", s)
	}
	return nil
}
