package deploy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

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

// checkHealth asks nginx for the app's health path until it answers 2xx or
// 3xx (not followed) or the timeout passes; it returns the last problem seen.
func checkHealth(ctx context.Context, t HealthTarget, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{
		Transport: &http.Transport{
			// The check is about the app behind nginx, not the certificate,
			// which may be a fresh one for a name that does not resolve here.
			TLSClientConfig:   &tls.Config{ServerName: t.Host, InsecureSkipVerify: true}, //nolint:gosec
			DisableKeepAlives: true,
			Proxy:             nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       2 * time.Second,
	}
	var last error
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
		if err != nil {
			return err
		}
		req.Host = t.Host
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if HealthyStatus(resp.StatusCode) {
				return nil
			}
			last = fmt.Errorf("GET %s (Host: %s) answered %s%s", t.URL, t.Host, resp.Status, bodyHint(resp.Header.Get("Content-Type"), body))
		} else if ctx.Err() == nil || last == nil {
			// A request cut short by the deadline says less than the
			// answer before it.
			last = fmt.Errorf("GET %s (Host: %s): %v", t.URL, t.Host, err)
		}
		select {
		case <-ctx.Done():
			return last
		case <-tick.C:
		}
	}
}

// bodyHint is the first line of a plain-text answer, which often says what
// is wrong; an HTML error page says nothing the status does not.
func bodyHint(contentType string, body []byte) string {
	if !strings.HasPrefix(contentType, "text/plain") {
		return ""
	}
	if line := strings.TrimSpace(firstLine(string(body))); line != "" {
		return ": " + line
	}
	return ""
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
