package cmd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// genNginxOptions are the inputs of `stackctl gen-nginx`.
type genNginxOptions struct {
	IO *ui.IOStreams

	Config    string
	Domains   []string // replaces proxy.server_names when set
	Listen    *string  // nginx.listen, when --listen was given
	Upstreams []string // replaces upstream.servers when set
	AppDir    *string  // nginx.app_dir
	TLS       *bool    // nginx.tls.enabled
	Cert      *string  // nginx.tls.cert
	Key       *string  // nginx.tls.key
	Out       string   // "" or "-": stdout
	Check     bool

	// CheckSite runs nginx -t on the site (nginx.Check; tests replace it).
	CheckSite func(ctx context.Context, site []byte) error
	// NginxVersion is the version to write for; "" asks DetectNginx.
	NginxVersion string
	// DetectNginx returns the installed nginx's version (nginx.DetectVersion;
	// tests replace it).
	DetectNginx func(ctx context.Context) (string, error)
}

func newCmdGenNginx(f *Factory) *cobra.Command {
	return newCmdGenNginxWithRun(f, genNginxRun)
}

func newCmdGenNginxWithRun(f *Factory, runF func(*genNginxOptions) error) *cobra.Command {
	opts := &genNginxOptions{IO: f.IO, CheckSite: nginx.Check, DetectNginx: nginx.DetectVersion}
	var listen, appDir, cert, key string
	var tls bool
	c := &cobra.Command{
		Use:   "gen-nginx",
		Short: "Write the production nginx site for this project",
		Long: `gen-nginx renders the nginx site described by stack.toml: an http-context
snippet for sites-enabled/ or conf.d/ holding the upstream block, the
WebSocket map and the server blocks (proxy headers, timeouts, static folders,
gzip, security headers, TLS with certbot's webroot, redirects).

The site is included inside the stock http {} block of nginx.conf; its
upstream and map names carry the project name, so several sites load
together. The syntax follows the installed nginx (nginx -v), or 1.22.

Flags override stack.toml for this run only and are checked like the file.
Without --out the site goes to stdout. With --out FILE it is written
atomically; a previous, different FILE is kept as FILE.bak, and an
unchanged one is left alone. --check runs nginx -t on the site first and
writes nothing if nginx rejects it.`,
		Example: `  stackctl gen-nginx > myapp.conf
  stackctl gen-nginx --domain example.com --domain www.example.com --tls --check
  stackctl gen-nginx --upstream 127.0.0.1:5001 --upstream 127.0.0.1:5002 --out /etc/nginx/sites-available/myapp
  stackctl gen-nginx --tls --cert /etc/ssl/wild.crt --key /etc/ssl/wild.key --domain '*.example.com'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if fl.Changed("listen") {
				opts.Listen = &listen
			}
			if fl.Changed("app-dir") {
				opts.AppDir = &appDir
			}
			if fl.Changed("tls") {
				opts.TLS = &tls
			}
			if fl.Changed("cert") {
				opts.Cert = &cert
			}
			if fl.Changed("key") {
				opts.Key = &key
			}
			return runF(opts)
		},
	}
	addConfigFlag(c, &opts.Config)
	fl := c.Flags()
	fl.StringArrayVar(&opts.Domains, "domain", nil, "a server name (repeatable; replaces proxy.server_names)")
	fl.StringVar(&listen, "listen", "", "nginx's listen address or port (nginx.listen, default 80)")
	fl.StringArrayVar(&opts.Upstreams, "upstream", nil, "an app server, host:port or unix:/path (repeatable; replaces upstream.servers)")
	fl.StringVar(&appDir, "app-dir", "", "where the app lives on the server; static folders are served from under it (nginx.app_dir)")
	fl.BoolVar(&tls, "tls", false, "serve https, redirect http to it and answer certbot's webroot challenge (nginx.tls.enabled)")
	fl.StringVar(&cert, "cert", "", "TLS certificate chain (nginx.tls.cert; default Let's Encrypt's live path)")
	fl.StringVar(&key, "key", "", "TLS private key (nginx.tls.key; default Let's Encrypt's live path)")
	fl.StringVarP(&opts.Out, "out", "o", "", "write the site to FILE instead of stdout (atomically, previous version in FILE.bak)")
	fl.BoolVar(&opts.Check, "check", false, "run nginx -t on the site before writing it")
	return c
}

// genNginxFlagKeys maps the stack.toml keys gen-nginx's flags override to the flag.
var genNginxFlagKeys = []struct {
	re   *regexp.Regexp
	flag string
}{
	{regexp.MustCompile(`^proxy\.server_names(\[|$)`), "--domain"},
	{regexp.MustCompile(`^nginx\.listen$`), "--listen"},
	{regexp.MustCompile(`^upstream\.servers(\[|$)`), "--upstream"},
	{regexp.MustCompile(`^nginx\.app_dir$`), "--app-dir"},
	{regexp.MustCompile(`^nginx\.tls\.cert$`), "--cert"},
	{regexp.MustCompile(`^nginx\.tls\.key$`), "--key"},
}

func (o *genNginxOptions) setFlags() map[string]bool {
	return map[string]bool{
		"--domain": len(o.Domains) > 0, "--listen": o.Listen != nil, "--upstream": len(o.Upstreams) > 0,
		"--app-dir": o.AppDir != nil, "--cert": o.Cert != nil, "--key": o.Key != nil, "--tls": o.TLS != nil,
	}
}

// apply overrides the keys named by flags for this run.
func (o *genNginxOptions) apply(c *stack.Config) {
	if len(o.Domains) > 0 {
		c.Proxy.ServerNames = append([]string(nil), o.Domains...)
	}
	if o.Listen != nil {
		c.Nginx.Listen = *o.Listen
	}
	if len(o.Upstreams) > 0 {
		c.Upstream.Servers = append([]string(nil), o.Upstreams...)
	}
	if o.AppDir != nil {
		c.Nginx.AppDir = *o.AppDir
	}
	if o.TLS != nil {
		c.Nginx.TLS.Enabled = *o.TLS
	}
	if o.Cert != nil {
		c.Nginx.TLS.Cert = *o.Cert
	}
	if o.Key != nil {
		c.Nginx.TLS.Key = *o.Key
	}
}

// flagError turns a validation error into a usage error (exit 2) naming the
// flag when a flag set one of the bad values; otherwise it stays an error
// about stack.toml.
func (o *genNginxOptions) flagError(err error, path string) error {
	var ve *stack.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	set := o.setFlags()
	byFlag := false
	for _, fe := range ve.Errors {
		for _, m := range genNginxFlagKeys {
			if m.re.MatchString(fe.Field) && set[m.flag] {
				fe.Field = m.flag + " (" + fe.Field + ")"
				fe.File = ""
				byFlag = true
			}
		}
		if set["--tls"] && strings.HasPrefix(fe.Field, "proxy.server_names") && strings.Contains(fe.Msg, "wildcard") {
			byFlag = true
		}
	}
	if byFlag {
		return &ui.UsageError{Err: ui.WithFix(err, "fix the flag's value; nothing was written")}
	}
	return ui.WithFix(err, "fix "+path+"; nothing was written")
}

func genNginxRun(o *genNginxOptions) error {
	c, err := loadConfig(o.Config)
	if err != nil {
		return err
	}
	o.apply(c)
	if err := c.Validate(); err != nil {
		return o.flagError(err, c.Path)
	}
	version := o.NginxVersion
	if version == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		version, err = o.DetectNginx(ctx)
		cancel()
		if err != nil {
			version = nginx.DefaultVersion
			fmt.Fprintf(o.IO.ErrOut, "note: no nginx here (%v); writing for nginx %s, Debian 12's\n", err, version)
		}
	}
	site, err := nginx.Render(c, nginx.Options{NginxVersion: version, Source: c.Path, StackctlVersion: Version()})
	if err != nil {
		return o.flagError(err, c.Path)
	}

	if o.Check {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := o.CheckSite(ctx, site)
		cancel()
		if errors.Is(err, nginx.ErrNotInstalled) {
			return ui.Errorf("install nginx (apt-get install nginx) or leave out --check", "--check: nginx is not installed here, so the site cannot be checked; nothing was written")
		}
		if err != nil {
			return ui.WithFix(err, "nothing was written; fix stack.toml or the flags, or the files nginx names (certificates, log folders)")
		}
		fmt.Fprintln(o.IO.ErrOut, "nginx -t: the site is valid")
	}

	if o.Out == "" || o.Out == "-" {
		_, err := o.IO.Out.Write(site)
		return err
	}
	res, err := nginx.WriteFile(o.Out, site)
	if err != nil {
		return ui.WithFix(err, "check that the folder exists and is writable")
	}
	switch {
	case !res.Changed:
		fmt.Fprintf(o.IO.ErrOut, "%s is up to date\n", o.Out)
	case res.Backup != "":
		fmt.Fprintf(o.IO.ErrOut, "wrote %s (previous version in %s)\n", o.Out, res.Backup)
	default:
		fmt.Fprintf(o.IO.ErrOut, "wrote %s\n", o.Out)
	}
	return nil
}
