package stack

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// full returns a Config with every field set away from its default.
func full() *Config {
	return &Config{
		Name: "shop",
		App: App{
			Template: "flask", Build: "make", Command: "gunicorn -b 127.0.0.1:$PORT app:app", WSGI: "app:create_app()", Port: 6000,
			Health: "/up", Watch: []string{".", "src"}, Ignore: []string{"*.tmp"}, Replicas: 3,
			Env: map[string]string{"GREETING": `say "hi" \ there`, "B": "2"},
		},
		Proxy: Proxy{
			ServerNames: []string{"shop.example.org", "*.shop.example.org"}, ClientMaxBodySize: "10m",
			ConnectTimeout: "2s", ReadTimeout: "1m", SendTimeout: "90s", WebSocket: false, Gzip: false,
			Redirect: RedirectWWWToApex, SecurityHeaders: false,
			Static: []Static{{URL: "/static/", Dir: "static", Expires: "30d"}, {URL: "/media/", Dir: "var/media"}},
		},
		Upstream: Upstream{Servers: []string{"127.0.0.1:7000", "[::1]:7001", "unix:/run/shop.sock"}, Balance: BalanceLeastConn,
			MaxFails: 3, FailTimeout: "30s", Keepalive: 0},
		Serve: Serve{Listen: "0.0.0.0:9000"},
		Nginx: Nginx{Listen: "127.0.0.1:8081", AppDir: "/opt/shop", AccessLog: "off", ErrorLog: "/var/log/shop.err",
			TLS: TLS{Enabled: true, Cert: "/etc/ssl/shop.pem", Key: "/etc/ssl/shop.key", HSTS: false, ACMEWebroot: "/var/www/acme",
				ACMEServer: "https://acme.internal.example/directory", ACMECA: "deploy/acme-ca.pem", Email: "ops@shop.example.org", Challenge: ChallengeHTTP01}},
		Deploy: Deploy{User: "shopper", Service: "shop-web", SitesDir: "/etc/nginx/conf.d", Hosts: []string{"web1", "deploy@203.0.113.10:2222"}, SSHConfig: "deploy/ssh_config", KeepReleases: 7, LB: "lb1", Batch: 2, PrivateAddresses: map[string]string{"web1": "10.0.0.11"}, ReleaseCommand: "flask db upgrade", HealthTimeout: "2m"},
		Processes: map[string]Process{
			"worker": {Command: "celery -A shop worker -l info", Count: 1, StopTimeout: DefaultStopTimeout},
			"mailer": {Command: `python -m mailer --from "shop"`, Count: 2, StopTimeout: "60s"},
		},
		Services: Services{Postgres: Service{Enabled: true, Host: "web1", Version: "15"}, Redis: Service{Enabled: true}, Backups: 3},
		Schedules: []Schedule{
			{Name: "cleanup", Command: "flask --app shop cleanup", On: "hourly", Hosts: "one"},
			{Name: "report", Command: "flask --app shop report", On: "Mon..Fri 04:00", Hosts: "all"},
		},
	}
}

// nilEmpty returns a copy of c with empty slices and maps set to nil: a
// file cannot tell them apart ("servers = []"), and neither can any reader.
func nilEmpty(c *Config) *Config {
	cp := *c
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			if v.Len() == 0 {
				v.Set(reflect.Zero(v.Type()))
				return
			}
			// Copy before touching elements so c itself is unchanged.
			n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(n, v)
			v.Set(n)
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			if v.Len() == 0 {
				v.Set(reflect.Zero(v.Type()))
			}
		}
	}
	walk(reflect.ValueOf(&cp).Elem())
	return &cp
}

// django is a Config as `stackctl init` writes it for a Django project.
func django() *Config {
	c := Default("mysite", "django")
	c.App.WSGI = "mysite.wsgi:application"
	c.App.Command = ".venv/bin/python manage.py runserver 127.0.0.1:$PORT --noreload"
	c.Proxy.Static = []Static{{URL: "/static/", Dir: "staticfiles", Expires: "30d"}}
	return c
}

func TestRoundTrip(t *testing.T) {
	for name, c := range map[string]*Config{"full": full(), "default go": Default("x", "go"), "default flask": Default("y", "flask"), "django": django()} {
		t.Run(name, func(t *testing.T) {
			if err := c.Validate(); err != nil {
				t.Fatalf("the test's Config is invalid: %v", err)
			}
			data, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(data, "stack.toml")
			if err != nil {
				t.Fatalf("Parse(Encode()) = %v\n%s", err, data)
			}
			if !reflect.DeepEqual(nilEmpty(got), nilEmpty(c)) {
				t.Errorf("Parse(Encode(c)) != c\n got %+v\nwant %+v\n%s", got, c, data)
			}
		})
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	c := full()
	if err := c.Save(p); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != p || got.Dir() != dir {
		t.Errorf("Path %q Dir %q", got.Path, got.Dir())
	}
	got.Path = ""
	if !reflect.DeepEqual(nilEmpty(got), nilEmpty(c)) {
		t.Errorf("Load(Save(c)) != c")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("Save left %d files, want only stack.toml", len(entries))
	}

	bad := full()
	bad.App.Port = 0
	if err := bad.Save(p); err == nil {
		t.Fatal("Save of an invalid Config succeeded")
	}
	if again, err := Load(p); err != nil || again.App.Port != 6000 {
		t.Errorf("a failed Save changed the file: %v", err)
	}
}

func TestEncodeHasComments(t *testing.T) {
	data, err := Default("x", "go").Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"port     = 5000  # the app's port", "[serve]  # local only", "listen = \"127.0.0.1:8080\""} {
		if !strings.Contains(string(data), want) {
			t.Errorf("encoded file lacks %q:\n%s", want, data)
		}
	}
}

func TestMinimalFileDefaults(t *testing.T) {
	c, err := Parse([]byte(`name = "x"`), "stack.toml")
	if err != nil {
		t.Fatal(err)
	}
	if want := Default("x", "go"); !reflect.DeepEqual(nilEmpty(c), nilEmpty(want)) {
		t.Errorf("minimal file:\n got %+v\nwant %+v", c, want)
	}
	c, err = Parse([]byte("name = \"x\"\n[app]\ntemplate = \"flask\"\n"), "stack.toml")
	if err != nil {
		t.Fatal(err)
	}
	if want := Default("x", "flask"); !reflect.DeepEqual(nilEmpty(c), nilEmpty(want)) {
		t.Errorf("minimal flask file:\n got %+v\nwant %+v", c, want)
	}
	// Explicit false and empty values are kept, not replaced by defaults.
	c, err = Parse([]byte("name = \"x\"\n[app]\nbuild = \"\"\nignore = []\n[proxy]\ngzip = false\nwebsocket = false\n"), "stack.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Proxy.Gzip || c.Proxy.WebSocket || c.App.Build != "" || len(c.App.Ignore) != 0 || !c.Proxy.SecurityHeaders {
		t.Errorf("explicit values lost: %+v", c)
	}
	if c.Deploy.User != "x" || c.Nginx.AppDir != "/srv/x" || c.Nginx.AccessLog != "/var/log/nginx/x.access.log" {
		t.Errorf("name-derived defaults: %+v", c)
	}
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{`name = "My App"`, `stack.toml:1: name: "My App" must start with a lower-case letter and hold only a-z, 0-9 and '-'`},
		{"name = \"x\"\n[app]\ntemplate = \"rails\"", `stack.toml:3: app.template: "rails" is not a template (go, flask, django)`},
		{"name = \"x\"\n[app]\ntemplate = \"django\"", `stack.toml:2: app.wsgi: "" is not a WSGI app for gunicorn`},
		{"name = \"x\"\n[app]\ntemplate = \"flask\"\nwsgi = \"app.py\"", `stack.toml:4: app.wsgi: "app.py" is not a WSGI app for gunicorn`},
		{"name = \"x\"\n[app]\ntemplate = \"flask\"\nwsgi = \"pkg:create_app(1)\"", `stack.toml:4: app.wsgi: "pkg:create_app(1)" is not a WSGI app`},
		{"name = \"x\"\n[app]\nwsgi = \"wsgi:app\"", `stack.toml:3: app.wsgi: is for Python apps; app.template "go" has none`},
		{"name = \"x\"\n[app]\nport = 70000", "stack.toml:3: app.port: 70000 is not a port (1–65535)"},
		{"name = \"x\"\n[app]\nreplicas = 0", "stack.toml:3: app.replicas: 0 is not between 1 and 64"},
		{"name = \"x\"\n[app]\ndata = [\"/var/lib/x\"]", `stack.toml:3: app.data[0]: "/var/lib/x" must be relative to the project folder`},
		{"name = \"x\"\n[app]\ndata = [\"../x\"]", `stack.toml:3: app.data[0]: "../x" leaves the project folder`},
		{"name = \"x\"\n[app]\ndata = [\"instance/\"]", `stack.toml:3: app.data[0]: "instance/" is not a clean path: write "instance"`},
		{"name = \"x\"\n[app]\ndata = [\".\"]", `stack.toml:3: app.data[0]: "." is the whole project`},
		{"name = \"x\"\n[app]\ndata = [\".venv/x\"]", `stack.toml:3: app.data[0]: ".venv/x" is a folder deploy makes in each release`},
		{"name = \"x\"\n[app]\ndata = [\"media\", \"media/up\"]", `stack.toml:3: app.data[1]: "media/up" overlaps app.data[0] "media"`},
		{"name = \"x\"\n[app]\nport = 65535\nreplicas = 2", "stack.toml:4: app.replicas: 2 replicas from port 65535 run past port 65535"},
		{"name = \"x\"\n[app]\ncommand = \"  \"", `stack.toml:3: app.command: is empty: say how to start the app (".stackctl/app")`},
		{"name = \"x\"\n[app]\nbuild = \"a\\nb\"", `stack.toml:3: app.build: "a\nb" must be one line`},
		{"name = \"x\"\n[app]\nhealth = \"healthz\"", `stack.toml:3: app.health: "healthz" is not a path (/healthz)`},
		{"name = \"x\"\n[app]\nwatch = [\"../up\"]", `stack.toml:3: app.watch[0]: "../up" leaves the project folder`},
		{"name = \"x\"\n[app]\nenv = { \"A-B\" = \"1\" }", `stack.toml:3: app.env: "A-B" is not an environment variable name`},
		{"name = \"x\"\n[proxy]\nserver_names = []", "stack.toml:3: proxy.server_names: is empty: name at least one domain (example.com)"},
		{"name = \"x\"\n[proxy]\nserver_names = [\"ok.com\", \"Bad.com\"]", `stack.toml:3: proxy.server_names[1]: "Bad.com" is not a valid domain`},
		{"name = \"x\"\n[proxy]\nclient_max_body_size = \"1x\"", `stack.toml:3: proxy.client_max_body_size: "1x" is not a size`},
		{"name = \"x\"\n[proxy]\nread_timeout = \"0s\"", `stack.toml:3: proxy.read_timeout: "0s" must be longer than zero`},
		{"name = \"x\"\n[proxy]\nconnect_timeout = \"5 s\"", `stack.toml:3: proxy.connect_timeout: "5 s" is not a duration`},
		// Overflow and what nginx -t refuses: named by key and line.
		{"name = \"x\"\n[proxy]\nread_timeout = \"999999999y\"", `stack.toml:3: proxy.read_timeout: "999999999y"`},
		{"name = \"x\"\n[proxy]\nsend_timeout = \"1s1m\"", `stack.toml:3: proxy.send_timeout: "1s1m" is not a duration`},
		{"name = \"x\"\n[proxy]\nread_timeout = \"1y\"", `stack.toml:3: proxy.read_timeout: "1y": nginx timeouts take no y or M unit`},
		{"name = \"x\"\n[upstream]\nfail_timeout = \"999999999y\"", `stack.toml:3: upstream.fail_timeout: "999999999y" is too long`},
		{"name = \"x\"\n[[proxy.static]]\nurl = \"/s/\"\ndir = \"s\"\nexpires = \"30d1y\"", `stack.toml:5: proxy.static[0].expires: "30d1y" is not a duration`},
		{"name = \"x\"\n[proxy]\nredirect = \"always\"", `stack.toml:3: proxy.redirect: "always" is not one of none, www-to-apex, apex-to-www`},
		{"name = \"x\"\n[[proxy.static]]\nurl = \"/a/\"\ndir = \"a\"\n[[proxy.static]]\nurl = \"static\"\ndir = \"/etc\"",
			"stack.toml:6: proxy.static[1].url: \"static\" must start and end with '/'"},
		{"name = \"x\"\n[[proxy.static]]\nurl = \"/a/\"\ndir = \"/etc\"", `stack.toml:4: proxy.static[0].dir: "/etc" must be relative to the project folder`},
		{"name = \"x\"\n[[proxy.static]]\nurl = \"/a/\"\ndir = \"a\"\n[[proxy.static]]\nurl = \"/a/\"\ndir = \"b\"", `stack.toml:6: proxy.static[1].url: "/a/" is listed twice`},
		{"name = \"x\"\n[upstream]\nservers = [\"nohost\"]", `stack.toml:3: upstream.servers[0]: "nohost" is not an upstream (host:port or unix:/path)`},
		{"name = \"x\"\n[upstream]\nbalance = \"random\"", `stack.toml:3: upstream.balance: "random" is not one of round_robin, least_conn, ip_hash`},
		{"name = \"x\"\n[upstream]\nmax_fails = -1", "stack.toml:3: upstream.max_fails: -1 is not between 0 and 1000"},
		{"name = \"x\"\n[upstream]\nkeepalive = 20000", "stack.toml:3: upstream.keepalive: 20000 is not between 0 and 10000"},
		{"name = \"x\"\n[serve]\nlisten = \"70000\"", "stack.toml:3: serve.listen: 70000 is not a port (1–65535)"},
		{"name = \"x\"\n[serve]\nlisten = \"5000\"", "stack.toml:3: serve.listen: port 5000 is also the app's port: pick two different ports"},
		{"name = \"x\"\n[app]\nreplicas = 3\n[serve]\nlisten = \"5002\"", "stack.toml:5: serve.listen: port 5002 is also the app's port"},
		{"name = \"x\"\n[nginx]\nlisten = \"localhost:0\"", `stack.toml:3: nginx.listen: "localhost:0": 0 is not a port (1–65535)`},
		{"name = \"x\"\n[nginx]\napp_dir = \"srv/x\"", `stack.toml:3: nginx.app_dir: "srv/x" is not an absolute path`},
		{"name = \"x\"\n[nginx]\napp_dir = \"/srv/x;rm\"", `stack.toml:3: nginx.app_dir: "/srv/x;rm" holds characters not allowed`},
		{"name = \"x\"\n[nginx]\nerror_log = \"/var/../log\"", `stack.toml:3: nginx.error_log: "/var/../log" is not a clean path`},
		{"name = \"x\"\n[nginx.tls]\ncert = \"cert.pem\"", `stack.toml:3: nginx.tls.cert: "cert.pem" is not an absolute path`},
		{"name = \"x\"\n[nginx.tls]\nacme_server = \"http://acme.example/dir\"", `stack.toml:3: nginx.tls.acme_server: "http://acme.example/dir" is not an ACME directory URL (https://HOST/PATH`},
		{"name = \"x\"\n[nginx.tls]\nacme_server = \"https://acme.example/d'; rm\"", `stack.toml:3: nginx.tls.acme_server: "https://acme.example/d'; rm" is not a URL`},
		{"name = \"x\"\n[nginx.tls]\nacme_ca = \"-ca.pem\"", `stack.toml:3: nginx.tls.acme_ca: "-ca.pem" is not a file path`},
		{"name = \"x\"\n[nginx.tls]\nemail = \"Ops <ops@example.com>\"", `stack.toml:3: nginx.tls.email: "Ops <ops@example.com>" is not an e-mail address`},
		{"name = \"x\"\n[nginx.tls]\nemail = \"ops@localhost\"", `stack.toml:3: nginx.tls.email: "ops@localhost" is not an e-mail address`},
		{"name = \"x\"\n[nginx.tls]\nchallenge = \"dns-01\"", `stack.toml:3: nginx.tls.challenge: "dns-01" is not supported yet (it is what wildcard certificates need): use "http-01"`},
		{"name = \"x\"\n[nginx.tls]\nchallenge = \"tls-alpn-01\"", `stack.toml:3: nginx.tls.challenge: "tls-alpn-01" is not a challenge type: use "http-01"`},
		{"name = \"x\"\n[deploy]\nuser = \"Root User\"", `stack.toml:3: deploy.user: "Root User" is not a user name`},
		{"name = \"x\"\n[deploy]\nservice = \"a b\"", `stack.toml:3: deploy.service: "a b" is not a unit name`},
		// Names and folders a server or stackctl already uses (reserved.go).
		{"name = \"x\"\n[deploy]\nuser = \"root\"", `stack.toml:3: deploy.user: "root" must not run the app: the app would run with every privilege on the server; give the app a user of its own (deploy.user = "x-app")`},
		{"name = \"x\"\n[deploy]\nuser = \"www-data\"", `stack.toml:3: deploy.user: "www-data" must not run the app: the system or one of its daemons runs as that user`},
		{"name = \"x\"\n[deploy]\nuser = \"nobody\"", `stack.toml:3: deploy.user: "nobody" must not run the app`},
		{"name = \"x\"\n[deploy]\nuser = \"systemd-network\"", `stack.toml:3: deploy.user: "systemd-network" must not run the app: it is a user of systemd's own services`},
		{"name = \"x\"\n[deploy]\nservice = \"nginx\"", `stack.toml:3: deploy.service: "nginx": the server or stackctl already has a unit of that name; choose a name of the app's own (deploy.service = "x-app")`},
		{"name = \"x\"\n[deploy]\nservice = \"stackctl\"", `stack.toml:3: deploy.service: "stackctl": the server or stackctl already has a unit of that name`},
		{"name = \"x\"\n[deploy]\nservice = \"ssh.service\"", `stack.toml:3: deploy.service: "ssh.service": the server or stackctl already has a unit of that name`},
		{"name = \"x\"\n[deploy]\nservice = \"systemd-journald\"", `stack.toml:3: deploy.service: "systemd-journald": systemd's own units are named systemd-*`},
		{"name = \"x\"\n[deploy]\nservice = \"postgresql\"", `stack.toml:3: deploy.service: "postgresql": the server or stackctl`},
		{"name = \"x\"\n[nginx]\napp_dir = \"/var/lib/x/app\"", `stack.toml:3: nginx.app_dir: "/var/lib/x/app" is under /var/lib/x: it is the service's StateDirectory=, which systemd gives to deploy.user: the app could rewrite its own release; put the app elsewhere (app_dir = "/srv/x")`},
		{"name = \"x\"\n[nginx]\napp_dir = \"/var/lib/web\"\n[deploy]\nservice = \"web\"", `stack.toml:3: nginx.app_dir: "/var/lib/web" is under /var/lib/web: it is the service's StateDirectory=`},
		{"name = \"x\"\n[nginx]\napp_dir = \"/var/lib/stackctl/x\"", `stack.toml:3: nginx.app_dir: "/var/lib/stackctl/x" is under /var/lib/stackctl: stackctl keeps its records and the app's secrets there`},
		{"name = \"x\"\n[nginx]\napp_dir = \"/etc/stackctl\"", `stack.toml:3: nginx.app_dir: "/etc/stackctl" is under /etc/stackctl`},
		{"name = \"x\"\n[app]\nport = \"80\"", `stack.toml:3: app.port: incompatible types`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.file), "stack.toml")
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%q: error %v (%T), want a *ValidationError", tt.file, err, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q:\n got %q\nwant %q", tt.file, err, tt.want)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Line == 0 {
			t.Errorf("%q: no FieldError with a line in %v", tt.file, err)
		}
	}
}

// TestValidationListsEveryError: all problems are reported at once, in
// line order.
func TestValidationListsEveryError(t *testing.T) {
	file := "name = \"x\"\n[serve]\nlisten = \"0\"\n[app]\nport = 0\n"
	_, err := Parse([]byte(file), "p/stack.toml")
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 2 {
		t.Fatalf("error %v, want two field errors", err)
	}
	want := "p/stack.toml:3: serve.listen: 0 is not a port (1–65535)\np/stack.toml:5: app.port: 0 is not a port (1–65535)"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"name = \"x\"\n[app\nport = 1", "stack.toml:2:"},
		{"name = \"x\nport = 1", "stack.toml:1:"},
		{"name = \"x\"\n[app]\nport = = 1", "stack.toml:3:"},
		{"name = \"x\"\nname = \"y\"", "stack.toml:2:"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.file), "stack.toml")
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v (%T), want a *SyntaxError", tt.file, err, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) || se.Column < 1 {
			t.Errorf("%q: %q, want prefix %q and a column", tt.file, err, tt.want)
		}
	}
	// Exact positions, including the two the decoder gets wrong by itself.
	for file, want := range map[string][2]int{
		"name = \"x\"\n[app]\nport = = 1": {3, 8},
		"name = \"x\"\n[app\nport = 1":    {2, 5}, // the newline ending "[app"
		"name = \"x\"\nwatch = [1,\n  2":  {3, 4}, // the end of the file
	} {
		_, err := Parse([]byte(file), "stack.toml")
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != want[0] || se.Column != want[1] {
			t.Errorf("%q: %v, want position %d:%d", file, err, want[0], want[1])
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"name = \"x\"\n[prxy]\ngzip = true", `stack.toml:2: prxy: unknown key: did you mean "proxy"?`},
		{"name = \"x\"\n[serve]\nlistn = \"8080\"", `stack.toml:3: serve.listn: unknown key: did you mean "serve.listen"?`},
		{"name = \"x\"\n[app]\nprot = 1", `stack.toml:3: app.prot: unknown key: did you mean "app.port"?`},
		{"name = \"x\"\n[[proxy.static]]\nurl = \"/s/\"\ndir = \"s\"\nexpire = \"1d\"", `stack.toml:5: proxy.static.expire: unknown key: did you mean "proxy.static.expires"?`},
		{"name = \"x\"\n[nginx.tls]\nenable = true", `stack.toml:3: nginx.tls.enable: unknown key: did you mean "nginx.tls.enabled"?`},
		{"name = \"x\"\ncompletely_different = 1", "stack.toml:2: completely_different: unknown key"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.file), "stack.toml")
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q:\n got %v\nwant %q", tt.file, err, tt.want)
		}
		if strings.HasSuffix(tt.want, "unknown key") && strings.Contains(err.Error(), "did you mean") {
			t.Errorf("%q: suggested something for a far-off key: %v", tt.file, err)
		}
	}
}

// An unknown table is one error: the keys inside it would only repeat it.
func TestUnknownTableReportedOnce(t *testing.T) {
	_, err := Parse([]byte("name = \"x\"\n[prxy]\ngzip = true\nlisten = 1\n"), "stack.toml")
	want := `stack.toml:2: prxy: unknown key: did you mean "proxy"?`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %q", err, want)
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Find(deep); !errors.Is(err, ErrNotFound) {
		// A stack.toml above the temp folder would make this vacuous.
		if err == nil {
			t.Skip("a stack.toml exists above the temp folder")
		}
		t.Fatalf("Find with no file = %v, want ErrNotFound", err)
	}
	top := filepath.Join(root, "a", FileName)
	os.WriteFile(top, []byte(`name = "x"`), 0o644)
	if got, err := Find(deep); err != nil || got != top {
		t.Errorf("Find(%s) = %q, %v; want %s", deep, got, err, top)
	}
	near := filepath.Join(root, "a", "b", FileName)
	os.WriteFile(near, []byte(`name = "x"`), 0o644)
	if got, err := Find(deep); err != nil || got != near {
		t.Errorf("nearest: Find = %q, %v; want %s", got, err, near)
	}
	// A folder named stack.toml is not the file.
	os.Mkdir(filepath.Join(deep, FileName), 0o755)
	if got, err := Find(deep); err != nil || got != near {
		t.Errorf("with a folder named stack.toml: Find = %q, %v; want %s", got, err, near)
	}
	// A relative start works too.
	t.Chdir(deep)
	if got, err := Find("."); err != nil || got != near {
		t.Errorf("Find(.) = %q, %v", got, err)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
	p := filepath.Join(t.TempDir(), FileName)
	os.WriteFile(p, []byte("name = \"x\"\n[app]\nport = 0\n"), 0o644)
	if _, err := Load(p); err == nil || !strings.HasPrefix(err.Error(), p+":3: app.port:") {
		t.Errorf("Load = %v, want the path and line", err)
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false}, {"1024", 1024, false}, {"1k", 1024, false}, {"1K", 1024, false},
		{"1m", 1 << 20, false}, {"10M", 10 << 20, false}, {"2g", 2 << 30, false},
		{"", 0, true}, {"m", 0, true}, {"1.5m", 0, true}, {"-1", 0, true}, {"1t", 0, true}, {"1 m", 0, true},
		{"99999999999999999999", 0, true}, {"9999999g", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.err)
		}
		if !tt.err && Size(tt.in).Bytes() != tt.want {
			t.Errorf("Size(%q).Bytes() = %d", tt.in, Size(tt.in).Bytes())
		}
	}
}

func TestParseTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{"60s": time.Minute, "500ms": 500 * time.Millisecond, "30d": 30 * 24 * time.Hour, "2": 2 * time.Second} {
		if got, err := ParseTimeout(in); err != nil || got != want {
			t.Errorf("ParseTimeout(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"1y", "1M", "1M1d", "1s1m", "999999999y", ""} {
		if got, err := ParseTimeout(in); err == nil {
			t.Errorf("ParseTimeout(%q) = %v, want an error", in, got)
		}
	}
}

func TestDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"60", 60 * time.Second, false}, {"500ms", 500 * time.Millisecond, false}, {"60s", time.Minute, false},
		{"5m", 5 * time.Minute, false}, {"1h30m", 90 * time.Minute, false}, {"30d", 30 * day, false},
		{"2w", 14 * day, false}, {"1M", 30 * day, false}, {"1y", 365 * day, false}, {"1m30s", 90 * time.Second, false},
		{"0s", 0, false},
		{"", 0, true}, {"s", 0, true}, {"5", 5 * time.Second, false}, {"5 s", 0, true}, {"5x", 0, true},
		{"-5s", 0, true}, {"1.5s", 0, true}, {"101y", 0, true}, {"9999999999s", 0, true},
		{"1d2h3m4s5ms", day + 2*time.Hour + 3*time.Minute + 4*time.Second + 5*time.Millisecond, false},
		{"1m500ms", time.Minute + 500*time.Millisecond, false},
		// Out of order or repeated units: nginx -t refuses them.
		{"1s1m", 0, true}, {"30m1h", 0, true}, {"1s1s", 0, true}, {"5ms1s", 0, true},
		// Overflow of int64 or of time.Duration, never a wrapped value.
		{"999999999y", 0, true}, {"99999999999999999999s", 0, true}, {"99999999999999999999", 0, true},
		{"100y1M", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.err)
		}
		if !tt.err && Duration(tt.in).Duration() != tt.want {
			t.Errorf("Duration(%q).Duration() = %v", tt.in, Duration(tt.in).Duration())
		}
	}
}

// TestNoCascadingErrors: one mistake is one error, not also an error on
// every value derived from it.
func TestNoCascadingErrors(t *testing.T) {
	for file, want := range map[string]string{
		`name = "My App"`:                   `stack.toml:1: name: "My App" must start with a lower-case letter and hold only a-z, 0-9 and '-'`,
		"name = \"x\"\n[app]\nport = 70000": "stack.toml:3: app.port: 70000 is not a port (1–65535)",
		// A derived value the file sets itself is still checked.
		"name = \"Bad\"\n[deploy]\nuser = \"Bad\"": "stack.toml:1: name: \"Bad\" must start with a lower-case letter and hold only a-z, 0-9 and '-'\n" +
			"stack.toml:3: deploy.user: \"Bad\" is not a user name ([a-z_][a-z0-9_-]*, at most 32)",
	} {
		_, err := Parse([]byte(file), "stack.toml")
		if err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", file, err, want)
		}
	}
}

func TestParseListen(t *testing.T) {
	tests := []struct {
		in   string
		want Listen
		err  string
	}{
		{"8080", Listen{Port: 8080}, ""},
		{"127.0.0.1:8080", Listen{Host: "127.0.0.1", Port: 8080}, ""},
		{":80", Listen{Port: 80}, ""},
		{"*:80", Listen{Port: 80}, ""},
		{"[::1]:80", Listen{Host: "::1", Port: 80}, ""},
		{"localhost:80", Listen{Host: "localhost", Port: 80}, ""},
		{"app.internal:80", Listen{Host: "app.internal", Port: 80}, ""},
		{"", Listen{}, "the address is empty"},
		{"0", Listen{}, "0 is not a port"},
		{"1.2.3.4.5:80", Listen{}, "1.2.3.4.5 is not an IPv4 address"},
		{"300.1.1.1:80", Listen{}, "300.1.1.1 is not an IPv4 address"},
		{"[1.2.3.4]:80", Listen{}, "is not an IPv6 address"},
		{"::1:80", Listen{}, "is not an address"},
		{"a b:80", Listen{}, "is not an address"},
		{"host:http", Listen{}, `"http" is not a port`},
	}
	for _, tt := range tests {
		got, err := ParseListen(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseListen(%q) = %+v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseListen(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	if s := (Listen{Host: "::1", Port: 80}).String(); s != "[::1]:80" {
		t.Errorf("String = %q", s)
	}
}

func TestValidators(t *testing.T) {
	ok := map[string]func(string) error{
		"myapp": ValidateName, "my-app2": ValidateName, "a": ValidateName,
		"example.com": ValidateHostname, "*.example.com": ValidateHostname, "localhost": ValidateHostname,
	}
	for in, f := range ok {
		if err := f(in); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
	for _, in := range []string{"", ".", "..", "a/b", `a\b`, "My", "1a", "a_b", "a-", strings.Repeat("a", 64)} {
		if ValidateName(in) == nil {
			t.Errorf("ValidateName(%q) accepted", in)
		}
	}
	for _, in := range []string{"", "Example.com", "a..b", "-a.com", "a-.com", "*", "a.*.com", "**.a.com", "a_b.com", strings.Repeat("a", 64) + ".com"} {
		if ValidateHostname(in) == nil {
			t.Errorf("ValidateHostname(%q) accepted", in)
		}
	}
	for _, in := range []string{"myapp", "example.com/me/app", "github.com/me/app/v2"} {
		if err := ValidateModulePath(in); err != nil {
			t.Errorf("ValidateModulePath(%q) = %v", in, err)
		}
	}
	for _, in := range []string{"", "has space", "/abs", "a//b", "a/../b", "trailing/"} {
		if ValidateModulePath(in) == nil {
			t.Errorf("ValidateModulePath(%q) accepted", in)
		}
	}
}

// Names close to the reserved ones, and app_dir beside /var/lib/<service>,
// are the app's own and pass.
func TestDeployNamesAccepted(t *testing.T) {
	for _, file := range []string{
		"name = \"x\"\n[deploy]\nuser = \"rooted\"\nservice = \"nginx-app\"",
		"name = \"x\"\n[deploy]\nservice = \"mysystemd-x\"",
		"name = \"x\"\n[nginx]\napp_dir = \"/var/lib/xy\"",
		"name = \"x\"\n[nginx]\napp_dir = \"/var/lib/x-app\"\n[deploy]\nservice = \"x\"",
		"name = \"x\"\n[nginx]\napp_dir = \"/srv/stackctl\"",
	} {
		if _, err := Parse([]byte(file), "stack.toml"); err != nil {
			t.Errorf("%q: %v", file, err)
		}
	}
}
