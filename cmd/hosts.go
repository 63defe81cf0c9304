package cmd

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// hostFlags are the flags of every command that acts on servers.
type hostFlags struct {
	Hosts     []string
	LB        string
	SSHConfig string
}

// addHostFlags adds --host and --ssh-config to a command.
func addHostFlags(c *cobra.Command, hf *hostFlags) {
	c.Flags().StringArrayVar(&hf.Hosts, "host", nil, "SSH destination [user@]host[:port] or ssh_config alias (repeatable; deploy.hosts)")
	c.Flags().StringVar(&hf.LB, "lb", "", "SSH destination of the load-balancer host in front of the hosts (deploy.lb)")
	c.Flags().StringVar(&hf.SSHConfig, "ssh-config", "", "ssh_config file to reach the hosts, trusted like ~/.ssh/config (default); deploy.ssh_config, which comes with the project, may not run commands here (ProxyCommand, Match exec, Include…)")
}

// apply overrides deploy.hosts and deploy.ssh_config with the flags. A
// relative deploy.ssh_config is relative to the project; a relative
// --ssh-config to the current folder.
//
// --ssh-config is the user's own choice and trusted, as ~/.ssh/config is.
// deploy.ssh_config comes with stack.toml, which a cloned repository
// controls: when it is used (there are hosts), it is refused if it could
// run anything on this machine (host.CheckProjectSSHConfig).
func (hf *hostFlags) apply(c *stack.Config) error {
	if len(hf.Hosts) > 0 {
		c.Deploy.Hosts = append([]string(nil), hf.Hosts...)
	}
	if hf.LB != "" {
		c.Deploy.LB = hf.LB
	}
	if hf.SSHConfig != "" {
		abs, err := filepath.Abs(hf.SSHConfig)
		if err != nil {
			return err
		}
		c.Deploy.SSHConfig = abs
		return revalidate(c)
	}
	if c.Deploy.SSHConfig != "" && !filepath.IsAbs(c.Deploy.SSHConfig) {
		c.Deploy.SSHConfig = filepath.Join(c.Dir(), c.Deploy.SSHConfig)
	}
	if err := revalidate(c); err != nil {
		return err
	}
	if c.Deploy.SSHConfig != "" && (len(c.Deploy.Hosts) > 0 || c.Deploy.LB != "") {
		return host.CheckProjectSSHConfig(c.Deploy.SSHConfig)
	}
	return nil
}

// hostDests are the SSH destinations of c in the order dialHosts returns
// their hosts: deploy.hosts, the lb (deploy.lb), then the hosts of their
// own that [services] run on (stack.Config.ServiceHosts).
func hostDests(c *stack.Config) []string {
	dests := append([]string(nil), c.Deploy.Hosts...)
	if c.Deploy.LB != "" {
		dests = append(dests, c.Deploy.LB)
	}
	return append(dests, c.ServiceHosts()...)
}

// onlyServiceHosts reports the --host values when every one names a host
// of its own of c's [services] ("postgres = { host = "db1" }"): setup and
// doctor then act on those hosts only, and deploy.hosts stay the app
// hosts, whose addresses the services let in. It clears hf.Hosts then.
func (hf *hostFlags) onlyServiceHosts(c *stack.Config) []string {
	own := c.ServiceHosts()
	if len(hf.Hosts) == 0 || len(own) == 0 {
		return nil
	}
	for _, d := range hf.Hosts {
		if !slices.Contains(own, d) {
			return nil
		}
	}
	only := hf.Hosts
	hf.Hosts = nil
	return only
}

// dialHosts connects to every host of c at once (hostDests), each with
// the same ssh config and host key checks. When one fails, the others are
// closed and the first error (in hostDests order) returned: nothing was
// sent to any host.
func dialHosts(ctx context.Context, c *stack.Config) ([]host.Host, func(), error) {
	dests := hostDests(c)
	hosts := make([]host.Host, len(dests))
	errs := make([]error, len(dests))
	var wg sync.WaitGroup
	for i, dest := range dests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := host.Dial(ctx, dest, host.SSHOptions{Config: c.Deploy.SSHConfig})
			if err == nil {
				hosts[i] = h
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	closeAll := func() {
		for _, h := range hosts {
			if h != nil {
				h.Close()
			}
		}
	}
	for _, err := range errs {
		if err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	return hosts, closeAll, nil
}

// noHostsError is the error of a server command run without hosts on a
// machine the release engine cannot act on (systemd does not run it).
func noHostsError(cmd string) error {
	return fmt.Errorf("%s: no hosts, and systemd does not run this machine (PID 1 is not systemd), so it has no releases here: name servers with --host web1 or deploy.hosts = [\"web1\"] in stack.toml", cmd)
}

// systemdRunning reports whether systemd runs this machine: without hosts,
// deploy and the day-two commands then act on it through the release
// engine, as on a server (host.Local).
var systemdRunning = func() bool { return deploy.RealSystem().SystemdRunning() }

// siteRenderer renders the nginx site for deploy from the project's Config.
func siteRenderer(c *stack.Config) func(*stack.Config, deploy.SiteOptions) ([]byte, error) {
	return func(sc *stack.Config, so deploy.SiteOptions) ([]byte, error) {
		return nginx.Render(sc, nginx.Options{NginxVersion: so.NginxVersion, HTTPSPort: so.HTTPSPort, ACMEChallenge: so.ACMEChallenge,
			UpstreamInclude: so.UpstreamInclude, ReleaseInclude: so.ReleaseInclude, TrustedProxies: so.TrustedProxies, Balancer: so.Balancer, Source: c.Path, StackctlVersion: Version()})
	}
}

// hostsOptions connects to c's hosts and returns the engine's options;
// done closes the connections.
// Without hosts the one host is this machine (host.Local), after a check
// that root commands can run here.
func hostsOptions(ctx context.Context, io *ui.IOStreams, c *stack.Config, dryRun bool) (deploy.HostsOptions, func(), error) {
	var hosts []host.Host
	done := func() {}
	if len(c.Deploy.Hosts) == 0 {
		if err := host.CheckLocal(ctx); err != nil {
			return deploy.HostsOptions{}, nil, err
		}
		hosts = []host.Host{host.Local{}}
	} else {
		var err error
		if hosts, done, err = dialHosts(ctx, c); err != nil {
			return deploy.HostsOptions{}, nil, err
		}
	}
	o := deploy.HostsOptions{Config: c, Hosts: hosts, DryRun: dryRun, Out: io.Out, Colors: io.OutColors(), RenderSite: siteRenderer(c), Live: io.OutTTY,
		HealthTimeout: c.Deploy.HealthTimeout.Duration()}
	if len(c.Deploy.Hosts) > 0 {
		o.Hosts, o.LB, o.ServiceHosts = splitHosts(c, hosts)
	}
	return o, done, nil
}

// splitHosts splits what dialHosts connected into the app hosts, the lb
// (nil without one) and the services' hosts of their own by destination.
func splitHosts(c *stack.Config, hosts []host.Host) (apps []host.Host, lb host.Host, services map[string]host.Host) {
	n := len(c.Deploy.Hosts)
	apps = hosts[:n]
	rest := hosts[n:]
	if c.Deploy.LB != "" {
		lb, rest = rest[0], rest[1:]
	}
	for i, d := range c.ServiceHosts() {
		if services == nil {
			services = map[string]host.Host{}
		}
		services[d] = rest[i]
	}
	return apps, lb, services
}

// onHosts connects to c's hosts, or takes this machine when c has none
// (Ctrl-C, SIGTERM and SIGHUP cancel ctx: interruptible), runs fn with
// the engine's options, and closes the connections.
func onHosts(ctx context.Context, io *ui.IOStreams, c *stack.Config, dryRun bool, fn func(context.Context, deploy.HostsOptions) error) error {
	ctx, stop := interruptible(ctx, io.ErrOut)
	defer stop()
	o, done, err := hostsOptions(ctx, io, c, dryRun)
	if err != nil {
		return err
	}
	defer done()
	return fn(ctx, o)
}

// runDeployHosts deploys to c's hosts, waiting at most lockWait for a
// lock another command holds.
func runDeployHosts(ctx context.Context, io *ui.IOStreams, c *stack.Config, dryRun bool, lockWait time.Duration) error {
	return onHosts(ctx, io, c, dryRun, func(ctx context.Context, o deploy.HostsOptions) error {
		o.LockWait = lockWait
		return deploy.DeployHosts(ctx, o)
	})
}

// runRollbackHosts rolls c's hosts back to release ("" for the previous
// one), waiting at most lockWait for a lock another command holds.
func runRollbackHosts(ctx context.Context, io *ui.IOStreams, c *stack.Config, dryRun bool, release string, lockWait time.Duration) error {
	return onHosts(ctx, io, c, dryRun, func(ctx context.Context, o deploy.HostsOptions) error {
		o.LockWait = lockWait
		return deploy.RollbackHosts(ctx, o, release)
	})
}

// addLockWaitFlag adds --lock-wait to deploy and rollback.
func addLockWaitFlag(c *cobra.Command, d *time.Duration) {
	c.Flags().DurationVar(d, "lock-wait", 0, "when another deploy or rollback holds a host's lock, wait up to this long for it (30s, 5m); default: stop at once, naming the holder")
}
