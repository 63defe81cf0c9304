package proxy

import (
	"strconv"
	"strings"
)

// redirectTarget returns where proxy.redirect sends the request, or "":
// www-to-apex answers "www.<name>" with a 301 to "<name>", apex-to-www the
// reverse, for the names in proxy.server_names (gen-nginx's extra server
// block, whose target carries nginx.listen's port unless it is 80: here
// port is the proxy's own, ":8080" or ""). With TLS the block's target is
// https (scheme). Other hosts are served.
func redirectTarget(r *request, s *settings, scheme, port string) string {
	if s.redirect == "" || s.redirect == "none" || len(r.host) == 0 {
		return ""
	}
	host := string(r.host)
	for _, n := range s.serverNames {
		n = strings.ToLower(n)
		switch s.redirect {
		case "www-to-apex":
			if !strings.HasPrefix(n, "www.") && host == "www."+n {
				return scheme + "://" + n + port + string(r.uri)
			}
		case "apex-to-www":
			if !strings.HasPrefix(n, "www.") && host == n {
				return scheme + "://www." + n + port + string(r.uri)
			}
		}
	}
	return ""
}

// plainHTTPMaxBody is the client_max_body_size of the TLS site's plain
// HTTP server block, which sets none: nginx's default, 1m.
const plainHTTPMaxBody = 1 << 20

// redirectToHTTPS answers a plain HTTP request on ServeTLS's port as the
// TLS site's port-80 server block does:
//
//	location / { return 301 https://$host<port>$request_uri; }
//
// where <port> is the HTTPS port unless 443. That block has no security
// headers and no HSTS (a browser ignores HSTS over plain HTTP), and
// nginx's default client_max_body_size.
func (c *conn) redirectToHTTPS(r *request, s *settings, keep bool) bool {
	if r.contentLength > plainHTTPMaxBody {
		return c.writePage(r, pageResponse{status: 413, flushAlways: true,
			body: errorPage(413, "the request body is "+strconv.FormatInt(r.contentLength, 10)+
				" bytes, more than the plain HTTP site's client_max_body_size (1m)", c.p.opts.ErrorHints, c.private())}, false)
	}
	loc := "https://" + string(r.host) + c.portSuffix() + string(r.uri)
	return c.writePage(r, pageResponse{status: 301, body: redirectPage, location: loc}, keep && !hasBody(r))
}
