package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/setup"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// setupOptions are the inputs of `stackctl setup`.
type setupOptions struct {
	IO     *ui.IOStreams
	Config string
	Hosts  hostFlags
	User   string
	Key    string
	DryRun bool
}

func newCmdSetup(f *Factory) *cobra.Command {
	opts := &setupOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Make fresh Debian/Ubuntu servers ready for deploys, and safe on the internet",
		Long: `Set up each server (--host, or deploy.hosts and deploy.lb) for deploys,
connecting as root or as a user with passwordless sudo. Idempotently:

  packages   nginx, sudo, nftables, unattended-upgrades; python3-venv on
             the app hosts of a Python app; certbot where TLS ends and
             no certificate of yours is set (apt-get, never a question)
  user       a login user for deploys (--user, default deploy) with your
             public key (--key FILE, else the ssh agent's first key, else
             ~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub); the app's
             own user (deploy.user) stays a system user with no login
  sudo       /etc/sudoers.d/stackctl-USER, checked with visudo -c
  journal    the journal capped at 500M
  updates    unattended security upgrades, daily
  firewall   an nftables table of its own (inet stackctl): ssh, 80 and
             443 in, the rest closed; an app host behind an lb takes 80
             from the lb only; a host that runs [services] for other
             hosts opens 5432/6379 to the app hosts only
  sshd       no password logins, root by key only: checked with sshd -t,
             and applied only when a second connection as the login user
             works, before and after, so you cannot be locked out

A host of its own that [services] names (postgres = { host = "db1" }) is
set up with the others, as a services host: no nginx, no web ports. With
--host naming only such hosts (stackctl setup --host db1), setup acts on
them alone and keeps deploy.hosts as the app hosts they let in.

Each item is reported: ✓ already so, ✎ changed (with the file or the
packages), ✗ with the reason. A changed file is backed up first under
/var/lib/stackctl/setup/backups/ and put back when its check fails. A
second run changes nothing and says so. --dry-run prints every change
(diffs of files, packages to install) and makes none.

Then deploy as the login user: deploy.hosts = ["deploy@203.0.113.10"], or
User deploy in the host's ssh_config entry.`,
		Example: `  stackctl setup --host root@203.0.113.10
  stackctl setup --host root@203.0.113.10 --dry-run
  stackctl setup --host root@web1 --host root@web2 --lb root@lb1 --key ~/.ssh/id_ed25519.pub
  stackctl setup                      # deploy.hosts and deploy.lb of stack.toml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runSetup(cmd.Context(), opts) },
	}
	addConfigFlag(cmd, &opts.Config)
	addHostFlags(cmd, &opts.Hosts)
	cmd.Flags().StringVar(&opts.User, "user", "deploy", "the login user for deploys that setup makes (never root, never deploy.user)")
	cmd.Flags().StringVar(&opts.Key, "key", "", "public key file the login user accepts (default: the ssh agent's first key, else ~/.ssh/id_*.pub)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print every change and make none")
	return cmd
}

func runSetup(ctx context.Context, o *setupOptions) error {
	c, err := loadConfig(o.Config)
	if err != nil {
		return err
	}
	only := o.Hosts.onlyServiceHosts(c)
	if err := o.Hosts.apply(c); err != nil {
		return err
	}
	if len(c.Deploy.Hosts) == 0 {
		return ui.WithFix(errors.New("setup: no hosts"), "name the servers: stackctl setup --host root@203.0.113.10 (or deploy.hosts in stack.toml)")
	}
	if err := setup.CheckUser(c, o.User); err != nil {
		return ui.Usagef("", "%v", err)
	}
	key, from, err := publicKey(ctx, o.Key)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "The login user %s will accept %s (from %s).\n", o.User, key[:min(len(key), 40)]+"…", from)

	ctx, stop := interruptible(ctx, o.IO.ErrOut)
	defer stop()
	hosts, closeAll, err := dialHosts(ctx, c)
	if err != nil {
		return err
	}
	defer closeAll()
	targets, err := setupTargets(ctx, c, hosts, o.User)
	if err != nil {
		return err
	}
	if only != nil {
		// --host db1, the services' host of its own: the app hosts were
		// dialed for their addresses only, and stay as they are.
		dests := hostDests(c)
		targets = slices.DeleteFunc(targets, func(t setup.Target) bool {
			return !slices.Contains(only, dests[slices.Index(hosts, t.Host)])
		})
	}
	sshOpts := host.SSHOptions{Config: c.Deploy.SSHConfig}
	_, err = setup.Run(ctx, setup.Options{
		Config: c, Targets: targets, User: o.User, Key: key, DryRun: o.DryRun,
		Dial: func(ctx context.Context, dest string) (host.Host, error) {
			return host.Dial(ctx, dest, sshOpts)
		},
		Out: o.IO.Out, Colors: o.IO.OutColors(),
	})
	if err != nil {
		return err
	}
	if !o.DryRun && loginDests(targets) != "" {
		fmt.Fprintf(o.IO.Out, "\nDeploy as %s from now on: deploy.hosts = [%s]", o.User, loginDests(targets))
		fmt.Fprintf(o.IO.Out, ", or `User %s` in each host's ssh_config entry.\n", o.User)
	}
	return nil
}

// setupTargets describes each dialed host (dialHosts): its role, the ssh
// port the firewall keeps open, where the login user logs in, behind an
// lb the address the app host sees the lb at, and on a host that runs
// [services] for other hosts the ports it opens to them.
func setupTargets(ctx context.Context, c *stack.Config, hosts []host.Host, user string) ([]setup.Target, error) {
	var targets []setup.Target
	var from [][]string
	apps, lb, _ := splitHosts(c, hosts)
	if lb != nil {
		var err error
		if from, err = deploy.LBSources(ctx, c, lb, apps); err != nil {
			return nil, err
		}
	}
	dests := hostDests(c)
	for i, h := range hosts {
		d, err := stack.ParseDestination(dests[i])
		if err != nil {
			return nil, err
		}
		d.User = user
		t := setup.Target{Host: h, SSHPort: 22, LoginDest: d.String()}
		if p, ok := h.(interface{ Port() int }); ok && p.Port() > 0 {
			t.SSHPort = p.Port()
		}
		switch {
		case i >= len(apps) && h == lb:
			t.Role = setup.LB
		case i >= len(apps):
			t.Role = setup.Services
		case from != nil:
			t.HTTPFrom = from[i]
		}
		if t.Role != setup.LB {
			t.ServicePorts, t.ServicesFrom = servicePorts(c, apps, dests[i])
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// servicePorts are the ports of the [services] that the host at dest runs
// for the app hosts (apps) other than itself, and their addresses. With
// one app host running them, they listen on 127.0.0.1 only and no port
// opens; a host of their own opens them to every app host.
func servicePorts(c *stack.Config, apps []host.Host, dest string) ([]int, []string) {
	runsHere := func(s stack.Service) bool {
		if !s.Enabled || len(c.Deploy.Hosts) == 0 {
			return false
		}
		at := s.Host
		if at == "" {
			at = c.Deploy.Hosts[0]
		}
		return at == dest
	}
	var ports []int
	if runsHere(c.Services.Postgres) {
		ports = append(ports, 5432)
	}
	if runsHere(c.Services.Redis) {
		ports = append(ports, 6379)
	}
	var from []string
	for j, h := range apps {
		if j < len(c.Deploy.Hosts) && c.Deploy.Hosts[j] != dest {
			from = append(from, deploy.HostAddr(c, h))
		}
	}
	if len(ports) == 0 || len(from) == 0 {
		return nil, nil
	}
	return ports, from
}

func loginDests(ts []setup.Target) string {
	var q []string
	for _, t := range ts {
		if t.Role == setup.App {
			q = append(q, fmt.Sprintf("%q", t.LoginDest))
		}
	}
	return strings.Join(q, ", ")
}

// publicKey is the login user's key: --key FILE, else the agent's first
// key, else the first of ~/.ssh/id_{ed25519,ecdsa,rsa}.pub. It returns
// the key and where it came from.
func publicKey(ctx context.Context, file string) (string, string, error) {
	if file != "" {
		return readPublicKey(file)
	}
	if os.Getenv("SSH_AUTH_SOCK") != "" {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ssh-add", "-L").Output()
		if err == nil {
			first, _, _ := strings.Cut(string(out), "\n")
			if k, err := setup.ParseKey(first); err == nil {
				return k, "the ssh agent", nil
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		for _, n := range []string{"id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"} {
			p := filepath.Join(home, ".ssh", n)
			if _, err := os.Stat(p); err == nil {
				return readPublicKey(p)
			}
		}
	}
	return "", "", ui.WithFix(errors.New("setup: no public key for the login user: no --key, no key in the ssh agent, no ~/.ssh/id_*.pub"),
		"pass --key ~/.ssh/id_ed25519.pub (make one with ssh-keygen -t ed25519)")
}

func readPublicKey(file string) (string, string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", "", ui.WithFix(fmt.Errorf("--key: %w", err), "give the public key file (~/.ssh/id_ed25519.pub)")
	}
	if bytes.Contains(data, []byte("PRIVATE KEY")) {
		return "", "", ui.WithFix(fmt.Errorf("--key %s is a private key", file), "give its public half: "+file+".pub")
	}
	k, err := setup.ParseKey(string(data))
	if err != nil {
		return "", "", ui.WithFix(fmt.Errorf("--key %s: %v", file, err), "give the public key file (~/.ssh/id_ed25519.pub)")
	}
	return k, file, nil
}
