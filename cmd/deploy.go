package cmd

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// deployOptions are the inputs of `stackctl deploy`.
type deployOptions struct {
	IO       *ui.IOStreams
	Config   string
	AppDir   string
	SitesDir string
	Cert     string
	Key      string
	DryRun   bool
	Rollback bool
	Hosts    hostFlags
	LockWait time.Duration
}

func newCmdDeploy(f *Factory) *cobra.Command { return newCmdDeployWith(f, runDeploy) }

func newCmdDeployWith(f *Factory, runF func(context.Context, *deployOptions) error) *cobra.Command {
	opts := &deployOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy the app and its nginx site to servers over SSH, or to this machine",
		Long: `With hosts (--host, or deploy.hosts in stack.toml), deploy builds the project
once here and installs it on each server over SSH as a new release, with no
failed request:

  1. the release goes to /srv/<name>/releases/<id> (only the files that
     changed since the host's current release, in content or mode, are
     sent; a Go app is cross-compiled for the host's architecture, a
     Python app gets a virtualenv with requirements.txt, reused when it
     did not change; its scripts name the release's own virtualenv); each
     app.data path becomes a link into the data folder
     /var/lib/<deploy.service>/, which deploys and rollbacks never touch;
  2. deploy.release_command runs once in it (first host), as the app runs:
     deploy.user, app.env and the secrets, the data folder, the hardening;
     a failure stops the deploy;
  3. the idle slot (<service>@a or @b, on app.port or app.port+10000)
     starts the release and must answer GET app.health, asked as the site
     (Host: the first server name), with any 2xx or 3xx;
  4. nginx's upstream and the release its static files come from move to
     that slot together ('nginx -t', graceful reload) and the old nginx
     workers finish their requests;
  5. the other slot stops; the release is recorded; old ones are pruned
     (deploy.keep_releases; the current and previous are always kept).

What a release holds: in a git work tree, the files git would commit ('git
ls-files --cached --others --exclude-standard' in the project folder: what
.gitignore ignores, such as instance/, *.sqlite, .env* or virtualenvs, never
leaves this machine), read from the working tree, plus what deploy builds
(the Go binary with the proxy.static folders, Django's collectstatic
output). Outside git: the folder's files without .git, .venv, .stackctl,
__pycache__, *.pyc and .env. Either way app.data never ships, nor what
app.ignore matches. Uncommitted changes ship and deploy says so.
--dry-run lists every file of the release, which are sent, and which rule
chose them.

A failure in 1-4, Ctrl-C, SIGTERM, a closed terminal (SIGHUP), or a host
that drops the connection leaves the old release serving and every file as
it was; hosts already switched go back. A second Ctrl-C cannot cut that
undo; a third stops at once and says what is left. Before it changes a
host, a deploy writes what it is about to do there
(/var/lib/stackctl/<name>/journal.json): a deploy killed anywhere (even
SIGKILL) is finished or reverted by the next command from what the host
shows — finished when nginx already sends requests to the new release,
reverted otherwise — and a lock whose process on this machine is gone is
taken over. Each host's lock is taken before anything is read from it, so
two deploys never interleave: the second stops naming who holds the lock,
or waits for it with --lock-wait DURATION. Host keys are always checked
against known_hosts. A user that is not
root needs passwordless sudo. 'stackctl rollback' goes back in seconds;
'stackctl releases' lists what each host has. A deploy that would change
nothing sends nothing and says so.

Without hosts, on a machine systemd runs, deploy does the same on this
machine: releases, two slots and the nginx switch, through the same engine
(as root, or as a user with passwordless sudo; deploy says which sudoers
line is missing). 'stackctl releases', 'rollback', 'env', 'exec', 'logs'
and 'status' without hosts act on this machine too. On a machine systemd
does not run (a container), deploy without hosts stops and says so: deploy
to a server with --host, or write the nginx site with 'stackctl gen-nginx'.

With nginx.tls.enabled and no certificate of your own (nginx.tls.cert), the
same deploy gets it: the HTTP site answers the ACME challenge, Debian's certbot
(installed when missing) gets the certificate from nginx.tls.acme_server (Let's
Encrypt by default) on the host that terminates TLS (the lb, else each app
host), and the site switches to HTTPS. certbot.timer renews it, and a deploy
hook reloads nginx gracefully ('stackctl certs renew' renews now). When the
certificate cannot be had, deploy says why (DNS does not point at the host,
port 80 is unreachable, a rate limit) and exits 1; the site keeps serving as
before. A wildcard name needs your own certificate (--cert/--key).`,
		Example: `  stackctl deploy --host web1
  stackctl deploy --host deploy@203.0.113.10 --ssh-config ./ssh_config
  stackctl deploy --host web1 --dry-run
  stackctl deploy --host web1 --lock-wait 5m
  sudo stackctl deploy --dry-run
  sudo stackctl deploy
  sudo stackctl deploy --rollback`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runF(cmd.Context(), opts)
		},
	}
	addConfigFlag(cmd, &opts.Config)
	fl := cmd.Flags()
	fl.StringVar(&opts.AppDir, "app-dir", "", "install the app in this folder (nginx.app_dir)")
	fl.StringVar(&opts.SitesDir, "sites-dir", "", "write the nginx site to this folder (deploy.sites_dir; default: found from nginx)")
	fl.StringVar(&opts.Cert, "cert", "", "TLS certificate chain (nginx.tls.cert)")
	fl.StringVar(&opts.Key, "key", "", "TLS private key (nginx.tls.key)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the diff of every file and the commands; write nothing")
	fl.BoolVar(&opts.Rollback, "rollback", false, "go back to the previous release (same as 'stackctl rollback')")
	addHostFlags(cmd, &opts.Hosts)
	addLockWaitFlag(cmd, &opts.LockWait)
	return cmd
}

// applyDeployFlags overrides the stack.toml keys the flags name.
func applyDeployFlags(c *stack.Config, o *deployOptions) error {
	if o.AppDir != "" {
		c.Nginx.AppDir = o.AppDir
	}
	if o.SitesDir != "" {
		c.Deploy.SitesDir = o.SitesDir
	}
	if o.Cert != "" {
		c.Nginx.TLS.Cert = o.Cert
	}
	if o.Key != "" {
		c.Nginx.TLS.Key = o.Key
	}
	return revalidate(c)
}

func runDeploy(ctx context.Context, o *deployOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := loadConfig(o.Config)
	if err != nil {
		return err
	}
	if err := applyDeployFlags(c, o); err != nil {
		return err
	}
	if err := o.Hosts.apply(c); err != nil {
		return err
	}
	if len(c.Deploy.Hosts) == 0 && !systemdRunning() {
		return ui.WithFix(noHostsError("deploy"), "or write the nginx site with 'stackctl gen-nginx' and run the app as you do today")
	}
	if o.Rollback {
		return runRollbackHosts(ctx, o.IO, c, o.DryRun, "", o.LockWait)
	}
	return runDeployHosts(ctx, o.IO, c, o.DryRun, o.LockWait)
}
