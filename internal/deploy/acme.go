package deploy

import (
	"bytes"
	"fmt"
	"regexp"

	"github.com/stackctl/stackctl/internal/stack"
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
