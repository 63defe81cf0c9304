package stack

import (
	"path/filepath"
	"strconv"
)

// Templates lists the app templates stackctl can scaffold and run.
var Templates = []string{"go", "flask"}

// AdoptedTemplates lists the kinds of app stackctl runs and deploys but
// never scaffolds: `stackctl init` writes them for existing projects.
var AdoptedTemplates = []string{"django"}

// IsPython reports whether a template's app is a Python WSGI app, run by
// gunicorn on app.wsgi in production.
func IsPython(template string) bool { return template == "flask" || template == "django" }

// GzipTypes are the response types both fronts compress when proxy.gzip is
// on, besides text/html, which nginx always compresses: nginx's gzip_types
// and the embedded proxy's list are this one list.
var GzipTypes = []string{
	"text/plain",
	"text/css",
	"text/xml",
	"text/javascript",
	"application/javascript",
	"application/json",
	"application/xml",
	"application/rss+xml",
	"application/atom+xml",
	"image/svg+xml",
}

// Balance policies accepted in upstream.balance.
const (
	BalanceRoundRobin = "round_robin"
	BalanceLeastConn  = "least_conn"
	BalanceIPHash     = "ip_hash"
)

// Redirect modes accepted in proxy.redirect.
const (
	RedirectNone      = "none"
	RedirectWWWToApex = "www-to-apex"
	RedirectApexToWWW = "apex-to-www"
)

// Default values that do not depend on the project.
const (
	DefaultPort        = 5000
	DefaultDomain      = "example.com"
	DefaultServeListen = "127.0.0.1:8080"
	DefaultNginxListen = "80"
	DefaultHealth      = "/healthz"
	// DefaultKeepReleases is deploy.keep_releases when unset.
	DefaultKeepReleases = 5
	// DefaultHealthTimeout is deploy.health_timeout when unset.
	DefaultHealthTimeout Duration = "60s"
)

// Default returns the Config of a new project called name using the given
// template ("go" or "flask"). Every field has its default value.
func Default(name, template string) *Config {
	c := base()
	c.Name = name
	c.App.Template = template
	c.fillDefaults(nil)
	return c
}

// base returns a Config holding the defaults that do not depend on the name
// or template, used as the starting point for decoding a file so that keys
// absent from the file keep their defaults (true booleans included).
func base() *Config {
	return &Config{
		App: App{
			Port:     DefaultPort,
			Health:   DefaultHealth,
			Watch:    []string{"."},
			Replicas: 1,
		},
		Proxy: Proxy{
			ServerNames:       []string{DefaultDomain},
			ClientMaxBodySize: "1m",
			ConnectTimeout:    "5s",
			ReadTimeout:       "60s",
			SendTimeout:       "60s",
			WebSocket:         true,
			Gzip:              true,
			Redirect:          RedirectNone,
			SecurityHeaders:   true,
		},
		Upstream: Upstream{
			Balance:     BalanceRoundRobin,
			MaxFails:    1,
			FailTimeout: "10s",
			Keepalive:   16,
		},
		Serve:    Serve{Listen: DefaultServeListen},
		Services: Services{Backups: DefaultBackups},
		Nginx: Nginx{
			Listen: DefaultNginxListen,
			TLS:    TLS{HSTS: true, ACMEWebroot: "/var/www/letsencrypt", ACMEServer: DefaultACMEServer, Challenge: ChallengeHTTP01},
		},
	}
}

// fillDefaults sets every field that is still empty to its default. defined
// reports whether a key was present in the file (nil: nothing was).
func (c *Config) fillDefaults(defined func(key ...string) bool) {
	if defined == nil {
		defined = func(...string) bool { return false }
	}
	if c.App.Template == "" {
		c.App.Template = "go"
	}
	if !defined("app", "build") && c.App.Build == "" {
		c.App.Build = DefaultBuild(c.App.Template)
	}
	if c.App.Command == "" {
		c.App.Command = DefaultCommand(c.App.Template)
	}
	if c.App.WSGI == "" {
		c.App.WSGI = DefaultWSGI(c.App.Template)
	}
	if IsPython(c.App.Template) && !defined("app", "ignore") && len(c.App.Ignore) == 0 {
		c.App.Ignore = []string{"*.pyc", "__pycache__", "*.log"}
	}
	if c.App.Template == "go" && !defined("app", "ignore") && len(c.App.Ignore) == 0 {
		c.App.Ignore = []string{"*.log"}
	}
	if c.Nginx.AppDir == "" {
		c.Nginx.AppDir = "/srv/" + c.Name
	}
	if c.Nginx.AccessLog == "" {
		c.Nginx.AccessLog = "/var/log/nginx/" + c.Name + ".access.log"
	}
	if c.Nginx.ErrorLog == "" {
		c.Nginx.ErrorLog = "/var/log/nginx/" + c.Name + ".error.log"
	}
	if c.Nginx.TLS.ACMEServer == "" {
		c.Nginx.TLS.ACMEServer = DefaultACMEServer
	}
	if c.Nginx.TLS.Challenge == "" {
		c.Nginx.TLS.Challenge = ChallengeHTTP01
	}
	if c.Deploy.User == "" {
		c.Deploy.User = c.Name
	}
	if c.Deploy.Service == "" {
		c.Deploy.Service = c.Name
	}
	if c.Deploy.Batch == 0 {
		c.Deploy.Batch = 1
	}
	if !defined("deploy", "keep_releases") && c.Deploy.KeepReleases == 0 {
		c.Deploy.KeepReleases = DefaultKeepReleases
	}
	if c.Deploy.HealthTimeout == "" {
		c.Deploy.HealthTimeout = DefaultHealthTimeout
	}
	if !defined("services", "backups") && c.Services.Backups == 0 {
		c.Services.Backups = DefaultBackups
	}
	for i := range c.Schedules {
		if c.Schedules[i].Hosts == "" {
			c.Schedules[i].Hosts = "one"
		}
	}
}

// DefaultBuild is app.build for a template: the Go app is compiled to a
// binary under .stackctl/ so restarts are fast; Flask needs no build.
func DefaultBuild(template string) string {
	if template == "go" {
		return "go build -o .stackctl/app ."
	}
	return ""
}

// DefaultCommand is app.command for a template. $PORT and $HOST are expanded
// by serve and deploy; for Flask, serve runs the development server in debug
// mode with its own reloader off (serve does the reloading). --debug comes
// before "run": Debian 12's Flask 2.2 has it only there ("flask run --debug"
// is Flask 2.3's), and every later Flask still accepts it there.
func DefaultCommand(template string) string {
	switch template {
	case "flask":
		return "python3 -m flask --app app --debug run --no-reload --host $HOST --port $PORT"
	case "django":
		// Django's autoreloader would fight serve's, as Flask's would.
		return "python3 manage.py runserver 127.0.0.1:$PORT --noreload"
	}
	return ".stackctl/app"
}

// DefaultWSGI is app.wsgi for a template: the scaffolded Flask app's
// wsgi.py; none for Go. A Django project's is its WSGI_APPLICATION
// ("mysite.wsgi:application"), which `stackctl init` reads from settings.
func DefaultWSGI(template string) string {
	if template == "flask" {
		return "wsgi:app"
	}
	return ""
}

// Dir is the project folder: the folder holding the stack.toml, or "." for a
// Config built in memory.
func (c *Config) Dir() string {
	if c.Path == "" {
		return "."
	}
	return filepath.Dir(c.Path)
}

// AppUpstreams returns the upstream servers serve forwards to: upstream.servers
// when set, else one 127.0.0.1:<port+i> per replica.
func (c *Config) AppUpstreams() []string {
	if len(c.Upstream.Servers) > 0 {
		return append([]string(nil), c.Upstream.Servers...)
	}
	n := max(c.App.Replicas, 1)
	out := make([]string, n)
	for i := range n {
		out[i] = "127.0.0.1:" + strconv.Itoa(c.App.Port+i)
	}
	return out
}

// NginxUpstreams returns the servers of the nginx upstream block:
// upstream.servers when set, else the app's port on 127.0.0.1 (the deployed
// service runs one copy).
func (c *Config) NginxUpstreams() []string {
	if len(c.Upstream.Servers) > 0 {
		return append([]string(nil), c.Upstream.Servers...)
	}
	return []string{"127.0.0.1:" + strconv.Itoa(c.App.Port)}
}

// DefaultACMEServer is Let's Encrypt's production ACME directory.
const DefaultACMEServer = "https://acme-v02.api.letsencrypt.org/directory"

// The ACME challenge types of nginx.tls.challenge.
const (
	ChallengeHTTP01 = "http-01"
	ChallengeDNS01  = "dns-01"
)

// UsesACME reports whether deploy obtains the site's certificate from
// nginx.tls.acme_server: TLS is on and no certificate of one's own is set.
func (c *Config) UsesACME() bool { return c.Nginx.TLS.Enabled && c.Nginx.TLS.Cert == "" }

// ACMECAPath is nginx.tls.acme_ca as a path on this machine (relative to
// stack.toml's folder); "" when unset.
func (c *Config) ACMECAPath() string {
	p := c.Nginx.TLS.ACMECA
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir(), p)
}

// CertName is the name of the certificate certbot keeps for the site
// (/etc/letsencrypt/live/<name>): the first server name.
func (c *Config) CertName() string { return c.certName() }

// CertPath returns the TLS certificate path: nginx.tls.cert, or Let's
// Encrypt's live path for the first server name.
func (c *Config) CertPath() string {
	if c.Nginx.TLS.Cert != "" {
		return c.Nginx.TLS.Cert
	}
	return "/etc/letsencrypt/live/" + c.certName() + "/fullchain.pem"
}

// KeyPath returns the TLS key path: nginx.tls.key, or Let's Encrypt's live path.
func (c *Config) KeyPath() string {
	if c.Nginx.TLS.Key != "" {
		return c.Nginx.TLS.Key
	}
	return "/etc/letsencrypt/live/" + c.certName() + "/privkey.pem"
}

func (c *Config) certName() string {
	if len(c.Proxy.ServerNames) == 0 {
		return c.Name
	}
	return c.Proxy.ServerNames[0]
}
