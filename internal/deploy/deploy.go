// Package deploy installs a stackctl project. The release engine
// (DeployHosts, RollbackHosts and the day-two commands) acts on a
// host.Host — servers over SSH, or this machine (host.Local) when systemd
// runs it — with releases, two slots and a switch that fails no request.
// The single-unit engine (Run, Rollback) serves --root staging folders and
// machines without systemd: the app under nginx.app_dir, a hardened systemd
// unit (written and verified, not started), and the nginx site. Every write
// is one transaction: the old content of each touched path is backed up
// first, nginx checks the result, and a rejected config is undone byte for
// byte.
package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kballard/go-shellquote"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// Options are the inputs of one deploy or rollback.
type Options struct {
	// Config is the validated project, flags already applied.
	Config *stack.Config
	// Root, when not empty, is an absolute folder every path is put under;
	// nginx is then driven with -p <Root>/ -c <Root><conf-path> (see
	// DiscoverLayout) and systemd is never touched.
	Root string
	// DryRun prints the diff of every file and the commands, writing nothing.
	DryRun bool
	// Certbot runs certbot when TLS is on and no certificate exists yet.
	Certbot bool
	// Out gets progress and the summary; Colors paints it.
	Out    io.Writer
	Colors *ui.Palette
	// System runs programs and knows whether systemd runs this machine.
	System System
	// RenderSite renders the nginx site of a Config (internal/nginx.Render).
	RenderSite func(c *stack.Config, o SiteOptions) ([]byte, error)
	// HTTPSPort is the port of the HTTPS server when TLS is on; 0 means 443.
	// Tests set it to run a TLS site on a free loopback port.
	HTTPSPort int
	// HealthTimeout bounds the health check; 0 means 15s when systemd
	// starts the app and 3s when it cannot (the check is then advisory).
	HealthTimeout time.Duration
}

// SiteOptions are the facts the site renderer needs besides the Config.
type SiteOptions struct {
	// NginxVersion is the installed nginx's version ("1.22.1").
	NginxVersion string
	// HTTPSPort is the HTTPS port; 0 means 443.
	HTTPSPort int
	// ACMEChallenge asks for certbot's webroot challenge on the plain HTTP
	// site: TLS is enabled but this run deploys HTTP first.
	ACMEChallenge bool
	// UpstreamInclude, when set, makes the upstream block include this
	// file instead of listing servers (the slot switch on servers).
	UpstreamInclude string
	// ReleaseInclude, when set, is the file the site includes for the
	// release folder its static files come from (switched with the
	// upstream).
	ReleaseInclude string
	// TrustedProxies are the addresses of a load balancer in front of the
	// site, whose X-Forwarded-For/-Proto it trusts.
	TrustedProxies []string
}

// Result is what a deploy did.
type Result struct {
	// Changes are the paths written, created or removed, in order.
	Changes []Pending
	// Backup is the backup folder of this deploy ("" when nothing changed).
	Backup string
	// Unit is the systemd unit (its Argv is what ExecStart runs).
	Unit *Unit
	// SitePath and SiteLink are where the nginx site went.
	SitePath, SiteLink string
	// TLS reports whether the site was deployed with HTTPS.
	TLS bool
	// Healthy reports whether the health check through nginx passed.
	Healthy bool
}

// paths of the files deploy keeps for itself, relative to the root.
const (
	stateBase = "/var/lib/stackctl"
	unitDir   = "/etc/systemd/system"
)

type run struct {
	Options
	c      *stack.Config
	p      *ui.Palette
	layout Layout
}

func (r *run) j(p string) string {
	if r.Root == "" {
		return p
	}
	return filepath.Join(r.Root, p)
}

func (r *run) stateDir() string   { return r.j(path.Join(stateBase, r.c.Name)) }
func (r *run) backupsDir() string { return filepath.Join(r.stateDir(), "backups") }

func (r *run) say(format string, args ...any) { fmt.Fprintf(r.Out, format+"\n", args...) }
func (r *run) warn(format string, args ...any) {
	fmt.Fprintln(r.Out, r.p.Yellow("warning: "+fmt.Sprintf(format, args...)))
}

func newRun(o Options) (*run, error) {
	if o.Config == nil {
		return nil, errors.New("deploy: no config")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Colors == nil {
		o.Colors = ui.NewPalette(false)
	}
	if o.System.Run == nil {
		o.System = RealSystem()
	}
	if o.Root == "/" {
		o.Root = ""
	}
	if o.Root != "" {
		if !filepath.IsAbs(o.Root) || filepath.Clean(o.Root) != o.Root {
			return nil, &ui.UsageError{Err: ui.Errorf("pass an absolute path such as /tmp/target", "--root %q is not a clean absolute path", o.Root)}
		}
		if !isDir(o.Root) {
			return nil, &ui.UsageError{Err: ui.Errorf("create it first", "--root %s is not a folder", o.Root)}
		}
	}
	if o.Root == "" && o.System.SystemdRunning != nil && o.System.SystemdRunning() {
		// Such a machine gets releases and two slots: the release engine
		// on host.Local (DeployHosts), never this single unit.
		return nil, errors.New("deploy: systemd runs this machine: deploy it with the release engine (DeployHosts on host.Local); the single-unit engine is for --root and machines without systemd")
	}
	return &run{Options: o, c: o.Config, p: o.Colors}, nil
}

// Run deploys the project and prints what it does.
func Run(ctx context.Context, o Options) (*Result, error) {
	r, err := newRun(o)
	if err != nil {
		return nil, err
	}
	if r.RenderSite == nil {
		return nil, errors.New("deploy: no site renderer")
	}
	c := r.c
	r.layout, err = DiscoverLayout(ctx, r.System, r.Root, c.Deploy.SitesDir)
	if err != nil {
		return nil, err
	}
	tlsOn, certbotArgv, err := r.planTLS()
	if err != nil {
		return nil, err
	}
	if !r.DryRun {
		unlock, err := lock(r.stateDir())
		if err != nil {
			return nil, permissionFix(err)
		}
		defer unlock()
	}
	if !r.layout.Included {
		r.warn("%s does not seem to include %s: nginx may not read the site (pass --sites-dir to choose the folder)", r.layout.ConfPath, firstNonEmpty(r.layout.EnabledDir, r.layout.SitesDir))
	}
	res, err := r.deployOnce(ctx, tlsOn)
	if err != nil || certbotArgv == nil {
		return res, err
	}
	// TLS is wanted but there is no certificate yet: the HTTP site is in
	// place, so certbot's webroot challenge can be answered.
	cmdline := shellquote.Join(certbotArgv...)
	if !r.Certbot || r.DryRun {
		r.say("\nTLS: get the certificate with\n  %s\nthen run stackctl deploy again to turn HTTPS on.", r.p.Cyan(cmdline))
		return res, nil
	}
	bin, lerr := r.System.LookPath("certbot")
	if lerr != nil {
		return res, ui.WithFix(errors.New("--certbot: certbot is not installed"), "apt-get install certbot, then run deploy again (the HTTP site is deployed)")
	}
	certbotArgv[0] = bin
	r.say("\nrunning %s", r.p.Cyan(shellquote.Join(certbotArgv...)))
	var cerr error
	if r.System.Interactive != nil {
		cerr = r.System.Interactive(ctx, certbotArgv)
	} else {
		var out string
		out, cerr = r.System.run(ctx, "", certbotArgv...)
		if s := strings.TrimSpace(out); s != "" && cerr == nil {
			r.say("%s", s)
		}
	}
	if cerr != nil {
		return res, ui.WithFix(fmt.Errorf("certbot failed: %w", cerr), "the HTTP site is deployed; fix the problem certbot names and run deploy again")
	}
	if !r.certExists() {
		return res, ui.Errorf("check certbot's output; the HTTP site is deployed", "certbot finished but %s is still missing", r.j(c.CertPath()))
	}
	r.say("\ncertificate ready: deploying the HTTPS site")
	return r.deployOnce(ctx, true)
}

// siteConfig is the Config the nginx site is rendered from: under --root
// every path nginx opens is moved under the root, because the nginx that
// reads the site runs on this machine's file system.
func (r *run) siteConfig(tlsOn bool) *stack.Config {
	sc := *r.c
	sc.Nginx.TLS.Enabled = tlsOn
	if r.Root != "" {
		sc.Nginx.AppDir = r.j(sc.Nginx.AppDir)
		if sc.Nginx.AccessLog != "off" {
			sc.Nginx.AccessLog = r.j(sc.Nginx.AccessLog)
		}
		sc.Nginx.ErrorLog = r.j(sc.Nginx.ErrorLog)
		sc.Nginx.TLS.ACMEWebroot = r.j(sc.Nginx.TLS.ACMEWebroot)
		sc.Nginx.TLS.Cert = r.j(r.c.CertPath())
		sc.Nginx.TLS.Key = r.j(r.c.KeyPath())
	}
	return &sc
}

// plan builds every change of a deploy and the steps it runs.
func (r *run) plan(ctx context.Context, tlsOn bool) ([]Change, *Unit, []string, error) {
	c := r.c
	files, buildArgv, err := BuildApp(ctx, r.System, c)
	if err != nil {
		return nil, nil, nil, err
	}
	uo := UnitOptions{Workers: 2*runtime.NumCPU() + 1}
	if stack.IsPython(c.App.Template) {
		g, err := r.System.LookPath("gunicorn")
		if err != nil {
			return nil, nil, nil, ui.WithFix(fmt.Errorf("gunicorn is not installed: the %s app runs under gunicorn in production", c.App.Template), "apt-get install gunicorn python3-"+c.App.Template)
		}
		uo.Gunicorn = g
	}
	unit, err := RenderUnit(c, uo)
	if err != nil {
		return nil, nil, nil, err
	}
	// With TLS enabled but no certificate yet, HTTP goes first and answers
	// certbot's challenge.
	so := SiteOptions{NginxVersion: r.layout.Version, HTTPSPort: r.HTTPSPort, ACMEChallenge: c.Nginx.TLS.Enabled && !tlsOn}
	site, err := r.RenderSite(r.siteConfig(tlsOn), so)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("render the nginx site: %w", err)
	}

	appDir := r.j(c.Nginx.AppDir)
	changes := []Change{{Path: appDir, Dir: true, Label: "app folder"}}
	installed := make([]string, 0, len(files))
	for _, f := range files {
		changes = append(changes, Change{Path: filepath.Join(appDir, filepath.FromSlash(f.Rel)), Data: f.Data, Mode: f.Mode, Label: "app"})
		installed = append(installed, f.Rel)
	}
	// Files a previous deploy installed that the app no longer has.
	listPath := filepath.Join(r.stateDir(), "installed.json")
	if old, err := os.ReadFile(listPath); err == nil {
		var prev struct {
			AppDir string   `json:"app_dir"`
			Files  []string `json:"files"`
		}
		if json.Unmarshal(old, &prev) == nil && prev.AppDir == c.Nginx.AppDir {
			keep := map[string]bool{}
			for _, f := range installed {
				keep[f] = true
			}
			for _, f := range prev.Files {
				clean := path.Clean(f)
				if keep[clean] || !filepath.IsLocal(filepath.FromSlash(clean)) {
					continue
				}
				changes = append(changes, Change{Path: filepath.Join(appDir, filepath.FromSlash(clean)), Remove: true, Label: "app (no longer in the project)"})
			}
		}
	}
	list, _ := json.MarshalIndent(struct {
		AppDir string   `json:"app_dir"`
		Files  []string `json:"files"`
	}{c.Nginx.AppDir, installed}, "", "  ")
	changes = append(changes, Change{Path: listPath, Data: append(list, '\n'), Mode: 0o644, Label: "list of installed files"})

	changes = append(changes, Change{Path: r.j(unit.EnvFile), Data: unit.EnvData, Mode: 0o600, Label: "app environment (app.env, root only)"})
	changes = append(changes, Change{Path: r.j(path.Join(unitDir, unit.Name)), Data: unit.Text, Mode: 0o644, Label: "systemd unit"})
	for _, l := range []string{c.Nginx.AccessLog, c.Nginx.ErrorLog} {
		if l != "off" {
			changes = appendDir(changes, r.j(path.Dir(l)), "nginx log folder")
		}
	}
	if c.Nginx.TLS.Enabled {
		changes = appendDir(changes, r.j(c.Nginx.TLS.ACMEWebroot), "ACME webroot")
	}
	sitePath, link := r.layout.SitePath(c.Name)
	changes = append(changes, Change{Path: sitePath, Data: site, Mode: 0o644, Label: "nginx site"})
	if link != "" {
		changes = append(changes, Change{Path: link, Link: sitePath, Label: "nginx site link"})
	}
	return changes, unit, buildArgv, nil
}

func appendDir(changes []Change, dir, label string) []Change {
	for _, ch := range changes {
		if ch.Path == dir {
			return changes
		}
	}
	return append(changes, Change{Path: dir, Dir: true, Label: label})
}

func (r *run) deployOnce(ctx context.Context, tlsOn bool) (*Result, error) {
	c := r.c
	changes, unit, buildArgv, err := r.plan(ctx, tlsOn)
	if err != nil {
		return nil, err
	}
	if len(buildArgv) > 4 {
		buildArgv[4] = r.j(buildArgv[4]) // the binary is built aside, then installed there
	}
	sitePath, link := r.layout.SitePath(c.Name)
	res := &Result{Unit: unit, SitePath: sitePath, SiteLink: link, TLS: tlsOn}
	pending, err := Diff(changes)
	if err != nil {
		return nil, err
	}
	res.Changes = pending
	target, err := healthTarget(c, tlsOn, r.HTTPSPort)
	if err != nil {
		return nil, err
	}
	if r.DryRun {
		r.printDryRun(pending, unit, buildArgv, target)
		return res, nil
	}
	if len(pending) == 0 {
		r.say("%s %s is already deployed as it is now: nothing to write, nginx not reloaded.", r.p.Green("No changes:"), c.Name)
		res.Healthy = r.health(ctx, target, false) == nil
		return res, nil
	}

	txn, err := Apply(pending, r.backupsDir(), c.Deploy.Service)
	if err != nil {
		return nil, permissionFix(fmt.Errorf("write the files (nothing was changed): %w", err))
	}
	res.Backup = txn.Dir
	undo := func(cause error) error {
		if rerr := txn.Rollback(); rerr != nil {
			return errors.Join(cause, fmt.Errorf("restoring the backup %s failed: %w", txn.Dir, rerr))
		}
		r.say("%s every file deploy touched is restored byte for byte (backup %s).", r.p.Yellow("rolled back:"), txn.Dir)
		res.Backup = ""
		return cause
	}

	unitPath := r.j(path.Join(unitDir, unit.Name))
	if err := r.verifyUnit(ctx, unitPath, unit); err != nil {
		return nil, undo(err)
	}
	if err := r.nginxTest(ctx); err != nil {
		return nil, undo(err)
	}

	// systemd does not run this machine (the release engine serves those):
	// the unit is written and verified, and its command is printed.
	r.say("%s systemd is not running on this machine (PID 1 is not systemd), so %s cannot be started here.", r.p.Yellow("note:"), unit.Name)
	r.say("      The unit %s runs:\n        %s", unitPath, r.p.Cyan(r.localCommand(unit)))
	r.reloadNginx(ctx)
	// Nobody started the app here: the health check is advisory.
	res.Healthy = r.health(ctx, target, false) == nil
	r.summary(pending, txn.Dir)
	return res, nil
}

func (r *run) health(ctx context.Context, t HealthTarget, required bool) error {
	timeout := r.HealthTimeout
	if timeout == 0 {
		timeout = 3 * time.Second
		if required {
			timeout = 15 * time.Second
		}
	}
	err := checkHealth(ctx, t, timeout)
	switch {
	case err == nil:
		r.say("%s GET %s (Host: %s) through nginx answered 2xx/3xx", r.p.Green("healthy:"), t.URL, t.Host)
	case !required:
		r.warn("health check through nginx failed (advisory, nothing rolled back: nobody started the app here): %v", err)
	}
	return err
}

// permissionFix tells a user without the rights deploy needs how to get them.
func permissionFix(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return ui.WithFix(err, "run deploy as root (sudo stackctl deploy), or use --root DIR to try it in a folder you own")
	}
	return err
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

func firstNonEmpty(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}
