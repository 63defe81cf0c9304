package deploy

import (
	"fmt"
	"os"
	"strings"

	"github.com/stackctl/stackctl/internal/ui"
)

// planTLS decides whether this run deploys HTTPS. With TLS enabled and no
// certificate yet, it deploys HTTP (certbot's challenge needs it) and
// returns the certbot command that gets the certificate.
func (r *run) planTLS() (bool, []string, error) {
	c := r.c
	if !c.Nginx.TLS.Enabled {
		return false, nil, nil
	}
	var wild []string
	for _, n := range c.Proxy.ServerNames {
		if strings.HasPrefix(n, "*.") {
			wild = append(wild, n)
		}
	}
	if len(wild) > 0 && (c.Nginx.TLS.Cert == "" || c.Nginx.TLS.Key == "") {
		return false, nil, &ui.UsageError{Err: ui.Errorf(
			"pass --cert and --key (nginx.tls.cert, nginx.tls.key) with a certificate you got another way, e.g. certbot's DNS challenge",
			"TLS for %s needs your own certificate: certbot's webroot challenge cannot issue wildcard certificates", strings.Join(wild, ", "))}
	}
	if r.certExists() {
		return true, nil, nil
	}
	if c.Nginx.TLS.Cert != "" {
		return false, nil, ui.Errorf("check nginx.tls.cert and nginx.tls.key (--cert/--key)", "TLS is on but the certificate %s or its key %s does not exist", r.j(c.CertPath()), r.j(c.KeyPath()))
	}
	argv := []string{"certbot", "certonly", "--webroot", "-w", r.j(c.Nginx.TLS.ACMEWebroot)}
	for _, n := range c.Proxy.ServerNames {
		argv = append(argv, "-d", n)
	}
	r.say("%s", r.p.Yellow(fmt.Sprintf("TLS is disabled for this run: there is no certificate at %s yet. Deploying the HTTP site first, so certbot's challenge (served from %s) can succeed.", r.j(c.CertPath()), r.j(c.Nginx.TLS.ACMEWebroot))))
	return false, argv, nil
}

func (r *run) certExists() bool {
	_, e1 := os.Stat(r.j(r.c.CertPath()))
	_, e2 := os.Stat(r.j(r.c.KeyPath()))
	return e1 == nil && e2 == nil
}
