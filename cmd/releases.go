package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/deploy"
	"github.com/stackctl/stackctl/internal/ui"
)

// releasesOptions are the inputs of `stackctl releases`.
type releasesOptions struct {
	IO     *ui.IOStreams
	Config string
	Hosts  hostFlags
	JSON   bool
}

func newCmdReleases(f *Factory) *cobra.Command { return newCmdReleasesWith(f, runReleases) }

func newCmdReleasesWith(f *Factory, runF func(context.Context, *releasesOptions) error) *cobra.Command {
	opts := &releasesOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "releases",
		Short: "List each host's releases: id, current, when, by whom, commit",
		Long: `List the releases of the project on each host, oldest first: the id, which
one is current (and on which slot), when and by whom it was deployed, and the
git commit it was built from ("+changes" when the tree had uncommitted
changes). Releases pruned from disk are listed as such; 'stackctl rollback
RELEASE' takes any release still on disk.

Without hosts (--host, deploy.hosts) it acts on this machine when systemd
runs it, as root or with passwordless sudo.`,
		Example: `  stackctl releases --host web1
  stackctl releases --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runF(cmd.Context(), opts) },
	}
	addConfigFlag(cmd, &opts.Config)
	addHostFlags(cmd, &opts.Hosts)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON for scripts")
	return cmd
}

func runReleases(ctx context.Context, o *releasesOptions) error {
	c, err := serverConfig(o.Config, &o.Hosts, "releases")
	if err != nil {
		return err
	}
	var list []deploy.HostReleases
	err = onHosts(ctx, o.IO, c, false, func(ctx context.Context, ho deploy.HostsOptions) (err error) {
		list, err = deploy.ListReleases(ctx, ho)
		return err
	})
	if err != nil {
		return err
	}
	if o.JSON {
		type rel struct {
			ID         string `json:"id"`
			Current    bool   `json:"current"`
			OnDisk     bool   `json:"on_disk"`
			DeployedAt string `json:"deployed_at,omitempty"`
			By         string `json:"by,omitempty"`
			Commit     string `json:"commit,omitempty"`
		}
		type hostRel struct {
			Host     string `json:"host"`
			Slot     string `json:"slot"`
			Releases []rel  `json:"releases"`
		}
		out := []hostRel{}
		for _, h := range list {
			hr := hostRel{Host: h.Host, Slot: h.Slot, Releases: []rel{}}
			for _, r := range h.Releases {
				when := ""
				if !r.DeployedAt.IsZero() {
					when = r.DeployedAt.UTC().Format("2006-01-02T15:04:05Z")
				}
				hr.Releases = append(hr.Releases, rel{r.ID, r.Current, r.OnDisk, when, r.By, r.Commit})
			}
			out = append(out, hr)
		}
		return printJSON(o.IO.Out, out)
	}
	p := o.IO.OutColors()
	for i, h := range list {
		if i > 0 {
			fmt.Fprintln(o.IO.Out)
		}
		fmt.Fprintln(o.IO.Out, p.Bold(h.Host))
		if len(h.Releases) == 0 {
			fmt.Fprintln(o.IO.Out, "  no releases (deploy first)")
			continue
		}
		tw := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  RELEASE\tCURRENT\tDEPLOYED\tBY\tCOMMIT")
		for _, r := range h.Releases {
			cur := ""
			if r.Current {
				cur = "* slot " + h.Slot
			}
			when := "-"
			if !r.DeployedAt.IsZero() {
				when = r.DeployedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			id := r.ID
			if !r.OnDisk {
				id += " (pruned)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", id, cur, when, dash(r.By), dash(r.Commit))
		}
		tw.Flush()
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printJSON writes v to w as indented JSON, for --json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
