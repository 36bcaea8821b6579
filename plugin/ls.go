package plugin

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
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
	quiet       bool
	noTrunc     bool
	format      string
	project     string
	allContexts bool
	flags       *pflag.FlagSet
}

// contextTimeout bounds how long ls --all-contexts waits for one engine.
const contextTimeout = 10 * time.Second

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
	flags.BoolVar(&opts.allContexts, "all-contexts", false, "List the workspaces of every Docker context (a CONTEXT column); unreachable contexts are reported, not fatal")
	addConfigFlags(flags)
	return cmd
}

func runList(ctx context.Context, dockerCLI command.Cli, opts *listOptions) error {
	var rows []listContext
	if opts.allContexts {
		rows = listAllContexts(ctx, dockerCLI, opts)
	} else {
		workspaces, err := listContextWorkspaces(ctx, dockerCLI, opts)
		if err != nil {
			if u := unreachable(dockerCLI, err); u != nil {
				return u
			}
			return err
		}
		for _, w := range workspaces {
			rows = append(rows, listContext{w: w, context: dockerCLI.CurrentContext()})
		}
	}
	fctx := formatter.Context{
		Output: dockerCLI.Out(),
		Format: listFormat(opts.format, opts.quiet, opts.allContexts),
		Trunc:  !opts.noTrunc,
	}
	return fctx.Write(newListContext(), func(format func(formatter.SubContext) error) error {
		now := time.Now()
		for _, r := range rows {
			r.trunc, r.now = fctx.Trunc, now
			if err := format(&r); err != nil {
				return err
			}
		}
		return nil
	})
}

// listContextWorkspaces lists the workspaces of one engine, with their drift.
func listContextWorkspaces(ctx context.Context, dockerCLI command.Cli, opts *listOptions) ([]sandbox.Workspace, error) {
	m, err := newManager(dockerCLI, opts.flags, "")
	if err != nil {
		return nil, err
	}
	workspaces, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	if opts.project != "" {
		workspaces = slices.DeleteFunc(workspaces, func(w sandbox.Workspace) bool {
			return w.Labels[sandbox.LabelComposeProject] != opts.project
		})
	}
	if !opts.quiet {
		err = checkDrift(ctx, dockerCLI, m, workspaces, opts)
	}
	return workspaces, err
}

// listAllContexts lists the workspaces of every context at once; one that
// cannot be reached is reported on stderr.
func listAllContexts(ctx context.Context, dockerCLI command.Cli, opts *listOptions) []listContext {
	// The CLI's store holds the default context too.
	names := []string{dockerCLI.CurrentContext()}
	if list, err := dockerCLI.ContextStore().List(); err == nil {
		names = names[:0]
		for _, c := range list {
			names = append(names, c.Name)
		}
	} else {
		_, _ = fmt.Fprintln(dockerCLI.Err(), "warning: cannot list the contexts:", err)
	}
	sort.Strings(names)
	type result struct {
		workspaces []sandbox.Workspace
		err        error
	}
	results := make([]result, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli, err := contextCLI(dockerCLI, name)
			if err != nil {
				results[i].err = fmt.Errorf("context %q: %w", name, err)
				return
			}
			ctx, cancel := context.WithTimeout(ctx, contextTimeout)
			defer cancel()
			ws, err := listContextWorkspaces(ctx, cli, opts)
			if u := unreachable(cli, err); u != nil {
				err = u
			} else if err != nil {
				err = fmt.Errorf("context %q: %w", name, err)
			}
			results[i] = result{ws, err}
		}()
	}
	wg.Wait()
	var rows []listContext
	for i, r := range results {
		if r.err != nil {
			_, _ = fmt.Fprintln(dockerCLI.Err(), "warning:", r.err)
			continue
		}
		for _, w := range r.workspaces {
			rows = append(rows, listContext{w: w, context: names[i]})
		}
	}
	return rows
}

// checkDrift fills in the drift of the workspaces against the configuration;
// a configuration that does not resolve is a warning, not a failure of ls.
func checkDrift(ctx context.Context, dockerCLI command.Cli, m *sandbox.Manager, workspaces []sandbox.Workspace, opts *listOptions) error {
	cfg, err := projectConfig(ctx, dockerCLI, m, opts.flags, opts.project)
	if err != nil {
		// Without a configuration there is nothing to compare with; say why
		// only to someone who gave one.
		changed := false
		opts.flags.Visit(func(f *pflag.Flag) {
			changed = changed || !slices.Contains([]string{"format", "no-trunc", "quiet", "all-contexts"}, f.Name)
		})
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

func listFormat(source string, quiet, allContexts bool) formatter.Format {
	switch {
	case quiet:
		return formatter.DefaultQuietFormat
	case (source == "" || source == formatter.TableFormatKey) && allContexts:
		return formatter.Format("table {{.Context}}\t" + defaultListTableFormat[len("table "):])
	case source == "" || source == formatter.TableFormatKey:
		return defaultListTableFormat
	}
	return formatter.Format(source)
}

// listContext renders one workspace of `ls`.
type listContext struct {
	formatter.HeaderContext
	w       sandbox.Workspace
	context string
	trunc   bool
	now     time.Time
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
		"Project":    "PROJECT",
		"Context":    "CONTEXT",
	}}}
}

func (c *listContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }

func (c *listContext) ID() string {
	if c.trunc {
		return formatter.TruncateID(c.w.ID)
	}
	return c.w.ID
}

func (c *listContext) Name() string { return c.w.Name }

// Context is the Docker context of the engine that runs the container.
func (c *listContext) Context() string { return c.context }
func (c *listContext) Subdir() string  { return c.w.Subdir }
func (c *listContext) Mode() string    { return string(c.w.Mode) }
func (c *listContext) Image() string   { return c.w.Image }
func (c *listContext) State() string   { return c.w.State }
func (c *listContext) Status() string  { return c.w.Status }

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
