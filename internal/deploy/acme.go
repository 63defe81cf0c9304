package deploy

// HTTPS with no manual step (DEPLOY.md "HTTPS on servers"): with
// nginx.tls.enabled and no certificate of one's own, deploy gets the site's
// certificate with certbot on the host that terminates TLS (the lb when
// there is one, else each app host) and switches the site to HTTPS; certbot's
// timer renews it, and a deploy hook reloads nginx. The commands are built by
// the pure functions below; certificates (the flow's last step) and
// RenewCerts run them.

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// CertWarnDays is how close to its expiry a certificate makes `doctor
// --host` warn: certbot's timer renews 30 days before.
const CertWarnDays = 14

// CertStatus is a TLS certificate as a host holds it.
type CertStatus struct {
	Host     string    `json:"host"`
	Path     string    `json:"path"`
	Names    []string  `json:"names"`
	Issuer   string    `json:"issuer"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
}

// DaysLeft is the number of whole days until the certificate expires
// (negative once it has).
func (c CertStatus) DaysLeft(now time.Time) int {
	return int(c.NotAfter.Sub(now).Hours() / 24)
}

// Covers reports whether the certificate holds every name of names.
func (c CertStatus) Covers(names []string) bool {
	for _, n := range names {
		if !slices.Contains(c.Names, n) {
			return false
		}
	}
	return true
}

// caBundlePath is where the TLS host keeps the CA bundle certbot trusts the
// ACME server's HTTPS with (nginx.tls.acme_ca, then the system's CAs).
func caBundlePath(c *stack.Config) string {
	return path.Join(stateBase, c.Name, "acme-ca.pem")
}

// renewHookPath is the deploy hook certbot runs after it renewed a
// certificate (certbot.timer, certs renew): nginx -t, then a graceful
// reload.
func renewHookPath(c *stack.Config) string {
	return "/etc/letsencrypt/renewal-hooks/deploy/stackctl-" + c.Name
}

// acmeServer is nginx.tls.acme_server, or Let's Encrypt's.
func acmeServer(c *stack.Config) string {
	if s := c.Nginx.TLS.ACMEServer; s != "" {
		return s
	}
	return stack.DefaultACMEServer
}

// certbotArgv is certbot's command that gets (or, when names were added,
// replaces) the site's certificate: the webroot challenge served by nginx,
// one certificate named after the first server name holding every name
// the site answers on over HTTPS, from nginx.tls.acme_server, the account
// registered with nginx.tls.email (or without one). A certificate that
// already holds the names and is not due is kept.
func certbotArgv(c *stack.Config) []string {
	t := c.Nginx.TLS
	argv := []string{"certbot", "certonly", "--webroot", "-w", t.ACMEWebroot,
		"--cert-name", c.CertName(), "--server", acmeServer(c),
		"--non-interactive", "--agree-tos", "--keep-until-expiring"}
	if t.Email != "" {
		argv = append(argv, "--email", t.Email, "--no-eff-email")
	} else {
		argv = append(argv, "--register-unsafely-without-email")
	}
	for _, n := range nginx.TLSNames(c) {
		argv = append(argv, "-d", n)
	}
	return argv
}

// renewArgv is certbot's command that renews the site's certificate now
// when due (force: whether due or not); the deploy hook reloads nginx.
func renewArgv(c *stack.Config, force bool) []string {
	argv := []string{"certbot", "renew", "--cert-name", c.CertName(), "--non-interactive", "--no-random-sleep-on-renew"}
	if force {
		argv = append(argv, "--force-renewal")
	}
	return argv
}

// certbotEnv defines use_ca_bundle FILE: certbot (Python's requests)
// trusts FILE when it exists: for certbot run now, and, through a drop-in,
// for certbot.timer's renewals.
const certbotEnv = `use_ca_bundle() {
	[ -n "$1" ] && [ -f "$1" ] && export REQUESTS_CA_BUNDLE="$1"
	return 0
}
`

// obtainScript gets the site's certificate: it installs Debian's certbot
// when missing, makes the webroot $1, writes the CA bundle $2 from stdin
// (nothing on stdin and $2 "": the system's CAs only) and the drop-in
// that makes certbot.timer's renewals trust it, the deploy hook $3, turns
// on certbot.timer, then runs the certbot command after $3. Everything is
// printed on stdout; certbot's own output comes after a line "certbot:".
const obtainScript = aptInstall + certbotEnv + `set -u
exec 2>&1
webroot=$1; ca=$2; hook=$3; shift 3
umask 022
apt_install certbot || exit 10
mkdir -p "$webroot"
if [ -n "$ca" ]; then
	mkdir -p "$(dirname "$ca")"
	{ cat; echo; cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null; } >"$ca.new" && mv -f "$ca.new" "$ca" || exit 11
	dropin=/etc/systemd/system/certbot.service.d/stackctl-acme-ca.conf
	want=$(printf '[Service]\nEnvironment=REQUESTS_CA_BUNDLE=%s\n' "$ca")
	if [ "$(cat "$dropin" 2>/dev/null)" != "$want" ]; then
		mkdir -p "$(dirname "$dropin")"
		printf '%s\n' "$want" >"$dropin"
		systemctl daemon-reload
	fi
fi
mkdir -p "$(dirname "$hook")"
cat >"$hook.new" <<'HOOK'
#!/bin/sh
# Written by stackctl deploy: after certbot renewed a certificate, nginx
# checks its configuration and loads it gracefully (a reload, never a restart).
nginx -t -q && systemctl reload nginx
HOOK
chmod 0755 "$hook.new" && mv -f "$hook.new" "$hook"
systemctl enable --quiet --now certbot.timer 2>/dev/null || true
use_ca_bundle "$ca"
echo "certbot:"
"$@"
`

// renewScript renews the site's certificate now: certbot's command after
// $1 (the CA bundle, "" for none), trusting the bundle when it exists.
const renewScript = certbotEnv + `set -u
exec 2>&1
use_ca_bundle "$1"; shift
command -v certbot >/dev/null 2>&1 || { echo "certbot is not installed: deploy installs it with the first certificate"; exit 10; }
"$@"
`

// certFileScript prints the certificate file $1 (a PEM chain), nothing
// when there is none.
const certFileScript = `[ -f "$1" ] && cat "$1"; exit 0`

// parseCert reads the first certificate of a PEM chain; nil when there is
// none.
func parseCert(data []byte) (*CertStatus, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		x, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		cs := &CertStatus{Names: x.DNSNames, NotAfter: x.NotAfter, Serial: fmt.Sprintf("%X", x.SerialNumber)}
		for _, ip := range x.IPAddresses {
			cs.Names = append(cs.Names, ip.String())
		}
		cs.Issuer = x.Issuer.CommonName
		if cs.Issuer == "" {
			cs.Issuer = x.Issuer.String()
		}
		if len(x.Issuer.Organization) > 0 && !strings.Contains(cs.Issuer, x.Issuer.Organization[0]) {
			cs.Issuer = x.Issuer.Organization[0] + " " + cs.Issuer
		}
		return cs, nil
	}
}

// ReadCert reads the TLS certificate at path on h; nil when there is none.
func ReadCert(ctx context.Context, h host.Host, path string) (*CertStatus, error) {
	return readCert(ctx, h, path)
}

// readCert reads the certificate at path on h; nil when there is none.
func readCert(ctx context.Context, h host.Host, path string) (*CertStatus, error) {
	var out bytes.Buffer
	if err := host.Script(ctx, h, true, certFileScript, nil, &out, path); err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", h.Name(), path, err)
	}
	cs, err := parseCert(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", h.Name(), path, err)
	}
	if cs != nil {
		cs.Host, cs.Path = h.Name(), path
	}
	return cs, nil
}

// certbotProblem is one name's failure as the ACME server reported it
// (certbot 2's "Domain: … Type: … Detail: …").
type certbotProblem struct{ domain, typ, detail string }

var (
	problemRE = regexp.MustCompile(`(?m)^\s*Domain:\s*(\S+)\s*\n\s*Type:\s*(\S+)\s*\n\s*Detail:\s*(.*)$`)
	// addrRE is the address the CA reached, as Let's Encrypt starts a
	// problem's detail with it ("203.0.113.7: Invalid response from …").
	addrRE = regexp.MustCompile(`^\[?([0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-fA-F]*:[0-9a-fA-F:]+)\]?: `)
)

// certbotFailure says why certbot could not get the certificate on h
// (reached at addr), from certbot's output: DNS does not point at the
// host, port 80 is unreachable, a rate limit, or else certbot's last lines.
func certbotFailure(hostName, addr, out string) error {
	var causes []string
	fix := ""
	for _, m := range problemRE.FindAllStringSubmatch(out, -1) {
		p := certbotProblem{domain: m[1], typ: strings.ToLower(m[2]), detail: problemDetail(m[3])}
		seen := ""
		if a := addrRE.FindStringSubmatch(p.detail); a != nil {
			seen = strings.Trim(a[1], "[]")
		}
		switch {
		case p.typ == "dns":
			causes = append(causes, fmt.Sprintf("DNS for %s does not point here: %s", p.domain, p.detail))
			fix = "add an A (or AAAA) record for each name pointing at " + addr + ", wait for it to be seen, then deploy again"
		case seen != "" && seen != addr && (p.typ == "connection" || p.typ == "unauthorized"):
			causes = append(causes, fmt.Sprintf("DNS for %s does not point here: the ACME server reached %s, not %s (%s)", p.domain, seen, addr, p.detail))
			fix = "point each name's A (or AAAA) record at " + addr + ", wait for it to be seen, then deploy again"
		case p.typ == "connection":
			causes = append(causes, fmt.Sprintf("port 80 of %s is unreachable from the ACME server for %s: %s", addr, p.domain, p.detail))
			fix = "open port 80 to the internet on " + hostName + " (firewall, provider's security group), then deploy again"
		case p.typ == "unauthorized":
			causes = append(causes, fmt.Sprintf("DNS for %s does not seem to point here: the ACME server fetched the challenge from a server that does not have it (or a proxy in front answers port 80): %s", p.domain, p.detail))
			fix = "check that each name resolves to " + addr + " and that port 80 reaches its nginx, then deploy again"
		case strings.Contains(p.typ, "ratelimit"):
			causes = append(causes, fmt.Sprintf("rate limit of the ACME server: %s", p.detail))
		default:
			causes = append(causes, fmt.Sprintf("%s (%s): %s", p.domain, p.typ, p.detail))
		}
	}
	low := strings.ToLower(out)
	if len(causes) == 0 && (strings.Contains(low, "ratelimited") || strings.Contains(low, "rate limit") || strings.Contains(low, "too many")) {
		causes = append(causes, "rate limit of the ACME server: "+lastLinesOf(out, 3))
	}
	if len(causes) > 0 && strings.HasPrefix(causes[len(causes)-1], "rate limit") {
		fix = "wait until the limit passes (Let's Encrypt: https://letsencrypt.org/docs/rate-limits/), or try nginx.tls.acme_server = \"https://acme-staging-v02.api.letsencrypt.org/directory\" meanwhile"
	}
	if len(causes) == 0 {
		causes = append(causes, "certbot failed:\n"+lastLinesOf(out, 12))
		fix = "see /var/log/letsencrypt/letsencrypt.log on " + hostName
	}
	return ui.WithFix(fmt.Errorf("%s: no certificate: %s", hostName, strings.Join(causes, "; ")), fix)
}

// problemDetail is a problem's detail without the answer the CA quotes
// (an HTML page, the wrong key authorization), at most 240 bytes.
func problemDetail(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ` "`); i > 0 {
		s = strings.TrimRight(s[:i], ": ") + " (…)"
	}
	return shorten(s, 240)
}

// shorten cuts s to at most n bytes, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// acmeCA reads nginx.tls.acme_ca on this machine: PEM certificates only.
func acmeCA(c *stack.Config) ([]byte, error) {
	p := c.ACMECAPath()
	if p == "" {
		return nil, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, ui.WithFix(fmt.Errorf("nginx.tls.acme_ca: %w", err), "name the CA file of your ACME server's HTTPS certificate, or remove nginx.tls.acme_ca")
	}
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); b.Type != "CERTIFICATE" || err != nil {
			return nil, fmt.Errorf("nginx.tls.acme_ca: %s holds a %s block that is not a certificate", p, b.Type)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("nginx.tls.acme_ca: %s holds no PEM certificate", p)
	}
	return data, nil
}

// tlsSite is a host that terminates TLS for the site: the lb, or an app
// host when there is none. cert is what it holds (nil: nothing).
type tlsSite struct {
	h    host.Host
	lb   *lbRun
	run  *hostRun
	cert *CertStatus
}

// tlsSites are the hosts that terminate TLS in this deploy.
func (d *rollout) tlsSites() []*tlsSite {
	if d.lb != nil {
		return []*tlsSite{{h: d.lb.h, lb: d.lb}}
	}
	var out []*tlsSite
	for _, r := range d.runs {
		out = append(out, &tlsSite{h: r.h, run: r})
	}
	return out
}

// readCerts reads, when TLS is on, what each TLS host holds.
func (d *rollout) readCerts(ctx context.Context) error {
	if !d.f.c.Nginx.TLS.Enabled {
		return nil
	}
	d.tls = d.tlsSites()
	for _, s := range d.tls {
		var err error
		if s.cert, err = readCert(ctx, s.h, d.f.c.CertPath()); err != nil {
			return err
		}
	}
	return d.oneACMEHost()
}

// oneACMEHost refuses to get certificates on several app hosts that each
// terminate TLS (no lb): the CA asks for the challenge at whichever host
// DNS or a cloud balancer sends it to, not the one whose certbot waits,
// so validation would fail at random. Certificates already there are
// kept; nothing was changed.
func (d *rollout) oneACMEHost() error {
	if !d.f.c.UsesACME() || len(d.tls) < 2 {
		return nil
	}
	for _, s := range d.tls {
		if d.needsCert(s) {
			return ui.WithFix(fmt.Errorf("%s: certbot cannot get the certificate on %d app hosts that each terminate TLS (no lb): the CA would ask any of them for the challenge; nothing was changed", s.h.Name(), len(d.tls)),
				"put a load-balancer host in front (deploy.lb, --lb) to hold the certificate, or give every host a certificate of your own (nginx.tls.cert and nginx.tls.key)")
		}
	}
	return nil
}

// needsCert reports whether s lacks a certificate holding every name.
func (d *rollout) needsCert(s *tlsSite) bool {
	return s.cert == nil || !s.cert.Covers(nginx.TLSNames(d.f.c))
}

// certificates is the flow's last step: on each TLS host without a
// certificate for every name, certbot gets it through the HTTP site
// deployed before (its webroot challenge), then the site switches to
// HTTPS. When certbot fails the site keeps serving as it did (HTTP, or
// HTTPS with the certificate it had), and the error says why.
func (d *rollout) certificates(ctx context.Context) error {
	f := d.f
	var errs []error
	for _, s := range d.tls {
		if !f.c.UsesACME() {
			// A certificate of one's own (nginx.tls.cert): the site
			// serves HTTP until it is there.
			if s.cert == nil {
				f.say(s.h, "%s no certificate at %s (nginx.tls.cert) yet: the site serves HTTP until it is there; deploy again then", f.p.Yellow("TLS:"), f.c.CertPath())
			}
			continue
		}
		if !d.needsCert(s) {
			continue
		}
		names := nginx.TLSNames(f.c)
		argv := certbotArgv(f.c)
		if f.DryRun {
			f.say(s.h, "would get a certificate for %s from %s: %s; then switch the site to HTTPS", strings.Join(names, ", "), acmeServer(f.c), host.Quote(argv...))
			continue
		}
		if err := d.obtain(ctx, s, argv); err != nil {
			errs = append(errs, err)
			continue
		}
		// Once the certificate is there, the switch is not cut off.
		if err := d.switchToHTTPS(context.WithoutCancel(ctx), s); err != nil {
			errs = append(errs, err)
			continue
		}
		d.certs = append(d.certs, s)
	}
	return errors.Join(errs...)
}

// obtain runs certbot on s.
func (d *rollout) obtain(ctx context.Context, s *tlsSite, argv []string) error {
	f := d.f
	ca, err := acmeCA(f.c)
	if err != nil {
		return err
	}
	bundle := ""
	if ca != nil {
		bundle = caBundlePath(f.c)
	}
	start := time.Now()
	f.step(s.h, "getting a certificate for %s from %s", strings.Join(nginx.TLSNames(f.c), ", "), acmeServer(f.c))
	var out bytes.Buffer
	args := append([]string{f.c.Nginx.TLS.ACMEWebroot, bundle, renewHookPath(f.c)}, argv...)
	err = host.Script(ctx, s.h, true, obtainScript, bytes.NewReader(ca), &out, args...)
	keeps := "the site keeps serving HTTP"
	if s.cert != nil {
		keeps = "the site keeps serving HTTPS with the certificate it had (" + strings.Join(s.cert.Names, ", ") + ")"
	}
	if err != nil {
		var ee *host.ExitError
		if !errors.As(err, &ee) {
			return err
		}
		text := out.String()
		switch ee.Status {
		case 10:
			return ui.WithFix(fmt.Errorf("%s: installing certbot failed; %s: %s", s.h.Name(), keeps, lastLinesOf(text, 8)), "on the server: apt-get install certbot")
		case 11:
			return fmt.Errorf("%s: writing the ACME CA bundle %s failed; %s: %s", s.h.Name(), bundle, keeps, lastLinesOf(text, 4))
		}
		_, certbotOut, _ := strings.Cut(text, "certbot:\n")
		var we *ui.FixError
		cerr := certbotFailure(s.h.Name(), addrOf(f.c, s.h), certbotOut)
		msg := cerr.Error()
		fix := ""
		if errors.As(cerr, &we) {
			msg, fix = we.Err.Error(), we.Fix
		}
		return ui.WithFix(fmt.Errorf("%s; %s", msg, keeps), fix)
	}
	if s.cert, err = readCert(ctx, s.h, f.c.CertPath()); err != nil {
		return err
	}
	if s.cert == nil {
		return fmt.Errorf("%s: certbot succeeded but %s is missing; %s", s.h.Name(), f.c.CertPath(), keeps)
	}
	f.say(s.h, "%s certificate for %s from %s (%s, expires %s) %s", f.p.Green("✓"), strings.Join(s.cert.Names, ", "), acmeServer(f.c), s.cert.Issuer, s.cert.NotAfter.UTC().Format("2006-01-02"), since(start))
	return nil
}

// switchToHTTPS renders s's site with TLS on (its certificate is there
// now) and installs it: nginx -t (the old site back when it refuses), then
// a graceful reload.
func (d *rollout) switchToHTTPS(ctx context.Context, s *tlsSite) error {
	if s.lb != nil {
		s.lb.facts.Cert, s.lb.https = true, true
		if err := s.lb.plan(ctx, d.runs); err != nil {
			return err
		}
		return s.lb.apply(ctx)
	}
	r := s.run
	r.facts.Cert = true
	site, err := r.renderSite()
	if err != nil {
		return err
	}
	sitePath, _ := r.layoutSites()
	before, err := readHostFiles(ctx, r.h, sitePath)
	if err != nil {
		return err
	}
	changed := changedFiles([]HostFile{{Path: sitePath, Exists: true, Data: site, Mode: 0o644}}, before)
	if len(changed) == 0 {
		return nil
	}
	if err := writeHostFiles(ctx, r.h, r.l.StateDir, path.Join(r.l.StateDir, "backups", "site-"+r.Now().UTC().Format("20060102T150405Z")), changed); err != nil {
		return err
	}
	if out, err := host.Output(ctx, r.h, true, "nginx", "-t"); err != nil {
		uerr := undoFiles(r.h, r.l.StateDir, []HostFile{before[sitePath]})
		return fmt.Errorf("%s: nginx rejects the HTTPS site: %s (the HTTP site restored: %v)", r.h.Name(), strings.TrimSpace(out), uerr == nil)
	}
	if out, err := host.Output(ctx, r.h, true, "sh", "-c", reloadScript, "stackctl", fmt.Sprint(int(r.DrainTimeout/time.Second))); err != nil {
		return fmt.Errorf("%s: reload nginx: %s", r.h.Name(), strings.TrimSpace(out))
	}
	r.say(r.h, "%s site → HTTPS", r.p.Cyan("⇄"))
	return nil
}

// certSummary says which hosts got a certificate in this deploy.
func (d *rollout) certSummary() string {
	var b strings.Builder
	for _, s := range d.certs {
		fmt.Fprintf(&b, "HTTPS: %s got a certificate for %s from %s (expires %s) and serves HTTPS now; certbot.timer renews it.\n",
			s.h.Name(), strings.Join(s.cert.Names, ", "), acmeServer(d.f.c), s.cert.NotAfter.UTC().Format("2006-01-02"))
	}
	return b.String()
}

// certProblems are what status says of a TLS host's certificate cs (nil:
// none there).
func certProblems(c *stack.Config, cs *CertStatus, now time.Time) []string {
	switch {
	case cs == nil && c.UsesACME():
		return []string{"no certificate at " + c.CertPath() + ": the site serves HTTP; deploy gets one"}
	case cs == nil:
		return []string{"no certificate at " + c.CertPath()}
	case !now.Before(cs.NotAfter):
		return []string{"the certificate expired on " + cs.NotAfter.UTC().Format("2006-01-02")}
	case !cs.Covers(nginx.TLSNames(c)):
		return []string{"the certificate lacks some of " + strings.Join(nginx.TLSNames(c), ", ") + ": deploy gets a new one"}
	}
	return nil
}

// tlsHosts are the hosts that terminate TLS for the site: the lb, else
// every app host.
func tlsHosts(o HostsOptions) []host.Host {
	if o.LB != nil {
		return []host.Host{o.LB}
	}
	return o.Hosts
}

// Certs reads the site's certificate on each host that terminates TLS
// (nil entries are left out: a host without one).
func Certs(ctx context.Context, o HostsOptions) ([]CertStatus, error) {
	var out []CertStatus
	if !o.Config.Nginx.TLS.Enabled {
		return nil, nil
	}
	for _, h := range tlsHosts(o) {
		cs, err := readCert(ctx, h, o.Config.CertPath())
		if err != nil {
			return nil, err
		}
		if cs != nil {
			out = append(out, *cs)
		}
	}
	return out, nil
}

// RenewCerts renews the site's certificate now on each host that
// terminates TLS (force: whether due or not), under the deploy lock;
// certbot's deploy hook reloads nginx gracefully. It returns the
// certificates as they are after.
func RenewCerts(ctx context.Context, o HostsOptions, force bool) ([]CertStatus, error) {
	f, err := newFleet(o)
	if err != nil {
		return nil, err
	}
	if !f.c.UsesACME() {
		return nil, ui.Usagef("certs renew renews what deploy got from nginx.tls.acme_server: set nginx.tls.enabled = true and leave nginx.tls.cert empty", "%s has no ACME certificate to renew", f.c.Name)
	}
	var runs []*hostRun
	for _, h := range o.Hosts {
		runs = append(runs, &hostRun{fleet: f, h: h})
	}
	unlock, err := f.lockAll(ctx, runs, "certs renew")
	defer unlock()
	if err != nil {
		return nil, err
	}
	var list []CertStatus
	for _, h := range tlsHosts(o) {
		before, err := readCert(ctx, h, f.c.CertPath())
		if err != nil {
			return nil, err
		}
		if before == nil {
			return nil, ui.Errorf("deploy first: it gets the certificate", "%s has no certificate at %s", h.Name(), f.c.CertPath())
		}
		argv := renewArgv(f.c, force)
		if f.DryRun {
			f.say(h, "would run %s", host.Quote(argv...))
			list = append(list, *before)
			continue
		}
		start := time.Now()
		f.step(h, "renewing the certificate for %s", strings.Join(before.Names, ", "))
		var out bytes.Buffer
		if err := host.Script(ctx, h, true, renewScript, nil, &out, append([]string{caBundlePath(f.c)}, argv...)...); err != nil {
			var ee *host.ExitError
			if !errors.As(err, &ee) {
				return nil, err
			}
			cerr := certbotFailure(h.Name(), addrOf(f.c, h), out.String())
			return nil, fmt.Errorf("%w (nginx keeps serving the certificate it has, until %s)", cerr, before.NotAfter.UTC().Format("2006-01-02"))
		}
		after, err := readCert(ctx, h, f.c.CertPath())
		if err != nil {
			return nil, err
		}
		if after == nil {
			return nil, fmt.Errorf("%s: certbot renew succeeded but %s is gone", h.Name(), f.c.CertPath())
		}
		if after.Serial == before.Serial {
			f.say(h, "%s not due for renewal (expires %s); --force renews anyway", f.p.Green("✓"), after.NotAfter.UTC().Format("2006-01-02"))
		} else {
			f.say(h, "%s renewed: serial %s, expires %s; nginx reloaded %s", f.p.Green("✓"), after.Serial, after.NotAfter.UTC().Format("2006-01-02"), since(start))
		}
		list = append(list, *after)
	}
	return list, nil
}
