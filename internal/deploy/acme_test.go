package deploy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

func acmeConfig() *stack.Config {
	c := stack.Default("shop", "go")
	c.Proxy.ServerNames = []string{"shop.example.org"}
	c.Nginx.TLS.Enabled = true
	return c
}

func TestCertbotArgv(t *testing.T) {
	c := acmeConfig()
	got := host.Quote(certbotArgv(c)...)
	want := "certbot certonly --webroot -w /var/www/letsencrypt --cert-name shop.example.org --server https://acme-v02.api.letsencrypt.org/directory --non-interactive --agree-tos --keep-until-expiring --register-unsafely-without-email -d shop.example.org"
	if got != want {
		t.Errorf("certbotArgv:\n got %s\nwant %s", got, want)
	}
	// An e-mail, another ACME server, and every name nginx answers on
	// over HTTPS (the www redirect too), under the first name.
	c.Nginx.TLS.Email = "ops@example.org"
	c.Nginx.TLS.ACMEServer = "https://10.77.1.1:14000/dir"
	c.Proxy.ServerNames = []string{"example.org", "api.example.org"}
	c.Proxy.Redirect = stack.RedirectWWWToApex
	got = host.Quote(certbotArgv(c)...)
	for _, w := range []string{"--cert-name example.org ", "--server https://10.77.1.1:14000/dir ", "--email ops@example.org --no-eff-email", "-d example.org -d api.example.org -d www.example.org -d www.api.example.org"} {
		if !strings.Contains(got, w) {
			t.Errorf("certbotArgv lacks %q: %s", w, got)
		}
	}
	if strings.Contains(got, "unsafely") {
		t.Errorf("with an e-mail, certbotArgv registers without one: %s", got)
	}
}

func TestRenewArgv(t *testing.T) {
	c := acmeConfig()
	if got := host.Quote(renewArgv(c, false)...); got != "certbot renew --cert-name shop.example.org --non-interactive --no-random-sleep-on-renew" {
		t.Errorf("renewArgv: %s", got)
	}
	if got := host.Quote(renewArgv(c, true)...); !strings.HasSuffix(got, " --force-renewal") {
		t.Errorf("renewArgv force: %s", got)
	}
	if renewHookPath(c) != "/etc/letsencrypt/renewal-hooks/deploy/stackctl-shop" || caBundlePath(c) != "/var/lib/stackctl/shop/acme-ca.pem" {
		t.Errorf("paths: %s %s", renewHookPath(c), caBundlePath(c))
	}
}

// The scripts are valid POSIX shell.
func TestACMEScriptsParse(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	for name, s := range map[string]string{"obtain": obtainScript, "renew": renewScript, "certFile": certFileScript} {
		if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v %s", name, err, out)
		}
	}
}

// certbot 2's outputs, as Let's Encrypt and pebble word the problems.
func TestCertbotFailure(t *testing.T) {
	const head = "Saving debug log to /var/log/letsencrypt/letsencrypt.log\nRequesting a certificate for shop.example.org\n\nCertbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these problems:\n"
	const hint = "\nHint: The Certificate Authority failed to download the temporary challenge files created by Certbot.\n\nSome challenges have failed.\nAsk for help or search for solutions at https://community.letsencrypt.org.\n"
	tests := []struct {
		name, out string
		want      []string
		fix       string
	}{
		{"nxdomain", head + "  Domain: shop.example.org\n  Type:   dns\n  Detail: DNS problem: NXDOMAIN looking up A for shop.example.org - check that a DNS record exists for this domain\n" + hint,
			[]string{"web1: no certificate: DNS for shop.example.org does not point here: DNS problem: NXDOMAIN"}, "add an A (or AAAA) record for each name pointing at 203.0.113.10"},
		{"elsewhere", head + "  Domain: shop.example.org\n  Type:   connection\n  Detail: 198.51.100.7: Fetching http://shop.example.org/.well-known/acme-challenge/abc: Timeout during connect (likely firewall problem)\n" + hint,
			[]string{"DNS for shop.example.org does not point here: the ACME server reached 198.51.100.7, not 203.0.113.10"}, "point each name's A (or AAAA) record at 203.0.113.10"},
		{"firewall", head + "  Domain: shop.example.org\n  Type:   connection\n  Detail: 203.0.113.10: Fetching http://shop.example.org/.well-known/acme-challenge/abc: Timeout during connect (likely firewall problem)\n" + hint,
			[]string{"port 80 of 203.0.113.10 is unreachable from the ACME server for shop.example.org"}, "open port 80"},
		{"pebble refused", head + "  Domain: new.app.test\n  Type:   unauthorized\n  Detail: The key authorization file from the server did not match this challenge \"abc\" != \"{\\\"X-Forwarded-For\\\":[\\\"10.77.1.1\\\"]}\"\n" + hint,
			[]string{"DNS for new.app.test does not seem to point here", "did not match"}, "check that each name resolves to 203.0.113.10"},
		{"rate limit", "Requesting a certificate for shop.example.org\nAn unexpected error occurred:\nError creating new order :: too many certificates (5) already issued for this exact set of domains in the last 168 hours: shop.example.org, retry after 2026-12-05T10:00:00Z: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-hostnames\n",
			[]string{"rate limit of the ACME server", "too many certificates (5)"}, "wait until the limit passes"},
		{"other", "An unexpected error occurred:\nrequests.exceptions.SSLError: certificate verify failed\n",
			[]string{"certbot failed:", "certificate verify failed"}, "/var/log/letsencrypt/letsencrypt.log on web1"},
	}
	for _, tt := range tests {
		err := certbotFailure("web1", "203.0.113.10", tt.out)
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tt.name, err, w)
			}
		}
		var fe *ui.FixError
		if !errors.As(err, &fe) || !strings.Contains(fe.Fix, tt.fix) {
			t.Errorf("%s: fix %q, want %q", tt.name, fe.Fix, tt.fix)
		}
	}
}

func selfSigned(t *testing.T, names []string, notAfter time.Time) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0xbeef), Subject: pkix.Name{CommonName: names[0]}, Issuer: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestParseCertAndProblems(t *testing.T) {
	now := time.Now()
	exp := now.Add(10 * 24 * time.Hour).Truncate(time.Second)
	data := append(selfSigned(t, []string{"shop.example.org", "www.shop.example.org"}, exp), selfSigned(t, []string{"intermediate"}, exp)...)
	cs, err := parseCert(data)
	if err != nil || cs == nil {
		t.Fatalf("parseCert: %v %v", cs, err)
	}
	if cs.Serial != "BEEF" || cs.Issuer != "shop.example.org" || !cs.NotAfter.Equal(exp) || cs.DaysLeft(now) != 9 {
		t.Errorf("parseCert: %+v (days %d)", cs, cs.DaysLeft(now))
	}
	if !cs.Covers([]string{"www.shop.example.org"}) || cs.Covers([]string{"shop.example.org", "new.shop.example.org"}) {
		t.Errorf("Covers wrong for %v", cs.Names)
	}
	if cs, err := parseCert(nil); cs != nil || err != nil {
		t.Errorf("parseCert(nothing) = %v, %v", cs, err)
	}

	c := acmeConfig()
	if p := certProblems(c, nil, now); len(p) != 1 || !strings.Contains(p[0], "deploy gets one") {
		t.Errorf("no cert: %v", p)
	}
	if p := certProblems(c, cs, now); len(p) != 0 {
		t.Errorf("good cert: %v", p)
	}
	if p := certProblems(c, cs, exp.Add(time.Minute)); len(p) != 1 || !strings.Contains(p[0], "expired") {
		t.Errorf("expired cert: %v", p)
	}
	c.Proxy.ServerNames = append(c.Proxy.ServerNames, "new.example.org")
	if p := certProblems(c, cs, now); len(p) != 1 || !strings.Contains(p[0], "lacks") {
		t.Errorf("cert lacking a name: %v", p)
	}
}

func TestACMECA(t *testing.T) {
	dir := t.TempDir()
	c := acmeConfig()
	c.Path = filepath.Join(dir, stack.FileName)
	if data, err := acmeCA(c); data != nil || err != nil {
		t.Errorf("no acme_ca: %q %v", data, err)
	}
	c.Nginx.TLS.ACMECA = "ca.pem" // relative to stack.toml's folder
	if _, err := acmeCA(c); err == nil || !strings.Contains(err.Error(), "nginx.tls.acme_ca") {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	if _, err := acmeCA(c); err == nil || !strings.Contains(err.Error(), "not a certificate") {
		t.Errorf("a key, not a CA: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("hello"), 0o600)
	if _, err := acmeCA(c); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("not PEM: %v", err)
	}
	ca := selfSigned(t, []string{"ca"}, time.Now().Add(time.Hour))
	os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o600)
	if data, err := acmeCA(c); err != nil || string(data) != string(ca) {
		t.Errorf("a CA: %v", err)
	}
}
