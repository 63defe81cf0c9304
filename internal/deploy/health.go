package deploy

import (
	"net"
	"strconv"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
)

// HealthTarget is where the health check sends its request: nginx's
// address, the site's Host header and the app's health path.
type HealthTarget struct {
	URL  string
	Host string
}

// healthTarget builds the request that checks the deployed app through
// nginx: nginx.listen (a wildcard address becomes loopback), the first
// server name as Host, app.health as the path; HTTPS on httpsPort (0: 443)
// when TLS is on.
func healthTarget(c *stack.Config, tlsOn bool, httpsPort int) (HealthTarget, error) {
	l, err := stack.ParseListen(c.Nginx.Listen)
	if err != nil {
		return HealthTarget{}, err
	}
	host := l.Host
	switch host {
	case "", "0.0.0.0", "*":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme, port := "http", l.Port
	if tlsOn {
		scheme, port = "https", 443
		if httpsPort != 0 {
			port = httpsPort
		}
	}
	name := servedName(c)
	return HealthTarget{
		URL:  scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + c.App.Health,
		Host: name,
	}, nil
}

// servedName is a host name the site answers itself rather than
// redirecting: the first server name, moved to its canonical form by
// proxy.redirect, with a wildcard's "*" replaced by "www".
func servedName(c *stack.Config) string {
	name := c.Proxy.ServerNames[0]
	switch {
	case strings.HasPrefix(name, "*."):
		return "www" + name[1:]
	case c.Proxy.Redirect == stack.RedirectWWWToApex:
		return strings.TrimPrefix(name, "www.")
	case c.Proxy.Redirect == stack.RedirectApexToWWW && !strings.HasPrefix(name, "www."):
		return "www." + name
	}
	return name
}

// HealthyStatus tells whether an answer to the health check means the app
// is up: any 2xx or 3xx, not followed (DEPLOY.md "Health as the site sees
// it": a Django site's "/" often redirects to its login page).
func HealthyStatus(code int) bool { return code >= 200 && code < 400 }
