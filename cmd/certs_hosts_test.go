package cmd

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/hosttest"
	"github.com/stackctl/stackctl/internal/nginxtest"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
	"github.com/stackctl/stackctl/scaffold"
)

// headersApp answers / with the request's headers as JSON, and /healthz.
const headersApp = `package main

import (
	"encoding/json"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(r.Header) })
	panic(http.ListenAndServe(os.Getenv("HOST")+":"+os.Getenv("PORT"), nil))
}
`

// HTTPS with no manual step, against a real ACME server (pebble) on the
// test network. Through an lb with two app hosts: one deploy gets the
// certificate on the lb and switches the site to HTTPS (HTTP redirects,
// the app sees X-Forwarded-Proto https); status shows the certificate; a
// forced renewal under keep-alive HTTPS load serves a new serial with no
// failed request; a name whose DNS points elsewhere fails the deploy,
// saying so, and HTTPS keeps serving. One host without an lb (a second
// app on web1) gets its own certificate the same way.
func TestCertsFromACME(t *testing.T) {
	t.Parallel()
	began := time.Now()
	cl := hosttest.Start(t, "lb1", "web1", "web2")
	lbAddr, web1 := cl.Host("lb1").Addr, cl.Host("web1").Addr
	peb := cl.StartPebble(t, lbAddr)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(peb.Root) {
		t.Fatalf("pebble's root is not PEM: %q", peb.Root)
	}

	c, path := serverProject(t, cl, "web1", "web2")
	if err := os.WriteFile(filepath.Join(c.Dir(), "main.go"), []byte(headersApp), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Deploy.LB = "lb1"
	c.Nginx.TLS.Enabled = true
	c.Nginx.TLS.ACMEServer = peb.Directory
	c.Nginx.TLS.ACMECA = peb.CAFile
	c.Nginx.TLS.Email = "ops@example.com"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	sh := func(path string, args ...string) (int, string) {
		t.Helper()
		ios, _, out, errOut := ui.Test()
		code := runRoot(t, ios, append(args, "--config", path)...)
		return code, out.String() + errOut.String()
	}

	code, out := sh(path, "deploy", "--dry-run")
	if code != 0 || !strings.Contains(out, "would get a certificate for app.test from "+peb.Directory+": certbot certonly --webroot") {
		t.Errorf("deploy --dry-run: exit %d\n%s", code, out)
	}

	// One deploy: HTTP with the challenge, certbot, HTTPS.
	code, out = sh(path, "deploy")
	if code != 0 || !strings.Contains(out, "HTTPS: lb1 got a certificate for app.test from "+peb.Directory) {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	t.Logf("deploy with a certificate from pebble (%s since the start):\n%s", time.Since(began).Round(time.Second), out)
	first := servedCert(t, lbAddr, "app.test", roots)
	if !strings.Contains(first.Issuer.CommonName, "Pebble") {
		t.Errorf("served certificate's issuer %q, want pebble's", first.Issuer)
	}
	// curl, trusting pebble's root only.
	if out, err := exec.Command("curl", "-sS", "-m", "10", "--cacert", peb.RootFile, "--resolve", "app.test:443:"+lbAddr, "https://app.test/").CombinedOutput(); err != nil {
		t.Errorf("curl --cacert pebble's root https://app.test/ through the lb: %v\n%s", err, out)
	} else {
		var hdr map[string][]string
		if err := json.Unmarshal(out, &hdr); err != nil || fmt.Sprint(hdr["X-Forwarded-Proto"]) != "[https]" {
			t.Errorf("the app sees X-Forwarded-Proto %v, want https (%s)", hdr["X-Forwarded-Proto"], out)
		}
	}
	if loc := redirectOf(t, lbAddr, "app.test"); loc != "https://app.test/x?y=1" {
		t.Errorf("http://app.test/x?y=1 through the lb redirects to %q", loc)
	}
	// Only the lb holds the certificate; the app hosts serve HTTP to it.
	for _, h := range []string{"web1", "web2"} {
		if out, _ := cl.TrySSH(h, "ls /etc/letsencrypt/live 2>&1; grep -c 'listen.*443' /etc/nginx/sites-available/myapp.conf"); !strings.Contains(out, "No such file") || !strings.HasSuffix(strings.TrimSpace(out), "0") {
			t.Errorf("%s holds a certificate or listens on 443:\n%s", h, out)
		}
	}
	if out := cl.SSH(t, "lb1", "stat -c '%a %U' /etc/letsencrypt/archive /etc/letsencrypt/live /etc/letsencrypt/accounts; ls /etc/letsencrypt/renewal-hooks/deploy; systemctl is-enabled certbot.timer"); !strings.Contains(out, "700 root\n700 root\n700 root\nstackctl-myapp\nenabled") {
		t.Errorf("lb1's certbot files:\n%s", out)
	}

	code, out = sh(path, "status")
	if code != 0 || !strings.Contains(out, "cert     app.test, expires") || !strings.Contains(out, "issuer Pebble") {
		t.Errorf("status: exit %d\n%s", code, out)
	} else {
		t.Logf("status:\n%s", out)
	}

	code, out = sh(path, "certs", "list")
	if code != 0 || !strings.HasPrefix(out, "lb1  app.test, expires") {
		t.Errorf("certs list: exit %d\n%s", code, out)
	}

	// A forced renewal under keep-alive HTTPS load: a new serial, no
	// failed request.
	load := hosttest.StartLoadHTTPS(t, lbAddr, "app.test", "/healthz", 8, roots)
	time.Sleep(500 * time.Millisecond)
	code, out = sh(path, "certs", "renew", "--force")
	if code != 0 || !strings.Contains(out, "renewed: serial") {
		t.Errorf("certs renew --force: exit %d\n%s", code, out)
	}
	var renewed *x509.Certificate
	waitFor(t, 20*time.Second, "the renewed certificate served", func() bool {
		renewed = servedCert(t, lbAddr, "app.test", roots)
		return renewed.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	time.Sleep(500 * time.Millisecond)
	load.Check(t, "certs renew --force")

	// A new name whose DNS points at another host: the deploy fails
	// naming it, and the site keeps serving HTTPS with the certificate
	// it has.
	peb.SetA(t, "new.app.test", web1)
	c.Proxy.ServerNames = append(c.Proxy.ServerNames, "new.app.test")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	code, out = sh(path, "deploy")
	if code == 0 || !strings.Contains(out, "new.app.test") || !strings.Contains(out, "DNS") || !strings.Contains(out, "keeps serving HTTPS") {
		t.Errorf("deploy with a name pointing elsewhere: exit %d\n%s", code, out)
	} else {
		t.Logf("deploy with a name pointing elsewhere: exit %d\n%s", code, out)
	}
	if now := servedCert(t, lbAddr, "app.test", roots); now.SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Errorf("the refused name changed the served certificate")
	}
	if loc := redirectOf(t, lbAddr, "app.test"); loc != "https://app.test/x?y=1" {
		t.Errorf("after the refused name, http://app.test/x?y=1 redirects to %q", loc)
	}

	// DNS fixed, the next deploy (no release change) gets a certificate
	// holding the new name.
	peb.SetA(t, "new.app.test", lbAddr)
	code, out = sh(path, "deploy")
	if code != 0 || !strings.Contains(out, "HTTPS: lb1 got a certificate for app.test, new.app.test") {
		t.Errorf("deploy once DNS points at the lb: exit %d\n%s", code, out)
	}
	if cert := servedCert(t, lbAddr, "new.app.test", roots); len(cert.DNSNames) != 2 {
		t.Errorf("the lb serves %v for new.app.test", cert.DNSNames)
	}

	// One host, no lb: a second app on web1 gets its own certificate.
	peb.SetA(t, "solo.test", web1)
	solo := soloProject(t, cl, peb)
	code, out = sh(solo, "deploy")
	if code != 0 || !strings.Contains(out, "HTTPS: web1 got a certificate for solo.test") {
		t.Fatalf("deploy of solo to web1: exit %d\n%s", code, out)
	}
	if cert := servedCert(t, web1, "solo.test", roots); cert.DNSNames[0] != "solo.test" {
		t.Errorf("web1 serves %v for solo.test", cert.DNSNames)
	}
	if loc := redirectOf(t, web1, "solo.test"); loc != "https://solo.test/x?y=1" {
		t.Errorf("http://solo.test/x?y=1 on web1 redirects to %q", loc)
	}
	code, out = sh(solo, "doctor", "--host", "web1")
	if !strings.Contains(out, "TLS certificate") || !strings.Contains(out, "solo.test: expires") {
		t.Errorf("doctor --host web1: exit %d\n%s", code, out)
	}
	t.Logf("whole test: %s", time.Since(began).Round(time.Second))
}

// soloProject is a second app ("solo", solo.test, port 5300) deployed to
// web1 alone, with HTTPS from the cluster's pebble.
func soloProject(t *testing.T, cl *hosttest.Cluster, peb *hosttest.Pebble) string {
	t.Helper()
	dir := nginxtest.TempDir(t)
	o := scaffold.Defaults("solo")
	o.Dir = dir
	o.Domain = "solo.test"
	if _, err := scaffold.Create(o); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(dir, "solo")
	cfg, err := os.ReadFile(cl.SSHConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "ssh_config"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "main.go"), []byte(headersApp), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(proj, stack.FileName)
	c, err := stack.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.App.Port = 5300
	c.Deploy.Hosts = []string{"web1"}
	c.Deploy.SSHConfig = "ssh_config"
	c.Nginx.TLS.Enabled = true
	c.Nginx.TLS.ACMEServer = peb.Directory
	c.Nginx.TLS.ACMECA = peb.CAFile
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// servedCert is the certificate addr:443 serves for name, checked
// against roots on a new connection.
func servedCert(t *testing.T, addr, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(addr, "443"), &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		t.Fatalf("TLS to %s for %s: %v", addr, name, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// redirectOf is where http://name/x?y=1 on addr redirects (301).
func redirectOf(t *testing.T, addr, name string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/x?y=1", nil)
	req.Host = name
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET http://%s/x?y=1 on %s: %v", name, addr, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently {
		return resp.Status
	}
	return resp.Header.Get("Location")
}
