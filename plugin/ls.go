package plugin

import (
	"context"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/cli/opts"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

const defaultListTableFormat = "table {{.Subdir}}\t{{.Name}}\t{{.Status}}\t{{.Mode}}\t{{.Image}}\t{{.RunningFor}}\t{{if .Drift}}{{join .Drift \",\"}}{{else}}no{{end}}"

// defaultNodesTableFormat is ls's table on an orchestrator of nodes: the
// node and the state of each workspace.
const defaultNodesTableFormat = "table {{.Subdir}}\t{{.Name}}\t{{.Node}}\t{{.State}}\t{{.Status}}\t{{.Image}}\t{{if .Drift}}{{join .Drift \",\"}}{{else}}no{{end}}"

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
		ValidArgsFunction:     cobra.NoFileCompletions,
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.BoolP("all", "a", false, "Accepted as docker ps takes it: ls always lists stopped workspaces too")
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
	_ = cmd.RegisterFlagCompletionFunc("filter", completeListFilter)
	return cmd
}

// completeListFilter completes ls's filter keys, and the values of those
// that have a few: status=, mode=, drift=.
func completeListFilter(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	values := map[string][]string{
		"status": {"created", "restarting", "running", "removing", "paused", "exited", "dead"},
		"mode":   {string(sandbox.ModeBind), string(sandbox.ModeVolumeSubpath)},
		"drift":  append([]string{"yes", "no"}, sandbox.DriftNames...),
	}
	if key, _, ok := strings.Cut(toComplete, "="); ok {
		var out []string
		for _, v := range values[key] {
			out = append(out, key+"="+v)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	return []string{"id=", "name=", "label=", "status=", "subdir=", "mode=", "compose-project=", "drift="},
		cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

func runList(ctx context.Context, dockerCLI command.Cli, options *listOptions) error {
	// Everything is checked before the engine is asked anything.
	b, err := newBackend(dockerCLI, options.flags, "")
	if err != nil {
		return err
	}
	format, f, err := listInputs(dockerCLI, options, b.Traits())
	if err != nil {
		return err
	}
	if options.project != "" {
		f.Add("compose-project", options.project)
	}
	lister := &lister{options: options, filters: f, check: options.checkConfig || configFlagsChanged(options.flags) || needsConfig(f)}
	if lister.check {
		if _, err := workspaceConfig(dockerCLI, options.flags); err != nil {
			return err
		}
	}
	var rows []listContext
	if options.allContexts {
		rows = lister.allContexts(ctx, dockerCLI)
	} else {
		workspaces, err := lister.list(ctx, b)
		if err != nil {
			return err
		}
		for _, w := range workspaces {
			rows = append(rows, listContext{w: w, context: dockerCLI.CurrentContext()})
		}
		if len(workspaces) == 0 {
			hintServices(dockerCLI, b, f.Len() > 0)
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
	for _, v := range f.Get("drift") {
		if v != "yes" && v != "no" && !slices.Contains(sandbox.DriftNames, v) {
			return usageError(fmt.Errorf("--filter: invalid drift %q: must be yes, no, or what drifted (%s)", v, strings.Join(sandbox.DriftNames, ", ")))
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

// lister lists the workspaces of an orchestrator, filtered, with their
// drift.
type lister struct {
	options *listOptions
	filters filters.Args
	check   bool // compare with the configuration (--check-config)
}

func (l *lister) list(ctx context.Context, b *backend) ([]sandbox.Workspace, error) {
	all, err := b.List(ctx)
	if err != nil {
		return nil, engineErr(b.dockerCLI, hints(err, ""))
	}
	workspaces := l.keep(all, matches)
	if l.options.quiet && !l.filters.Contains("drift") {
		return workspaces, nil
	}
	var cfg *sandbox.Config
	if l.check {
		c, err := commandConfig(ctx, b, l.options.flags, l.options.project)
		if err != nil {
			return nil, engineErr(b.dockerCLI, err)
		}
		cfg = &c
	}
	if err := b.CheckDrift(ctx, workspaces, cfg); err != nil {
		return nil, engineErr(b.dockerCLI, err)
	}
	workspaces = l.keepDrift(workspaces)
	for _, w := range workspaces {
		for _, warning := range w.Warnings {
			_, _ = fmt.Fprintf(b.dockerCLI.Err(), "warning: workspace %q (%s %s): %s\n", w.Subdir, b.Traits().Unit, w.Name, warning)
		}
	}
	return workspaces, nil
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

// needsConfig says whether a drift filter names what only a comparison
// with the configuration tells (all but image; yes and no): such a filter
// implies --check-config, rather than matching nothing.
func needsConfig(f filters.Args) bool {
	for _, v := range f.Get("drift") {
		switch v {
		case "yes", "no", sandbox.DriftImage, sandbox.DriftUnknown:
		default:
			return true
		}
	}
	return false
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

// allContexts lists the workspaces of every context, in parallel, each
// workspace once (by its ID), with the contexts that reach it; a context
// that cannot be reached is reported on stderr.
func (l *lister) allContexts(ctx context.Context, dockerCLI command.Cli) []listContext {
	names := contextNames(dockerCLI, dockerCLI.Err())
	results := make([][]sandbox.Workspace, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, contextTimeout)
			defer cancel()
			results[i], errs[i] = l.listContext(ctx, dockerCLI, name)
		}()
	}
	wg.Wait()
	// One row per workspace, in the order of its first context.
	var rows []listContext
	byID := map[string]int{}
	for i, name := range names {
		if errs[i] != nil {
			_, _ = fmt.Fprintf(dockerCLI.Err(), "warning: context %q: %v\n", name, errs[i])
			continue
		}
		for _, w := range results[i] {
			if j, seen := byID[w.ID]; seen {
				rows[j].context += "," + name
				continue
			}
			byID[w.ID] = len(rows)
			rows = append(rows, listContext{w: w, context: name})
		}
	}
	return rows
}

// contextNames are the names of every context of the store, sorted (the
// current one alone when the store cannot be listed, said on stderr).
func contextNames(dockerCLI command.Cli, stderr io.Writer) []string {
	list, err := dockerCLI.ContextStore().List()
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "warning: cannot list the contexts:", err)
		return []string{dockerCLI.CurrentContext()}
	}
	names := make([]string, 0, len(list))
	for _, c := range list { // the store holds the default context too
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return names
}

// listContext lists the workspaces of one context.
func (l *lister) listContext(ctx context.Context, dockerCLI command.Cli, name string) ([]sandbox.Workspace, error) {
	cli, err := contextCLI(dockerCLI, name)
	if err != nil {
		return nil, err
	}
	b, err := newBackend(cli, l.options.flags, "")
	if err != nil {
		return nil, err
	}
	return l.list(ctx, b)
}

// listInputs are the format and filters of ls, checked; -q with a
// --format warns, as docker ps does.
func listInputs(dockerCLI command.Cli, options *listOptions, traits sandbox.Traits) (formatter.Format, filters.Args, error) {
	if options.quiet && options.format != "" {
		_, _ = fmt.Fprintln(dockerCLI.Err(), "WARNING: Ignoring custom format, because both --format and --quiet are set.")
	}
	format := listFormat(options.format, options.quiet, options.allContexts, traits)
	if err := checkFormat(format, newListContext()); err != nil {
		return "", filters.Args{}, err
	}
	f := options.filter.Value()
	return format, f, checkListFilters(f)
}

func listFormat(source string, quiet, allContexts bool, traits sandbox.Traits) formatter.Format {
	table := defaultListTableFormat
	if traits.Nodes {
		table = defaultNodesTableFormat
	}
	switch {
	case quiet:
		return formatter.DefaultQuietFormat
	case (source == "" || source == formatter.TableFormatKey) && allContexts:
		return formatter.Format("table {{.Context}}\t" + table[len("table "):])
	case source == "" || source == formatter.TableFormatKey:
		return formatter.Format(table)
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
		"Egress":     "EGRESS",
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

// Image is the image reference the container was made from; the image
// ID where that is all there is (its tag moved on), short unless
// --no-trunc, as docker ps shows it.
func (c *listContext) Image() string {
	if c.trunc && strings.HasPrefix(c.w.Image, "sha256:") {
		return shortID(c.w.Image)
	}
	return c.w.Image
}
func (c *listContext) State() string { return c.w.State }

// Node is the node that runs the workspace (empty on one engine).
func (c *listContext) Node() string   { return c.w.Node }
func (c *listContext) Status() string { return c.w.Status }

// Egress is the egress mode the workspace was made with, and the
// operator's network it is on, if any.
func (c *listContext) Egress() string {
	s, ok := sandbox.RecordedSpec(c.w.Labels)
	switch {
	case !ok:
		return ""
	case s.Egress == "" && s.Network == "":
		return "open (the engine's default network)" // made before egress modes
	case s.Network != "":
		return string(sandbox.Config{Egress: s.Egress}.EgressMode()) + " (network " + s.Network + ")"
	}
	return string(s.Egress)
}

// Project is the Compose project the container was made for, if any (the
// PROJECT column).
func (c *listContext) Project() string { return c.w.Labels[sandbox.LabelComposeProject] }

// ComposeProject is Project under the name inspect gives it.
func (c *listContext) ComposeProject() string { return c.Project() }

// CreatedAt is to the second, as docker ps says it (a Swarm service's
// creation time has nanoseconds).
func (c *listContext) CreatedAt() string { return c.w.Created.Truncate(time.Second).String() }

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
	for _, k := range slices.Sorted(maps.Keys(c.w.Labels)) {
		out = append(out, k+"="+c.w.Labels[k])
	}
	return strings.Join(out, ",")
}

// Label is the value of one label, as docker ps's {{.Label "k"}}.
func (c *listContext) Label(name string) string { return c.w.Labels[name] }

// hintServices says, when ls of an engine found no workspace container,
// that the engine manages a Swarm whose workspaces may be services (what
// the docker CLI's own ping told: no call more).
func hintServices(dockerCLI command.Cli, b *backend, filtered bool) {
	if st := dockerCLI.ServerInfo().SwarmStatus; b.Traits().Name == orchestratorEngine && st != nil && st.ControlAvailable {
		what := "no workspace containers on this engine"
		if filtered {
			what = "no workspace container on this engine matches"
		}
		_, _ = fmt.Fprintln(dockerCLI.Err(), what+"; it manages a Swarm, whose workspaces run as services: docker workspace ls --orchestrator swarm")
	}
}
