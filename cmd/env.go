package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// envOptions are the inputs of `stackctl env set|unset|list`.
type envOptions struct {
	IO     *ui.IOStreams
	Config string
	Hosts  hostFlags
	JSON   bool
	// Action is "set", "unset" or "list".
	Action string
	// Set and Unset are the validated arguments.
	Set   map[string]string
	Unset []string
}

func newCmdEnv(f *Factory) *cobra.Command { return newCmdEnvWith(f, runEnv) }

func newCmdEnvWith(f *Factory, runF func(context.Context, *envOptions) error) *cobra.Command {
	opts := &envOptions{IO: f.IO}
	env := &cobra.Command{
		Use:   "env",
		Short: "Set, unset and list the app's secrets on every host",
		Long: `Manage the app's secrets: environment variables kept on every host in
/etc/stackctl/<name>.env (0600, root), which the app's systemd unit loads.

Values travel over the SSH session's stdin: never on a command line, and
never in stack.toml, a unit, stackctl's output, a --dry-run diff or a log.
After a change the app restarts on each host through the two-slot switch
(the idle slot starts with the new secrets, nginx switches, the old slot
stops): no request fails. When a host fails, the hosts that already took
the change get their old secrets back, so every host has the same secrets.

app.env in stack.toml stays for values that are not secret.`,
		Example: `  stackctl env set DATABASE_URL=postgres://app@db/app SECRET_KEY="$(openssl rand -hex 32)"
  stackctl env list
  stackctl env unset SECRET_KEY --host web1`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return c.Help() },
	}
	set := &cobra.Command{
		Use:   "set KEY=VALUE…",
		Short: "Give secrets a value on every host; the app restarts with no failed request",
		Long: `Give each KEY its VALUE in the app's secrets on every host, then restart the
app through the two-slot switch. A KEY must be an environment variable name
(letters, digits, _; not starting with a digit); a VALUE may hold anything
but a NUL byte, newlines included. Bad arguments change nothing.

Mind your shell's history: a value typed on the command line stays there;
SECRET_KEY="$(cat secret.txt)" keeps it out.`,
		Example: `  stackctl env set DATABASE_URL=postgres://app@db/app
  stackctl env set SECRET_KEY="$(openssl rand -hex 32)" --host web1 --host web2`,
		RunE: func(c *cobra.Command, args []string) error {
			s, err := deploy.ParseSetArgs(args)
			if err != nil {
				return err
			}
			opts.Action, opts.Set = "set", s
			return runF(c.Context(), opts)
		},
	}
	unset := &cobra.Command{
		Use:   "unset KEY…",
		Short: "Remove secrets on every host; the app restarts with no failed request",
		Example: `  stackctl env unset SECRET_KEY
  stackctl env unset OLD_TOKEN OTHER_TOKEN --host web1`,
		RunE: func(c *cobra.Command, args []string) error {
			keys, err := deploy.ParseUnsetArgs(args)
			if err != nil {
				return err
			}
			opts.Action, opts.Unset = "unset", keys
			return runF(c.Context(), opts)
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the secrets' keys on every host (values masked)",
		Long: `List the keys of the app's secrets; values are always masked. A key that
only some hosts have is marked with the hosts that have it.`,
		Example: `  stackctl env list
  stackctl env list --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Action = "list"
			return runF(c.Context(), opts)
		},
	}
	list.Flags().BoolVar(&opts.JSON, "json", false, "print the keys of each host as JSON")
	for _, c := range []*cobra.Command{set, unset, list} {
		addConfigFlag(c, &opts.Config)
		addHostFlags(c, &opts.Hosts)
		env.AddCommand(c)
	}
	return env
}

// serverConfig loads the project and applies --host/--ssh-config; a
// project without hosts is an error naming the command.
func serverConfig(path string, hf *hostFlags, what string) (*stack.Config, error) {
	c, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	if err := hf.apply(c); err != nil {
		return nil, err
	}
	if len(c.Deploy.Hosts) == 0 {
		return nil, ui.WithFix(noHostsError(what), "name the hosts")
	}
	return c, nil
}

func runEnv(ctx context.Context, o *envOptions) error {
	c, err := serverConfig(o.Config, &o.Hosts, "env "+o.Action)
	if err != nil {
		return err
	}
	var list []deploy.HostSecrets
	err = onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) (err error) {
		if o.Action != "list" {
			return deploy.ChangeSecrets(ctx, ho, deploy.SecretsChange{Set: o.Set, Unset: o.Unset})
		}
		list, err = deploy.ListSecrets(ctx, ho)
		return err
	})
	if err != nil || o.Action != "list" {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		for i := range list {
			if list[i].Keys == nil {
				list[i].Keys = []string{}
			}
		}
		return enc.Encode(list)
	}
	have := map[string][]string{}
	var keys []string
	for _, h := range list {
		for _, k := range h.Keys {
			if have[k] == nil {
				keys = append(keys, k)
			}
			have[k] = append(have[k], h.Host)
		}
	}
	if len(keys) == 0 {
		fmt.Fprintf(o.IO.Out, "%s has no secrets on %s (stackctl env set KEY=VALUE)\n", c.Name, strings.Join(c.Deploy.Hosts, ", "))
		return nil
	}
	sort.Strings(keys)
	p := o.IO.OutColors()
	for _, k := range keys {
		note := ""
		if len(have[k]) != len(list) {
			note = "  " + p.Yellow("only on "+strings.Join(have[k], ", "))
		}
		fmt.Fprintf(o.IO.Out, "%s=%s%s\n", k, deploy.SecretsMask, note)
	}
	return nil
}
