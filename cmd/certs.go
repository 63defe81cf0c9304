package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// certsOptions are the inputs of `stackctl certs …`.
type certsOptions struct {
	IO     *ui.IOStreams
	Config string
	Hosts  hostFlags
	Force  bool
	JSON   bool
}

func newCmdCerts(f *Factory) *cobra.Command {
	opts := &certsOptions{IO: f.IO}
	certs := &cobra.Command{
		Use:   "certs",
		Short: "Show and renew the site's TLS certificates on the servers",
		Long: `The site's TLS certificate lives on the host that terminates TLS: the lb when
deploy.lb is set, else each app host. With nginx.tls.enabled and no
nginx.tls.cert of your own, deploy gets it from nginx.tls.acme_server (Let's
Encrypt by default) with Debian's certbot, and certbot.timer renews it 30 days
before it expires; a deploy hook then checks nginx -t and reloads nginx
gracefully (requests in flight finish, none fails).

  list           each certificate's names, expiry and issuer (also in 'stackctl status')
  renew          renew now when due; with --force, whether due or not`,
		Example: `  stackctl certs list
  stackctl certs renew
  stackctl certs renew --force`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return c.Help() },
	}
	sub := func(use, short string, run func(context.Context, *certsOptions, *stack.Config) error) *cobra.Command {
		cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, a []string) error {
				conf, err := serverConfig(opts.Config, &opts.Hosts, "certs")
				if err != nil {
					return err
				}
				if !conf.Nginx.TLS.Enabled {
					return ui.Usagef("set enabled = true under [nginx.tls] in "+conf.Path+", then deploy", "%s serves no HTTPS: nginx.tls.enabled is off", conf.Name)
				}
				return run(c.Context(), opts, conf)
			}}
		addConfigFlag(cmd, &opts.Config)
		addHostFlags(cmd, &opts.Hosts)
		certs.AddCommand(cmd)
		return cmd
	}
	list := sub("list", "List the site's certificates: names, expiry, issuer", runCertsList)
	list.Flags().BoolVar(&opts.JSON, "json", false, "print JSON for scripts")
	renew := sub("renew", "Renew the site's certificates now (certbot renew; nginx reloads gracefully)", runCertsRenew)
	renew.Flags().BoolVar(&opts.Force, "force", false, "renew even when the certificate is not due (30 days before it expires)")
	renew.Example = `  stackctl certs renew
  stackctl certs renew --force`
	return certs
}

func runCertsList(ctx context.Context, o *certsOptions, c *stack.Config) error {
	return onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
		list, err := deploy.Certs(ctx, ho)
		if err != nil {
			return err
		}
		if o.JSON {
			return printJSON(o.IO.Out, list)
		}
		if len(list) == 0 {
			fmt.Fprintf(o.IO.Out, "no certificate at %s yet: deploy gets it\n", c.CertPath())
		}
		for _, cs := range list {
			fmt.Fprintf(o.IO.Out, "%s  %s\n", cs.Host, certLine(cs, time.Now()))
		}
		return nil
	})
}

func runCertsRenew(ctx context.Context, o *certsOptions, c *stack.Config) error {
	return onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) error {
		_, err := deploy.RenewCerts(ctx, ho, o.Force)
		return err
	})
}
