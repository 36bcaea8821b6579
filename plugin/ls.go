package plugin

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const defaultListTableFormat = "table {{.Subdir}}\t{{.Name}}\t{{.Status}}\t{{.Mode}}\t{{.Image}}\t{{.RunningFor}}\t{{if .Drift}}{{join .Drift \",\"}}{{else}}no{{end}}"

type listOptions struct {
	quiet   bool
	noTrunc bool
	format  string
	project string
	flags   *pflag.FlagSet
}

func newListCommand(dockerCLI command.Cli) *cobra.Command {
	var opts listOptions
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list", "ps"},
		Short:   "List workspace containers",
		Long: "List workspace containers. DRIFT names what of each container differs from the container\n" +
			"that ensure, with the same configuration (flags, environment, config.json), would make.",
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.flags = cmd.Flags()
			return runList(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completion.NoComplete,
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Only display container IDs")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.StringVar(&opts.format, "format", "", `Format output: "table", "table TEMPLATE", "json" or a Go template`)
	flags.StringVar(&opts.project, "compose-project", "", "Only the workspaces of this Compose project")
	addConfigFlags(flags)
	return cmd
}

func runList(ctx context.Context, dockerCLI command.Cli, opts *listOptions) error {
	m := newManager(dockerCLI, "")
	workspaces, err := m.List(ctx)
	if opts.project != "" {
		workspaces = slices.DeleteFunc(workspaces, func(w sandbox.Workspace) bool {
			return w.Labels[sandbox.LabelComposeProject] != opts.project
		})
	}
	if err == nil && !opts.quiet {
		err = checkDrift(ctx, dockerCLI, m, workspaces, opts)
	}
	if err != nil {
		if u := unreachable(dockerCLI, err); u != nil {
			return u
		}
		return err
	}
	fctx := formatter.Context{
		Output: dockerCLI.Out(),
		Format: listFormat(opts.format, opts.quiet),
		Trunc:  !opts.noTrunc,
	}
	return fctx.Write(newListContext(), func(format func(formatter.SubContext) error) error {
		now := time.Now()
		for _, w := range workspaces {
			if err := format(&listContext{w: w, trunc: fctx.Trunc, now: now}); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkDrift fills in the drift of the workspaces against the configuration;
// a configuration that does not resolve is a warning, not a failure of ls.
func checkDrift(ctx context.Context, dockerCLI command.Cli, m *sandbox.Manager, workspaces []sandbox.Workspace, opts *listOptions) error {
	cfg, err := projectConfig(ctx, dockerCLI, m, opts.flags, opts.project)
	if err != nil {
		// Without a configuration there is nothing to compare with; say why
		// only to someone who gave one.
		changed := false
		opts.flags.Visit(func(f *pflag.Flag) { changed = changed || f.Name != "format" && f.Name != "no-trunc" })
		if changed {
			_, _ = fmt.Fprintf(dockerCLI.Err(), "warning: cannot tell drift: %v\n", err)
		}
		for i := range workspaces {
			workspaces[i].Drift = []string{sandbox.DriftUnknown}
		}
		return nil
	}
	return m.CheckDrift(ctx, workspaces, cfg)
}

func listFormat(source string, quiet bool) formatter.Format {
	switch {
	case quiet:
		return formatter.DefaultQuietFormat
	case source == "" || source == formatter.TableFormatKey:
		return defaultListTableFormat
	}
	return formatter.Format(source)
}

// listContext renders one workspace of `ls`.
type listContext struct {
	formatter.HeaderContext
	w     sandbox.Workspace
	trunc bool
	now   time.Time
}

func newListContext() *listContext {
	return &listContext{HeaderContext: formatter.HeaderContext{Header: formatter.SubHeaderContext{
		"ID":         "CONTAINER ID",
		"Name":       "NAME",
		"Subdir":     "SUBDIR",
		"Mode":       "MODE",
		"Image":      "IMAGE",
		"State":      "STATE",
		"Status":     "STATUS",
		"CreatedAt":  "CREATED AT",
		"RunningFor": "CREATED",
		"Drift":      "DRIFT",
	}}}
}

func (c *listContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }

func (c *listContext) ID() string {
	if c.trunc {
		return formatter.TruncateID(c.w.ID)
	}
	return c.w.ID
}

func (c *listContext) Name() string   { return c.w.Name }
func (c *listContext) Subdir() string { return c.w.Subdir }
func (c *listContext) Mode() string   { return string(c.w.Mode) }
func (c *listContext) Image() string  { return c.w.Image }
func (c *listContext) State() string  { return c.w.State }
func (c *listContext) Status() string { return c.w.Status }

// Project is the Compose project the container was made for, if any.
func (c *listContext) Project() string { return c.w.Labels[sandbox.LabelComposeProject] }

func (c *listContext) CreatedAt() string { return c.w.Created.String() }

// Drift names what differs from the configuration.
func (c *listContext) Drift() []string {
	if c.w.Drift == nil {
		return []string{}
	}
	return c.w.Drift
}

func (c *listContext) RunningFor() string {
	return units.HumanDuration(c.now.Sub(c.w.Created)) + " ago"
}
