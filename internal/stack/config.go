// Package stack is the one model of a stackctl project: the stack.toml file.
//
// Every command reads a project through this package and nothing else parses
// the file. A Config is loaded (Load, Parse), completed with defaults and
// validated; the nginx renderer and the embedded proxy both take the same
// validated Config, which is what makes them two renderings of one site.
package stack

// FileName is the name of the project file that commands look for.
const FileName = "stack.toml"

// Config is a whole stack.toml: the app, the site both fronts serve, the
// upstreams they forward to, and the local (serve) and production (nginx,
// deploy) settings.
type Config struct {
	// Name is the project name: a lower-case module element such as "myapp".
	Name     string   `toml:"name"`
	App      App      `toml:"app"`
	Proxy    Proxy    `toml:"proxy"`
	Upstream Upstream `toml:"upstream"`
	Serve    Serve    `toml:"serve"`
	Nginx    Nginx    `toml:"nginx"`
	Deploy   Deploy   `toml:"deploy"`
	// Processes run beside the web app (workers), by name: serve runs
	// them, deploy makes each a systemd template unit.
	Processes map[string]Process `toml:"processes"`
	// Schedules are commands run on a calendar: systemd timers on servers.
	Schedules []Schedule `toml:"schedules"`
	// Services are PostgreSQL and Redis beside the app, on servers.
	Services Services `toml:"services"`

	// Path is the file the Config was loaded from; empty when it was built in
	// memory. Relative paths in the Config (app.watch, proxy.static.dir) are
	// relative to the folder that holds it (see Dir).
	Path string `toml:"-"`
}

// App is how the application is built and run.
type App struct {
	// Template is the kind of app: "go", "flask" or "django" (django:
	// written by `stackctl init` only).
	Template string `toml:"template"`
	// Build is run before each (re)start by serve; empty for none.
	Build string `toml:"build"`
	// Command starts one copy of the app. $PORT and $HOST are expanded.
	Command string `toml:"command"`
	// WSGI is what gunicorn serves in production for a Python app:
	// "module:variable" or "module:factory()". Empty for Go.
	WSGI string `toml:"wsgi"`
	// Port is the app's port; replica i listens on Port+i.
	Port int `toml:"port"`
	// Health is the path answered with a 2xx or 3xx status once the app is
	// ready (serve's readiness, deploy's health check).
	Health string `toml:"health"`
	// Watch lists the paths serve watches for live reload.
	Watch []string `toml:"watch"`
	// Ignore lists glob patterns of files whose changes never reload.
	Ignore []string `toml:"ignore"`
	// Replicas is how many copies serve runs.
	Replicas int `toml:"replicas"`
	// Env is extra environment for the app, under serve and in the deploy unit.
	Env map[string]string `toml:"env"`
	// Data lists project paths the app writes (Flask's "instance", Django's
	// "media", "db.sqlite3"): on servers each is, in every release, a link
	// into the data folder /var/lib/<deploy.service>/ that survives
	// releases. They never ship; serve leaves them as they are.
	Data []string `toml:"data"`
}

// Proxy is the site: what nginx and the embedded proxy both do.
type Proxy struct {
	// ServerNames are the host names of the site (nginx server_name).
	ServerNames []string `toml:"server_names"`
	// ClientMaxBodySize is the largest request body accepted ("1m"; "0" for no limit).
	ClientMaxBodySize Size `toml:"client_max_body_size"`
	// ConnectTimeout is nginx's proxy_connect_timeout.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// ReadTimeout is nginx's proxy_read_timeout.
	ReadTimeout Duration `toml:"read_timeout"`
	// SendTimeout is nginx's proxy_send_timeout.
	SendTimeout Duration `toml:"send_timeout"`
	// WebSocket passes Upgrade requests through to the app.
	WebSocket bool `toml:"websocket"`
	// Gzip compresses text responses.
	Gzip bool `toml:"gzip"`
	// Redirect is "none", "www-to-apex" or "apex-to-www".
	Redirect string `toml:"redirect"`
	// SecurityHeaders adds nginxconfig.io's default security headers.
	SecurityHeaders bool `toml:"security_headers"`
	// Static lists folders served by the front itself, not by the app.
	Static []Static `toml:"static"`
}

// Static is one folder served directly by the front (nginx alias).
type Static struct {
	// URL is the location prefix, starting and ending with "/" ("/static/").
	URL string `toml:"url"`
	// Dir is the folder, relative to the project (nginx: under nginx.app_dir).
	Dir string `toml:"dir"`
	// Expires sets Cache-Control/Expires like nginx's expires; empty for none.
	Expires Duration `toml:"expires"`
}

// Upstream is who the fronts forward to.
type Upstream struct {
	// Servers are "host:port" or "unix:/path"; empty means the app itself.
	Servers []string `toml:"servers"`
	// Balance is "round_robin", "least_conn" or "ip_hash".
	Balance string `toml:"balance"`
	// MaxFails is nginx's max_fails: failures before a server is skipped.
	MaxFails int `toml:"max_fails"`
	// FailTimeout is nginx's fail_timeout: how long a failed server is skipped.
	FailTimeout Duration `toml:"fail_timeout"`
	// Keepalive is the number of idle upstream connections kept open.
	Keepalive int `toml:"keepalive"`
}

// Serve holds settings that only the local `stackctl serve` uses.
type Serve struct {
	// Listen is where the embedded proxy listens: an address or a port.
	Listen string `toml:"listen"`
}

// Nginx holds settings that only production nginx uses.
type Nginx struct {
	// Listen is nginx's listen: an address or a port.
	Listen string `toml:"listen"`
	// AppDir is where deploy installs the app; static aliases point under it.
	AppDir string `toml:"app_dir"`
	// AccessLog is the site's access log path, or "off".
	AccessLog string `toml:"access_log"`
	// ErrorLog is the site's error log path.
	ErrorLog string `toml:"error_log"`
	TLS      TLS    `toml:"tls"`
}

// TLS is the site's HTTPS setup.
type TLS struct {
	// Enabled turns on the HTTPS server and the HTTP-to-HTTPS redirect.
	Enabled bool `toml:"enabled"`
	// Cert is the certificate chain; empty for Let's Encrypt's live path.
	Cert string `toml:"cert"`
	// Key is the private key; empty for Let's Encrypt's live path.
	Key string `toml:"key"`
	// HSTS adds Strict-Transport-Security.
	HSTS bool `toml:"hsts"`
	// HSTSPreload adds `preload` to Strict-Transport-Security: a request to
	// be put on browsers' preload list, which is hard to undo.
	HSTSPreload bool `toml:"hsts_preload"`
	// ACMEWebroot is served at /.well-known/acme-challenge/ for certbot.
	ACMEWebroot string `toml:"acme_webroot"`
	// ACMEServer is the ACME directory URL deploy asks for the certificate
	// when Cert is empty (default: Let's Encrypt's production directory).
	ACMEServer string `toml:"acme_server"`
	// ACMECA is a CA file on the machine that deploys, copied to the TLS
	// host for certbot to trust the ACME server's HTTPS with: a private or
	// test ACME server. Relative paths are from stack.toml's folder.
	ACMECA string `toml:"acme_ca"`
	// Email is the ACME account's contact; empty registers without one.
	Email string `toml:"email"`
	// Challenge is the ACME challenge type: "http-01" (certbot's webroot
	// through nginx). "dns-01" is not supported yet.
	Challenge string `toml:"challenge"`
}

// Deploy holds settings of `stackctl deploy`.
type Deploy struct {
	// User is the unprivileged user the service runs as.
	User string `toml:"user"`
	// Service is the systemd unit name (without ".service").
	Service string `toml:"service"`
	// SitesDir is where the nginx site goes; empty to find it from nginx.
	SitesDir string `toml:"sites_dir"`
	// Hosts are the SSH destinations deploy installs on ([user@]host[:port]
	// or a Host alias of the SSH config); empty means this machine.
	Hosts []string `toml:"hosts"`
	// SSHConfig is the ssh_config file used to reach the hosts; empty means
	// ~/.ssh/config.
	SSHConfig string `toml:"ssh_config"`
	// KeepReleases is how many releases each host keeps; the current and
	// the previous one are never pruned.
	KeepReleases int `toml:"keep_releases"`
	// LB is the SSH destination of a load-balancer host that runs only
	// nginx in front of Hosts; empty for none.
	LB string `toml:"lb"`
	// PrivateAddresses maps a host (as written in Hosts) to the address the
	// lb reaches it at; a host not listed is reached at the address its SSH
	// connection reached.
	PrivateAddresses map[string]string `toml:"private_addresses"`
	// Batch is how many hosts switch at once during a rolling deploy.
	Batch int `toml:"batch"`
	// ReleaseCommand runs once per deploy in the new release, as User with
	// the app's environment, before the release takes traffic.
	ReleaseCommand string `toml:"release_command"`
	// HealthTimeout is how long a new release's slot has to answer
	// app.health with 2xx/3xx before the release is refused (an nginx-style
	// time, "60s", "2m").
	HealthTimeout Duration `toml:"health_timeout"`
}
