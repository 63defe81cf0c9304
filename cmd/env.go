package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// envOptions are the inputs of `stackctl env set|unset|list`.
type envOptions struct {
	IO *ui.IOStreams
	// Prompter asks for the values of Read on a terminal.
	Prompter func() (ui.Prompter, error)
	Config   string
	Hosts    hostFlags
	JSON     bool
	// Action is "set", "unset" or "list".
	Action string
	// Set and Unset are the validated arguments.
	Set   map[string]string
	Unset []string
	// Read are the keys given without '=' to env set: their values come
	// from a hidden prompt, or from stdin when it is not a terminal.
	Read []string
}

func newCmdEnv(f *Factory) *cobra.Command { return newCmdEnvWith(f, runEnv) }

func newCmdEnvWith(f *Factory, runF func(context.Context, *envOptions) error) *cobra.Command {
	opts := &envOptions{IO: f.IO, Prompter: f.Prompter}
	env := &cobra.Command{
		Use:   "env",
		Short: "Set, unset and list the app's secrets on every host",
		Long: `Manage the app's secrets: environment variables kept on every host in
/etc/stackctl/<name>.env (0600, root), which the app's systemd unit loads.
Without hosts: this machine, when systemd runs it.

Values travel over the SSH session's stdin: never on a command line, and
never in stack.toml, a unit, stackctl's output, a --dry-run diff or a log.
Give a secret as 'env set KEY' (asked for, or read from stdin), not as
KEY=VALUE, which leaves it in your shell's history and this machine's
process list.
After a change the app restarts on each host through the two-slot switch
(the idle slot starts with the new secrets, nginx switches, the old slot
stops): no request fails. When a host fails, the hosts that already took
the change get their old secrets back, so every host has the same secrets.

app.env in stack.toml stays for values that are not secret.`,
		Example: `  stackctl env set SECRET_KEY                          # asks for the value, hidden
  openssl rand -hex 32 | stackctl env set SECRET_KEY   # or reads it from stdin
  stackctl env list
  stackctl env unset SECRET_KEY --host web1`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return c.Help() },
	}
	set := &cobra.Command{
		Use:   "set KEY[=VALUE]…",
		Short: "Give secrets a value on every host; the app restarts with no failed request",
		Long: `Give each KEY a value in the app's secrets on every host, then restart the
app through the two-slot switch.

A KEY alone keeps its value off the command line: on a terminal, stackctl
asks for it (the answer is not shown); otherwise the value is all of stdin,
with one trailing newline removed, so a pipe or a file can give it (several
lines, a PEM key). Stdin holds one value: with several KEYs alone, run
stackctl on a terminal, or once per KEY. An empty value read this way is
refused.

KEY=VALUE also works, but leaves VALUE in your shell's history and, while
stackctl runs, in the process list ('ps') of this machine: use KEY alone for
secrets.

A KEY must be an environment variable name (letters, digits, _; not
starting with a digit); a value may hold anything but a NUL byte, newlines
included. Bad arguments change nothing.`,
		Example: `  stackctl env set SECRET_KEY                           # asks for the value, hidden
  openssl rand -hex 32 | stackctl env set SECRET_KEY    # from a pipe
  stackctl env set TLS_KEY < key.pem                    # from a file, newlines and all
  stackctl env set DATABASE_URL API_TOKEN --host web1   # asks for each
  stackctl env set LOG_LEVEL=debug                      # not secret: fine on the command line`,
		RunE: func(c *cobra.Command, args []string) error {
			s, read, err := deploy.ParseSetArgs(args)
			if err != nil {
				return err
			}
			opts.Action, opts.Set, opts.Read = "set", s, read
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

// serverConfig loads the project and applies --host/--ssh-config. A
// project without hosts acts on this machine when systemd runs it, and is
// an error naming the command otherwise.
func serverConfig(path string, hf *hostFlags, what string) (*stack.Config, error) {
	c, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	if err := hf.apply(c); err != nil {
		return nil, err
	}
	if len(c.Deploy.Hosts) == 0 && !systemdRunning() {
		return nil, ui.WithFix(noHostsError(what), "name the hosts, or run it on the server itself")
	}
	return c, nil
}

func runEnv(ctx context.Context, o *envOptions) error {
	c, err := serverConfig(o.Config, &o.Hosts, "env "+o.Action)
	if err != nil {
		return err
	}
	// Every value is read before any host is reached: a refused value
	// changes nothing anywhere.
	if err := readSetValues(o); err != nil {
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
		where := strings.Join(c.Deploy.Hosts, ", ")
		if where == "" {
			where = host.Local{}.Name()
		}
		fmt.Fprintf(o.IO.Out, "%s has no secrets on %s (stackctl env set KEY)\n", c.Name, where)
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

// maxStdinValue is the longest value env set reads from stdin: Linux
// refuses to start a program with a longer environment string
// (MAX_ARG_STRLEN, 128 KiB), so the app could not start with it.
const maxStdinValue = 128<<10 - 1

// readSetValues reads the value of each key of o.Read into o.Set: on a
// terminal from a hidden prompt, else all of stdin (one value) with one
// trailing newline removed. An empty value, or one with a NUL byte, is
// refused, naming the key only.
func readSetValues(o *envOptions) error {
	if len(o.Read) == 0 {
		return nil
	}
	switch {
	case o.IO.CanPrompt():
		p, err := o.Prompter()
		if err != nil {
			return err
		}
		for _, k := range o.Read {
			v, err := p.Password("Value of "+k+":", "")
			if errors.Is(err, ui.ErrInterrupted) {
				return &ui.ExitError{Code: 130, Msg: "interrupted: nothing was changed"}
			}
			if err != nil {
				return err
			}
			if v == "" {
				return ui.Usagef("type the value, or to remove the key: stackctl env unset "+k, "%s: the value is empty; nothing was changed", k)
			}
			if err := deploy.CheckSecretValue(k, v); err != nil {
				return err
			}
			o.Set[k] = v
		}
		return nil
	case o.IO.InTTY:
		// Reading a terminal without a prompt would show the value as it is typed.
		return ui.Usagef("run it with stdout on the terminal to be asked, or give the value on stdin: stackctl env set "+o.Read[0]+" < FILE",
			"env set %s reads the value from a prompt, which needs stdout on a terminal too; nothing was changed", strings.Join(o.Read, " "))
	case len(o.Read) > 1:
		return ui.Usagef(fmt.Sprintf("one KEY per command when the value comes from stdin (stackctl env set %s < FILE), or run it on a terminal to be asked for each", o.Read[0]),
			"env set %s: stdin holds one value, and %d keys are without '='; nothing was changed", strings.Join(o.Read, " "), len(o.Read))
	}
	k := o.Read[0]
	data, err := io.ReadAll(io.LimitReader(o.IO.In, maxStdinValue+1))
	if err != nil {
		return fmt.Errorf("env set %s: read the value from stdin: %w", k, err)
	}
	if len(data) > maxStdinValue {
		return ui.Usagef("keep secrets under 128 KiB: Linux cannot start the app with a longer environment variable", "%s: more than 128 KiB on stdin; nothing was changed", k)
	}
	v := strings.TrimSuffix(string(data), "\n")
	if v == "" {
		return ui.Usagef("pipe the value in (openssl rand -hex 32 | stackctl env set "+k+"), or give a file (stackctl env set "+k+" < FILE); to remove the key: stackctl env unset "+k,
			"%s: stdin is empty, so there is no value to set; nothing was changed", k)
	}
	if err := deploy.CheckSecretValue(k, v); err != nil {
		return err
	}
	o.Set[k] = v
	return nil
}
