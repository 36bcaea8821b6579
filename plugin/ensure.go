package plugin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
		Use:   "ensure [OPTIONS] SUBDIR [SUBDIR...]",
		Short: "Make sure the sandbox container of each workspace exists and runs",
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
	if err := validateSubdirs(opts.subdirs); err != nil {
		return err
	}
	if opts.parallel < 1 {
		return usageError(fmt.Errorf("invalid --parallel %d: must be at least 1", opts.parallel))
	}
	format := ensureFormat(opts.format)
	if err := checkFormat(format, &ensureContext{}); err != nil {
		return err
	}
	on, err := enabled(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	swarmMode, err := onSwarm(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	if !on {
		_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace: %s is false: not ensuring any container\n", settingEnabled.env)
		return nil
	}
	var ensure func(ctx context.Context, subdir string) (sandbox.Result, error)
	var cfg sandbox.Config
	if swarmMode {
		if format == defaultEnsureTableFormat {
			format = defaultSwarmEnsureTableFormat
		}
		if opts.project != "" {
			return usageError(errors.New("--compose-project with --orchestrator swarm: Compose runs its services on one engine (use docker stack on Swarm); refused"))
		}
		if cfg, err = workspaceConfig(dockerCLI, opts.flags); err != nil {
			return err
		}
		s, _, err := newSwarm(ctx, dockerCLI, build.Version)
		if err != nil {
			return err
		}
		ensure = func(ctx context.Context, subdir string) (sandbox.Result, error) { return s.Ensure(ctx, subdir, cfg) }
	} else {
		var m *sandbox.Manager
		if cfg, m, err = setup(ctx, dockerCLI, opts.flags, build.Version, opts.project); err != nil {
			return err
		}
		image := m.SharedImage(cfg) // one pull, one inspect, for all
		ensure = func(ctx context.Context, subdir string) (sandbox.Result, error) {
			return m.Ensure(ctx, subdir, cfg, sandbox.WithSharedImage(image))
		}
	}
	note := remoteBindNote(dockerCLI, cfg) // said once, when the engine has answered
	if swarmMode {
		note = ""
	}
	var rows []sandbox.Result
	var failed failures
	fctx := formatter.Context{Output: dockerCLI.Out(), Format: format}
	err = eachParallel(ctx, opts.subdirs, opts.parallel, ensure,
		func(subdir string, res sandbox.Result, err error) error {
			if note != "" {
				_, _ = fmt.Fprintln(dockerCLI.Err(), "warning:", note)
				note = ""
			}
			if err != nil {
				failed.add(subdir, withHints(err, subdir))
				return nil
			}
			if len(res.Drift) > 0 {
				_, _ = fmt.Fprintf(dockerCLI.Err(), "warning: workspace %q: container %s differs from the configuration (%s); kept, use --recreate if-changed to replace it\n",
					subdir, res.Name, strings.Join(res.Drift, ", "))
			}
			if format.IsTable() {
				rows = append(rows, res) // a table is aligned over all rows
				return nil
			}
			return writeEnsureResults(fctx, swarmMode, res)
		})
	if format.IsTable() && len(rows) > 0 {
		if werr := writeEnsureResults(fctx, swarmMode, rows...); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	return failed.err()
}

// failures are the failures of several workspaces, the same one said once
// for all it befell (a pull that failed for all).
type failures struct {
	subdirs [][]string
	errs    []error
}

func (f *failures) add(subdir string, err error) {
	for i, e := range f.errs {
		if e.Error() == err.Error() {
			f.subdirs[i] = append(f.subdirs[i], subdir)
			return
		}
	}
	f.subdirs, f.errs = append(f.subdirs, []string{subdir}), append(f.errs, err)
}

func (f *failures) err() error {
	var out []error
	for i, err := range f.errs {
		quoted := make([]string, len(f.subdirs[i]))
		for j, s := range f.subdirs[i] {
			quoted[j] = strconv.Quote(s)
		}
		what := "workspace"
		if len(quoted) > 1 {
			what = "workspaces"
		}
		if len(quoted) == 1 && namesWorkspace(err, f.subdirs[i][0]) {
			out = append(out, err)
			continue
		}
		out = append(out, fmt.Errorf("%s %s: %w", what, strings.Join(quoted, ", "), err))
	}
	return errors.Join(out...)
}

// namesWorkspace says whether an error begins by naming the workspace.
func namesWorkspace(err error, subdir string) bool {
	return strings.HasPrefix(err.Error(), fmt.Sprintf("workspace %q", subdir))
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

// defaultSwarmEnsureTableFormat adds the node that runs each workspace.
const defaultSwarmEnsureTableFormat = "table {{.Subdir}}\t{{.Name}}\t{{.Action}}\t{{.Node}}\t{{.ID}}"

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
	r sandbox.Result
}

func newEnsureContext() *ensureContext {
	return &ensureContext{HeaderContext: formatter.HeaderContext{Header: formatter.SubHeaderContext{
		"ID": "CONTAINER ID", "Name": "NAME", "Subdir": "SUBDIR", "Action": "ACTION", "Mode": "MODE", "Image": "IMAGE", "Drift": "DRIFT",
		"Node": "NODE",
	}}}
}

func writeEnsureResults(fctx formatter.Context, onSwarm bool, results ...sandbox.Result) error {
	header := newEnsureContext()
	if onSwarm { // the ID is a service's
		header.Header.(formatter.SubHeaderContext)["ID"] = "SERVICE ID"
	}
	return fctx.Write(header, func(format func(formatter.SubContext) error) error {
		for _, r := range results {
			if err := format(&ensureContext{r: r}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *ensureContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }

func (c *ensureContext) ID() string     { return c.r.ID }
func (c *ensureContext) Name() string   { return c.r.Name }
func (c *ensureContext) Subdir() string { return c.r.Subdir }
func (c *ensureContext) Action() string { return string(c.r.Action) }
func (c *ensureContext) Mode() string   { return string(c.r.Mode) }
func (c *ensureContext) Image() string  { return c.r.Image }

// Node is the Swarm node that runs the workspace (empty on one engine).
func (c *ensureContext) Node() string { return c.r.Node }

// Drift names what differs from the configuration (empty: nothing).
func (c *ensureContext) Drift() []string {
	if c.r.Drift == nil {
		return []string{}
	}
	return c.r.Drift
}
