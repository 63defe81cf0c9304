package deploy

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

var serverNameLineRE = regexp.MustCompile(`(?m)^([ \t]+)server_name [^;\n]*;[ \t]*\n`)

// withACMEChallenge adds certbot's webroot challenge location to each server
// block of an HTTP-only site, for the deploy that runs before a certificate
// exists: the site renderer serves the challenge only when TLS is on. The
// location goes right after server_name; in a block that redirects at
// server level the redirect still wins, and certbot follows it to the
// canonical name, which serves the file.
func withACMEChallenge(site []byte, webroot string) ([]byte, error) {
	// The webroot reaches the config text: it must be a path nginx cannot
	// read as anything else (no spaces, quotes, ';', braces, '$' or '#').
	if err := stack.ValidateAbsPath(webroot); err != nil {
		return nil, fmt.Errorf("nginx.tls.acme_webroot: %w", err)
	}
	if !serverNameLineRE.Match(site) {
		return nil, fmt.Errorf("the rendered site has no server_name line to add certbot's challenge location to")
	}
	return serverNameLineRE.ReplaceAllFunc(site, func(line []byte) []byte {
		ind := serverNameLineRE.FindSubmatch(line)[1]
		var b bytes.Buffer
		b.Write(line)
		fmt.Fprintf(&b, "\n%s# certbot's webroot challenge, until the certificate exists (stackctl deploy).\n", ind)
		fmt.Fprintf(&b, "%slocation ^~ /.well-known/acme-challenge/ {\n%s%sroot %s;\n%s%sdefault_type text/plain;\n%s}\n", ind, ind, ind, webroot, ind, ind, ind)
		return b.Bytes()
	}), nil
}

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
