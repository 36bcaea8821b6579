package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/docker/api/types/container"
	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

const defaultStatsTableFormat = "table {{.Subdir}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.PIDs}}"

type statsOptions struct {
	refs     []string
	noStream bool
	noTrunc  bool
	format   string
	flags    *pflag.FlagSet
}

func newStatsCommand(dockerCLI command.Cli) *cobra.Command {
	var opts statsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [WORKSPACE...]",
		Short: "Display a live stream of the resource use of workspaces",
		Long: "Display what each running workspace uses, as docker stats does: its CPU (a share of one CPU),\n" +
			"its memory (without the page cache) against its limit, and its processes.\n" +
			"Without a WORKSPACE, every running workspace, followed as they start and stop. On Swarm, the\n" +
			"container of each workspace's task, asked of its node's engine.",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.refs, opts.flags = args, cmd.Flags()
			return runStats(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.BoolVar(&opts.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Do not truncate output")
	flags.StringVar(&opts.format, "format", "", `Format output: "table", "table TEMPLATE", "json" or a Go template`)
	return cmd
}

func runStats(ctx context.Context, dockerCLI command.Cli, opts *statsOptions) error {
	if err := validateRefs(opts.refs); err != nil {
		return err
	}
	format := formatter.Format(opts.format)
	if opts.format == "" || opts.format == formatter.TableFormatKey {
		format = defaultStatsTableFormat
	}
	if err := checkFormat(format, &statsContext{}); err != nil {
		return err
	}
	b, err := newBackend(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	for {
		if err := statsRound(ctx, b, opts, format); err != nil || opts.noStream {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// statsRound reads the stats of the workspaces once, and prints them (a
// stream redraws the screen, as docker stats does).
func statsRound(ctx context.Context, b *backend, opts *statsOptions, format formatter.Format) error {
	ws, err := statsTargets(ctx, b, opts.refs)
	if err != nil {
		return err
	}
	rows := collectStats(ctx, b, ws)
	for i := range rows {
		rows[i].trunc = !opts.noTrunc
	}
	out := b.dockerCLI.Out()
	if !opts.noStream && out.IsTerminal() {
		_, _ = fmt.Fprint(out, "\033[2J\033[H")
	}
	fctx := formatter.Context{Output: out, Format: format, Trunc: !opts.noTrunc}
	if err := fctx.Write(&statsContext{}, func(f func(formatter.SubContext) error) error {
		for i := range rows {
			if err := f(&rows[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if opts.noStream {
		return statsErr(rows, opts.refs)
	}
	return nil
}

// statsTargets are the workspaces refs name, or every running one.
func statsTargets(ctx context.Context, b *backend, refs []string) ([]sandbox.Workspace, error) {
	if len(refs) == 0 {
		all, err := b.List(ctx)
		if err != nil {
			return nil, engineErr(b.dockerCLI, err)
		}
		var ws []sandbox.Workspace
		for _, w := range all {
			if w.State == string(container.StateRunning) {
				ws = append(ws, w)
			}
		}
		return ws, nil
	}
	targets, err := b.Resolve(ctx, refs)
	if err != nil {
		return nil, engineErr(b.dockerCLI, hints(err, ""))
	}
	ws := make([]sandbox.Workspace, 0, len(targets))
	for _, t := range targets {
		switch {
		case t.Err != nil:
			return nil, t.Err
		case t.Workspace == nil:
			return nil, fmt.Errorf("%w: %s", sandbox.ErrNoSuchWorkspace, t.Ref)
		}
		ws = append(ws, *t.Workspace)
	}
	return ws, nil
}

// collectStats asks the engine of each workspace's container for its
// stats, all at once (as docker stats does: each answer takes the engine's
// two samples, a second or two): one row each, in order.
func collectStats(ctx context.Context, b *backend, ws []sandbox.Workspace) []statsContext {
	rows := make([]statsContext, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		rows[i] = statsContext{w: w}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[i].s, rows[i].err = workspaceStats(ctx, b, w)
		}()
	}
	wg.Wait()
	return rows
}

// workspaceStats is one sample of a workspace's container, with the one
// before it (the engine waits for two, for the CPU use between them).
func workspaceStats(ctx context.Context, b *backend, w sandbox.Workspace) (*container.StatsResponse, error) {
	loc, err := b.Locate(ctx, w)
	if err != nil {
		return nil, err
	}
	cli, err := b.engineCLI(loc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := cli.Client().ContainerStats(ctx, loc.ContainerID, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("read the stats of %s: %w", w.Name, err)
	}
	return &s, nil
}

// statsErr is the error of a --no-stream run: a named workspace whose
// stats could not be read (as docker stats fails for it).
func statsErr(rows []statsContext, refs []string) error {
	if len(refs) == 0 {
		return nil
	}
	for _, r := range rows {
		// A stopped one has its row, as docker stats of a stopped
		// container: no error (a service scaled to none has no task).
		if r.err != nil && !errors.Is(r.err, sandbox.ErrNotRunning) {
			return fmt.Errorf("workspace %q: %w", r.w.Subdir, r.err)
		}
	}
	return nil
}

// statsContext is a row of stats.
type statsContext struct {
	formatter.HeaderContext
	w     sandbox.Workspace
	s     *container.StatsResponse
	err   error
	trunc bool
}

func (c *statsContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }

func (c *statsContext) FullHeader() any {
	return formatter.SubHeaderContext{
		"Subdir": "SUBDIR", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
		"MemPerc": "MEM %", "PIDs": "PIDS",
	}
}

func (c *statsContext) Subdir() string { return printable(c.w.Subdir) }
func (c *statsContext) Name() string   { return c.w.Name }
func (c *statsContext) ID() string {
	if c.trunc {
		return formatter.TruncateID(c.w.ID)
	}
	return c.w.ID
}

// CPUPerc is the CPU used between the two samples, in % of one CPU (as
// docker stats: 200% is two CPUs busy).
func (c *statsContext) CPUPerc() string {
	if c.s == nil {
		return "--"
	}
	return fmt.Sprintf("%.2f%%", sandbox.CPUPercent(c.s))
}

// MemUsage is the memory used, without the page cache, and the limit.
func (c *statsContext) MemUsage() string {
	if c.s == nil {
		return "-- / --"
	}
	return units.BytesSize(sandbox.MemoryUsed(c.s.MemoryStats)) + " / " + units.BytesSize(float64(c.s.MemoryStats.Limit))
}

// MemPerc is the memory used, in % of the limit.
func (c *statsContext) MemPerc() string {
	if c.s == nil || c.s.MemoryStats.Limit == 0 {
		return "--"
	}
	return fmt.Sprintf("%.2f%%", sandbox.MemoryUsed(c.s.MemoryStats)/float64(c.s.MemoryStats.Limit)*100)
}

// PIDs is the number of processes (and threads) in the container.
func (c *statsContext) PIDs() string {
	if c.s == nil {
		return "--"
	}
	return fmt.Sprint(c.s.PidsStats.Current)
}
