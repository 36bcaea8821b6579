package plugin

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/cli/opts"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const defaultListTableFormat = "table {{.Subdir}}\t{{.Name}}\t{{.Status}}\t{{.Mode}}\t{{.Image}}\t{{.RunningFor}}\t{{if .Drift}}{{join .Drift \",\"}}{{else}}no{{end}}"

// defaultSwarmTableFormat is ls's table on Swarm: the node and the state of
// each workspace's task.
const defaultSwarmTableFormat = "table {{.Subdir}}\t{{.Name}}\t{{.Node}}\t{{.State}}\t{{.Status}}\t{{.Image}}\t{{if .Drift}}{{join .Drift \",\"}}{{else}}no{{end}}"

type listOptions struct {
	quiet       bool
	noTrunc     bool
	format      string
	filter      opts.FilterOpt
	project     string
	allContexts bool
	checkConfig bool
	flags       *pflag.FlagSet
}

// listFilters are the keys of ls --filter: docker ps's where they apply,
// and the workspace's own.
var listFilters = map[string]bool{
	"id": true, "name": true, "label": true, "status": true,
	"subdir": true, "mode": true, "compose-project": true, "drift": true,
}

// contextTimeout bounds how long ls --all-contexts waits for one engine.
const contextTimeout = 10 * time.Second

func newListCommand(dockerCLI command.Cli) *cobra.Command {
	options := listOptions{filter: opts.NewFilterOpt()}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list", "ps"},
		Short:   "List workspace containers",
		Long: "List workspace containers. DRIFT names what changed under a container since it was made\n" +
			"(\"image\": its image reference names another image now). With --check-config it names\n" +
			"instead what differs from the container that ensure, with the configuration (the flags of\n" +
			"ensure, the environment, config.json), would make.",
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			options.flags = cmd.Flags()
			return runList(cmd.Context(), dockerCLI, &options)
		},
		ValidArgsFunction:     completion.NoComplete,
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.BoolVarP(&options.quiet, "quiet", "q", false, "Only display container IDs")
	flags.BoolVar(&options.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.StringVar(&options.format, "format", "", `Format output: "table", "table TEMPLATE", "json" or a Go template`)
	flags.VarP(&options.filter, "filter", "f", `Filter output based on conditions provided (id, name, label, status, subdir, mode, compose-project, drift=yes|no|WHAT)`)
	flags.StringVar(&options.project, "compose-project", "", "Only the workspaces of this Compose project")
	flags.BoolVar(&options.allContexts, "all-contexts", false, "List the workspaces of every Docker context's engine (a CONTEXT column); unreachable contexts are reported, not fatal")
	flags.BoolVar(&options.checkConfig, "check-config", false, "Compare each container with the configuration (ensure's flags, which ls takes too, the environment, config.json)")
	addConfigFlags(flags)
	flags.VisitAll(func(f *pflag.Flag) {
		if _, ok := f.Annotations[configAnnotation]; ok {
			f.Hidden = true // they matter with --check-config only
		}
	})
	completeConfigFlags(cmd, dockerCLI)
	_ = cmd.RegisterFlagCompletionFunc("filter", completion.FromList("id=", "name=", "label=", "status=", "subdir=", "mode=", "compose-project=", "drift="))
	return cmd
}

func runList(ctx context.Context, dockerCLI command.Cli, options *listOptions) error {
	// Everything is checked before the engine is asked anything.
	swarmMode, err := onSwarm(dockerCLI, options.flags)
	if err != nil {
		return err
	}
	if swarmMode && options.allContexts {
		return usageError(errors.New("--all-contexts lists engines: leave out --orchestrator swarm"))
	}
	format := listFormat(options.format, options.quiet, options.allContexts)
	if swarmMode && (options.format == "" || options.format == formatter.TableFormatKey) && !options.quiet {
		format = defaultSwarmTableFormat
	}
	if err := checkFormat(format, newListContext()); err != nil {
		return err
	}
	f := options.filter.Value()
	if err := checkListFilters(f); err != nil {
		return err
	}
	if options.project != "" {
		f.Add("compose-project", options.project)
	}
	var cfg *sandbox.Config
	if options.checkConfig || configFlagsChanged(options.flags) {
		c, err := workspaceConfig(dockerCLI, options.flags)
		if err != nil {
			return err
		}
		cfg = &c
	}
	if _, err := apiTimeout(dockerCLI, options.flags); err != nil {
		return err
	}
	lister := &lister{options: options, filters: f, cfg: cfg, swarm: swarmMode}
	var rows []listContext
	if options.allContexts {
		rows = lister.allContexts(ctx, dockerCLI)
	} else {
		workspaces, err := lister.list(ctx, dockerCLI)
		if err != nil {
			return err
		}
		for _, w := range workspaces {
			rows = append(rows, listContext{w: w, context: dockerCLI.CurrentContext()})
		}
	}
	fctx := formatter.Context{Output: dockerCLI.Out(), Format: format, Trunc: !options.noTrunc}
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

// checkListFilters refuses an unknown filter key or a value that can never
// match.
func checkListFilters(f filters.Args) error {
	if err := f.Validate(listFilters); err != nil {
		return usageError(fmt.Errorf("--filter: %w", err))
	}
	for _, v := range f.Get("status") {
		switch container.ContainerState(v) {
		case container.StateCreated, container.StateRunning, container.StatePaused, container.StateRestarting,
			container.StateRemoving, container.StateExited, container.StateDead:
		default:
			return usageError(fmt.Errorf("--filter: invalid status %q: must be created, restarting, running, removing, paused, exited or dead", v))
		}
	}
	for _, v := range f.Get("mode") {
		if _, err := sandbox.ParseMountMode(v); err != nil {
			return usageError(fmt.Errorf("--filter: %w", err))
		}
	}
	for _, v := range f.Get("name") {
		if _, err := regexp.Compile(v); err != nil {
			return usageError(fmt.Errorf("--filter: invalid name %q: %w", v, err))
		}
	}
	return nil
}

// lister lists the workspaces of an engine, filtered, with their drift.
type lister struct {
	options *listOptions
	filters filters.Args
	cfg     *sandbox.Config // with --check-config
	swarm   bool
}

func (l *lister) list(ctx context.Context, dockerCLI command.Cli) ([]sandbox.Workspace, error) {
	if l.swarm {
		return l.listSwarm(ctx, dockerCLI)
	}
	m, err := newManager(dockerCLI, l.options.flags, "")
	if err != nil {
		return nil, err
	}
	all, err := m.List(ctx)
	if err != nil {
		return nil, engineErr(dockerCLI, err)
	}
	workspaces := l.keep(all, matches)
	if l.options.quiet && !l.filters.Contains("drift") {
		return workspaces, nil
	}
	if l.cfg != nil {
		cfg, err := projectConfig(ctx, dockerCLI, m, *l.cfg, l.options.project)
		if err == nil {
			err = m.CheckDrift(ctx, workspaces, cfg)
		}
		if err != nil {
			return nil, engineErr(dockerCLI, err)
		}
	} else if err := m.ImageDrift(ctx, workspaces); err != nil {
		return nil, engineErr(dockerCLI, err)
	}
	return l.keepDrift(workspaces), nil
}

// keep keeps the workspaces that match the filters as match says.
func (l *lister) keep(ws []sandbox.Workspace, match func(filters.Args, sandbox.Workspace) bool) []sandbox.Workspace {
	var kept []sandbox.Workspace
	for _, w := range ws {
		if match(l.filters, w) {
			kept = append(kept, w)
		}
	}
	return kept
}

// keepDrift applies the drift filter, once drift is known.
func (l *lister) keepDrift(ws []sandbox.Workspace) []sandbox.Workspace {
	if !l.filters.Contains("drift") {
		return ws
	}
	return l.keep(ws, func(f filters.Args, w sandbox.Workspace) bool { return matchesDrift(f, w.Drift) })
}

// listSwarm lists the workspace services of a Swarm; what needs an
// operator (a container that may outlive a node that is down) is said on
// stderr.
func (l *lister) listSwarm(ctx context.Context, dockerCLI command.Cli) ([]sandbox.Workspace, error) {
	s, _, err := newSwarm(ctx, dockerCLI, "")
	if err != nil {
		return nil, err
	}
	all, err := s.List(ctx)
	if err != nil {
		return nil, engineErr(dockerCLI, err)
	}
	workspaces := l.keep(all, matches)
	if l.cfg != nil {
		s.CheckDrift(workspaces, *l.cfg)
	}
	workspaces = l.keepDrift(workspaces)
	for _, w := range workspaces {
		for _, warning := range w.Warnings {
			_, _ = fmt.Fprintf(dockerCLI.Err(), "warning: workspace %q (service %s): %s\n", w.Subdir, w.Name, warning)
		}
	}
	return workspaces, nil
}

// matches applies the filters but drift, as docker ps does: the values of
// one key are alternatives, the keys all apply.
func matches(f filters.Args, w sandbox.Workspace) bool {
	prefixOf := func(key, s string) bool {
		vals := f.Get(key)
		for _, v := range vals {
			if strings.HasPrefix(s, v) {
				return true
			}
		}
		return len(vals) == 0
	}
	exact := func(key, s string) bool { return !f.Contains(key) || f.ExactMatch(key, s) }
	return prefixOf("id", w.ID) &&
		(!f.Contains("name") || f.Match("name", w.Name) || f.Match("name", "/"+w.Name)) &&
		f.MatchKVList("label", w.Labels) &&
		exact("status", w.State) &&
		exact("subdir", w.Subdir) &&
		exact("mode", string(w.Mode)) &&
		exact("compose-project", w.Labels[sandbox.LabelComposeProject])
}

// matchesDrift: "yes" (any drift), "no" (none), or what drifted ("image").
func matchesDrift(f filters.Args, drift []string) bool {
	for _, v := range f.Get("drift") {
		switch {
		case v == "yes" && len(drift) > 0, v == "no" && len(drift) == 0:
			return true
		}
		for _, d := range drift {
			if d == v {
				return true
			}
		}
	}
	return false
}

// allContexts lists the workspaces of the engine of every context, each
// engine once (by its ID), with the contexts that reach it; a context that
// cannot be reached is reported on stderr.
func (l *lister) allContexts(ctx context.Context, dockerCLI command.Cli) []listContext {
	names := []string{dockerCLI.CurrentContext()}
	if list, err := dockerCLI.ContextStore().List(); err == nil {
		names = names[:0]
		for _, c := range list { // the store holds the default context too
			names = append(names, c.Name)
		}
	} else {
		_, _ = fmt.Fprintln(dockerCLI.Err(), "warning: cannot list the contexts:", err)
	}
	sort.Strings(names)
	type engine struct {
		cli command.Cli
		id  string
		err error
	}
	engines := make([]engine, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli, err := contextCLI(dockerCLI, name)
			if err != nil {
				engines[i].err = fmt.Errorf("context %q: %w", name, err)
				return
			}
			ctx, cancel := context.WithTimeout(ctx, contextTimeout)
			defer cancel()
			info, err := cli.Client().Info(ctx)
			if err != nil {
				engines[i].err = engineErr(cli, err)
				return
			}
			engines[i] = engine{cli: cli, id: info.ID}
		}()
	}
	wg.Wait()
	// One listing per engine, in the order of its first context.
	contexts := map[string][]string{}
	var order []int
	for i, e := range engines {
		if e.err != nil {
			_, _ = fmt.Fprintln(dockerCLI.Err(), "warning:", e.err)
			continue
		}
		if _, seen := contexts[e.id]; !seen {
			order = append(order, i)
		}
		contexts[e.id] = append(contexts[e.id], names[i])
	}
	results := make([][]sandbox.Workspace, len(engines))
	errs := make([]error, len(engines))
	for _, i := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, contextTimeout)
			defer cancel()
			results[i], errs[i] = l.list(ctx, engines[i].cli)
		}()
	}
	wg.Wait()
	var rows []listContext
	for _, i := range order {
		if errs[i] != nil {
			_, _ = fmt.Fprintf(dockerCLI.Err(), "warning: context %q: %v\n", names[i], errs[i])
			continue
		}
		for _, w := range results[i] {
			rows = append(rows, listContext{w: w, context: strings.Join(contexts[engines[i].id], ",")})
		}
	}
	return rows
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
		"Names":      "NAMES",
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
		"Labels":     "LABELS",
		"Node":       "NODE",
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

// Names is the container's name, as `docker ps` calls it.
func (c *listContext) Names() string { return c.w.Name }

// Context is the Docker context (contexts, with --all-contexts) of the
// engine that runs the container.
func (c *listContext) Context() string { return c.context }

// Subdir is shown with what could deceive the eye escaped.
func (c *listContext) Subdir() string { return printable(c.w.Subdir) }
func (c *listContext) Mode() string   { return string(c.w.Mode) }
func (c *listContext) Image() string  { return c.w.Image }
func (c *listContext) State() string  { return c.w.State }

// Node is the Swarm node of the workspace's task (empty on one engine).
func (c *listContext) Node() string   { return c.w.Node }
func (c *listContext) Status() string { return c.w.Status }

// Project is the Compose project the container was made for, if any.
func (c *listContext) Project() string { return c.w.Labels[sandbox.LabelComposeProject] }

func (c *listContext) CreatedAt() string { return c.w.Created.String() }

// Drift names what changed under the container (or, with --check-config,
// what differs from the configuration).
func (c *listContext) Drift() []string {
	if c.w.Drift == nil {
		return []string{}
	}
	return c.w.Drift
}

func (c *listContext) RunningFor() string {
	return units.HumanDuration(c.now.Sub(c.w.Created)) + " ago"
}

// Labels are the container's labels, "k=v" joined by commas, as docker ps.
func (c *listContext) Labels() string {
	var out []string
	for _, k := range sortedKeys(c.w.Labels) {
		out = append(out, k+"="+c.w.Labels[k])
	}
	return strings.Join(out, ",")
}

// Label is the value of one label, as docker ps's {{.Label "k"}}.
func (c *listContext) Label(name string) string { return c.w.Labels[name] }
