package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// defaultParallel is how many workspaces one ensure handles at once.
const defaultParallel = 8

type ensureOptions struct {
	subdirs  []string
	format   string
	parallel int
	project  string
	flags    *pflag.FlagSet
}

func newEnsureCommand(dockerCLI command.Cli, build BuildInfo) *cobra.Command {
	var opts ensureOptions
	cmd := &cobra.Command{
		Use: "ensure [OPTIONS] SUBDIR [SUBDIR...]",
		// docker's words for making or starting a container: ensure does both.
		SuggestFor: []string{"start", "create", "run", "up"},
		Short:      "Make sure the sandbox container of each workspace exists and runs",
		Long: "Make sure the sandbox container of each workspace exists and runs: create it (and pull\n" +
			"its image) if missing, start it if stopped, leave it alone if running. Prints the\n" +
			"container ID of each workspace.\n\n" + environmentHelp(),
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.subdirs = args
			opts.flags = cmd.Flags()
			return runEnsure(cmd.Context(), dockerCLI, build, &opts)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	addConfigFlags(flags)
	flags.StringVar(&opts.format, "format", "", `Format output: "table", "table TEMPLATE", "json", or a Go template (default: the container ID)`)
	flags.IntVar(&opts.parallel, "parallel", defaultParallel, "How many workspaces to ensure at once")
	flags.StringVar(&opts.project, "compose-project", "", "Make the workspaces for a Compose project: label them, and take short volume and network names as the project's")
	completeConfigFlags(cmd, dockerCLI)
	return cmd
}

func runEnsure(ctx context.Context, dockerCLI command.Cli, build BuildInfo, opts *ensureOptions) error {
	// Everything is checked before the engine is asked anything.
	format, err := checkEnsureOptions(opts)
	if err != nil {
		return err
	}
	on, err := enabled(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	b, err := newBackend(dockerCLI, opts.flags, build.Version)
	if err != nil {
		return err
	}
	if !on {
		_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace: %s is false: not ensuring any container\n", disabledBy(dockerCLI, opts.flags))
		return nil
	}
	cfg, err := commandConfig(ctx, b, opts.flags, opts.project)
	if err != nil {
		return err
	}
	if err := checkNotNames(ctx, b, opts.subdirs, "ensure"); err != nil {
		return err
	}
	if format == defaultEnsureTableFormat && b.Traits().Nodes {
		format = defaultNodesEnsureTableFormat
	}
	shared := sandbox.NewShared() // one pull, one inspect, for all
	rep := &ensureReport{
		dockerCLI: dockerCLI, traits: b.Traits(), fctx: formatter.Context{Output: dockerCLI.Out(), Format: format},
		note: remoteBindNote(dockerCLI, cfg), // said once, when the engine has answered
	}
	err = eachParallel(ctx, opts.subdirs, opts.parallel, func(ctx context.Context, subdir string) (sandbox.Result, error) {
		return b.Ensure(ctx, subdir, cfg, sandbox.WithShared(shared), sandbox.WithDriftEvent())
	}, rep.add)
	if werr := rep.flush(); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	return rep.failed.err()
}

// checkEnsureOptions refuses bad subdirs and options, and returns the
// output's format.
func checkEnsureOptions(opts *ensureOptions) (formatter.Format, error) {
	if err := validateSubdirs(opts.subdirs); err != nil {
		return "", err
	}
	if err := checkArgsOverlap(opts.subdirs); err != nil {
		return "", err
	}
	if opts.parallel < 1 {
		return "", usageError(fmt.Errorf("invalid --parallel %d: must be at least 1", opts.parallel))
	}
	format := ensureFormat(opts.format)
	return format, checkFormat(format, &ensureContext{})
}

// checkArgsOverlap refuses two subdirs of one call of which one is inside
// the other: the arguments alone say it, so nothing is made (new-user pass
// 12: one of the two was made, whichever the engine took first).
func checkArgsOverlap(subdirs []string) error {
	for _, a := range subdirs {
		for _, b := range subdirs {
			if strings.HasPrefix(b, a+"/") {
				return usageError(fmt.Errorf("%w: %q is inside %q; nothing was made", sandbox.ErrOverlap, b, a))
			}
		}
	}
	return nil
}

// ensureReport tells what ensure did of each workspace, in the order
// given: a table once all are done, any other format as each is.
type ensureReport struct {
	dockerCLI command.Cli
	traits    sandbox.Traits
	fctx      formatter.Context
	note      string
	rows      []sandbox.Result
	failed    failures
}

func (r *ensureReport) add(subdir string, res sandbox.Result, err error) error {
	if r.note != "" {
		_, _ = fmt.Fprintln(r.dockerCLI.Err(), "warning:", r.note)
		r.note = ""
	}
	if err != nil {
		r.failed.add(subdir, hints(err, subdir))
		return nil
	}
	warnDrift(r.dockerCLI.Err(), r.traits, subdir, res)
	if r.fctx.Format.IsTable() {
		r.rows = append(r.rows, res) // a table is aligned over all rows
		return nil
	}
	return writeEnsureResults(r.fctx, r.traits, res)
}

// flush writes the table, if any.
func (r *ensureReport) flush() error {
	if !r.fctx.Format.IsTable() || len(r.rows) == 0 {
		return nil
	}
	return writeEnsureResults(r.fctx, r.traits, r.rows...)
}

// commandConfig is the configuration of the workspaces a command makes:
// resolved and checked, a bad value a usage error naming where it came
// from; for a Compose project, its label and its volumes and network by
// their short names (which asks the engine).
func commandConfig(ctx context.Context, b *backend, flags *pflag.FlagSet, project string) (sandbox.Config, error) {
	cfg, err := workspaceConfig(b.dockerCLI, flags)
	if err != nil {
		return cfg, err
	}
	if err := b.Validate(cfg); err != nil {
		if errors.As(err, new(*sandbox.DiskCapError)) { // said with where it was set
			err = (&resolver{dockerCLI: b.dockerCLI, flags: flags}).bad(settingDisk, err)
		}
		return cfg, usageError(hints(err, ""))
	}
	if sandbox.UnisolatedNetwork(cfg.Network) {
		// Allowed (else refused above): said, as docker says what host
		// networking discards.
		_, _ = fmt.Fprintf(b.dockerCLI.Err(), "WARNING: network %s is not isolated: workspaces on it reach every service listening there, and they theirs\n", cfg.Network)
	}
	return projectConfig(ctx, b, cfg, project)
}

// checkNotNames refuses a subdir that is the name or the ID of another
// workspace's container (or service), as ls shows them: a docker user
// types the name or the ID, and would get a new workspace of that name
// (new-user passes 11 and 17). Only a subdir that looks like a name or an
// ID costs a look.
func checkNotNames(ctx context.Context, b *backend, subdirs []string, verb string) error {
	var named []string
	for _, s := range subdirs {
		if sandbox.LooksLikeContainer(s) {
			named = append(named, s)
		}
	}
	if len(named) == 0 {
		return nil
	}
	targets, err := b.Resolve(ctx, named)
	if err != nil {
		return engineErr(b.dockerCLI, err)
	}
	for _, t := range targets {
		if w := t.Workspace; w != nil && w.Subdir != "" && w.Subdir != t.Ref {
			how := fmt.Sprintf("name the workspace: docker workspace %s %s", verb, w.Subdir)
			if verb == "exec" || verb == "shell" {
				how += fmt.Sprintf(" …, or give --no-ensure to run in %s itself", t.Ref)
			}
			return usageError(fmt.Errorf("%s is the %s of workspace %q, not a workspace's subdir (it would make a new workspace %q): %s",
				t.Ref, b.Traits().Unit, w.Subdir, t.Ref, how))
		}
	}
	return nil
}

// failures are the failures of several workspaces, the same one said once
// for all it befell (a pull that failed for all).
type failures struct {
	subdirs [][]string
	errs    []error // each as the first it befell had it
	causes  []string
}

func (f *failures) add(subdir string, err error) {
	cause := err.Error()
	var we *sandbox.WorkspaceError
	if errors.As(err, &we) && we.Subdir == subdir {
		cause = we.Err.Error()
	}
	for i, c := range f.causes {
		if c == cause {
			f.subdirs[i] = append(f.subdirs[i], subdir)
			return
		}
	}
	f.subdirs, f.errs, f.causes = append(f.subdirs, []string{subdir}), append(f.errs, err), append(f.causes, cause)
}

func (f *failures) err() error {
	var out []error
	for i, err := range f.errs {
		var we *sandbox.WorkspaceError
		switch {
		case len(f.subdirs[i]) == 1 && errors.As(err, &we):
			out = append(out, err) // it names its workspace
		case len(f.subdirs[i]) == 1:
			out = append(out, fmt.Errorf("workspace %q: %w", f.subdirs[i][0], err))
		default:
			quoted := make([]string, len(f.subdirs[i]))
			for j, s := range f.subdirs[i] {
				quoted[j] = strconv.Quote(s)
			}
			out = append(out, fmt.Errorf("workspaces %s: %s", strings.Join(quoted, ", "), f.causes[i]))
		}
	}
	return errors.Join(out...)
}

// validateSubdirs refuses, as a usage error, the first invalid subdir.
func validateSubdirs(subdirs []string) error {
	for _, s := range subdirs {
		if err := sandbox.ValidateSubdir(s); err != nil {
			return usageError(err)
		}
	}
	return nil
}

const defaultEnsureTableFormat = "table {{.Subdir}}\t{{.Name}}\t{{.Action}}\t{{.ID}}"

// defaultNodesEnsureTableFormat adds the node that runs each workspace.
const defaultNodesEnsureTableFormat = "table {{.Subdir}}\t{{.Name}}\t{{.Action}}\t{{.Node}}\t{{.ID}}"

func ensureFormat(source string) formatter.Format {
	switch source {
	case "":
		return "{{.ID}}"
	case formatter.TableFormatKey:
		return defaultEnsureTableFormat
	}
	return formatter.Format(source)
}

// ensureContext renders one sandbox.Result.
type ensureContext struct {
	formatter.HeaderContext
	r     sandbox.Result
	trunc bool // a table shows short IDs, as docker ps does
}

func newEnsureContext() *ensureContext {
	return &ensureContext{HeaderContext: formatter.HeaderContext{Header: formatter.SubHeaderContext{
		"ID": "CONTAINER ID", "Name": "NAME", "Subdir": "SUBDIR", "Action": "ACTION", "Mode": "MODE", "Image": "IMAGE", "Drift": "DRIFT",
		"Node": "NODE",
	}}}
}

func writeEnsureResults(fctx formatter.Context, traits sandbox.Traits, results ...sandbox.Result) error {
	header := newEnsureContext()
	header.Header.(formatter.SubHeaderContext)["ID"] = strings.ToUpper(traits.Unit) + " ID"
	return fctx.Write(header, func(format func(formatter.SubContext) error) error {
		for _, r := range results {
			if err := format(&ensureContext{r: r, trunc: fctx.Format.IsTable()}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *ensureContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }

func (c *ensureContext) ID() string {
	if c.trunc {
		return formatter.TruncateID(c.r.ID)
	}
	return c.r.ID
}
func (c *ensureContext) Name() string   { return c.r.Name }
func (c *ensureContext) Subdir() string { return c.r.Subdir }
func (c *ensureContext) Action() string { return string(c.r.Action) }
func (c *ensureContext) Mode() string   { return string(c.r.Mode) }
func (c *ensureContext) Image() string  { return c.r.Image }

// Node is the node that runs the workspace (empty on one engine).
func (c *ensureContext) Node() string { return c.r.Node }

// Drift names what differs from the configuration (empty: nothing).
func (c *ensureContext) Drift() []string {
	if c.r.Drift == nil {
		return []string{}
	}
	return c.r.Drift
}

// warnDrift says on stderr that an ensured workspace differs from the
// configuration and was kept (ensure, and the verbs that ensure first).
func warnDrift(w io.Writer, traits sandbox.Traits, subdir string, res sandbox.Result) {
	if len(res.Drift) == 0 || res.Action == sandbox.ActionRecreated { // a recreated one's Drift says why it was replaced
		return
	}
	how := "use --recreate if-changed to replace it"
	if res.ComposeProject != "" { // only its project replaces it (new-user pass 10)
		how = fmt.Sprintf("it is Compose project %q's: `docker compose -p %s up -d --force-recreate` replaces it", res.ComposeProject, res.ComposeProject)
	}
	_, _ = fmt.Fprintf(w, "warning: workspace %q: %s %s differs from the configuration (%s); kept, %s\n",
		subdir, traits.Unit, res.Name, strings.Join(res.Drift, ", "), how)
}
