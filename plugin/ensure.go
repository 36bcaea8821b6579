package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/docker/client"
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
			"container ID of each workspace.",
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.subdirs = args
			opts.flags = cmd.Flags()
			return runEnsure(cmd.Context(), dockerCLI, build, &opts)
		},
		ValidArgsFunction:     completeSubdirs(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	addConfigFlags(flags)
	flags.StringVar(&opts.format, "format", "", `Format output: "json", or a Go template (default: the container ID)`)
	flags.IntVar(&opts.parallel, "parallel", defaultParallel, "How many workspaces to ensure at once")
	flags.StringVar(&opts.project, "compose-project", "", "Make the workspaces for a Compose project: label them, and take short volume and network names as the project's")
	return cmd
}

func runEnsure(ctx context.Context, dockerCLI command.Cli, build BuildInfo, opts *ensureOptions) error {
	for _, s := range opts.subdirs {
		if err := sandbox.ValidateSubdir(s); err != nil {
			return err
		}
	}
	if opts.parallel < 1 {
		return fmt.Errorf("invalid --parallel %d: must be at least 1", opts.parallel)
	}
	on, err := enabled(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	if !on {
		_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace: %s is false: not ensuring any container\n", settingEnabled.env)
		return nil
	}
	m, err := newManager(dockerCLI, opts.flags, build.Version)
	if err != nil {
		return err
	}
	cfg, err := projectConfig(ctx, dockerCLI, m, opts.flags, opts.project)
	if err != nil {
		if u := unreachable(dockerCLI, err); u != nil {
			return u
		}
		return err
	}
	// Said once, when the engine has answered.
	note := remoteBindNote(dockerCLI, cfg)
	fctx := formatter.Context{Output: dockerCLI.Out(), Format: ensureFormat(opts.format)}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type outcome struct {
		res sandbox.Result
		err error
	}
	outcomes := make([]chan outcome, len(opts.subdirs))
	slots := make(chan struct{}, opts.parallel)
	for i, subdir := range opts.subdirs {
		outcomes[i] = make(chan outcome, 1)
		go func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			if err := ctx.Err(); err != nil { // the engine is unreachable: no more tries
				outcomes[i] <- outcome{err: err}
				return
			}
			res, err := m.Ensure(ctx, subdir, cfg)
			if client.IsErrConnectionFailed(err) {
				cancel()
			}
			outcomes[i] <- outcome{res, err}
		}()
	}
	// Results in the order of the arguments, each as soon as it and those
	// before it are done.
	var errs []error
	var unreachableErr error
	for i, subdir := range opts.subdirs {
		o := <-outcomes[i]
		if note != "" && unreachable(dockerCLI, o.err) == nil {
			_, _ = fmt.Fprintln(dockerCLI.Err(), "warning:", note)
			note = ""
		}
		if o.err != nil {
			if u := unreachable(dockerCLI, o.err); u != nil {
				unreachableErr = u
				cancel()
				continue
			}
			if !errors.Is(o.err, context.Canceled) || unreachableErr == nil {
				errs = append(errs, fmt.Errorf("workspace %q: %w", subdir, o.err))
			}
			continue
		}
		if len(o.res.Drift) > 0 {
			_, _ = fmt.Fprintf(dockerCLI.Err(), "warning: workspace %q: container %s differs from the configuration (%s); kept, use --recreate if-changed to replace it\n",
				subdir, o.res.Name, strings.Join(o.res.Drift, ", "))
		}
		if err := writeEnsureResult(fctx, o.res); err != nil {
			return err
		}
	}
	if unreachableErr != nil {
		return unreachableErr
	}
	return errors.Join(errs...)
}

func ensureFormat(source string) formatter.Format {
	if source == "" {
		return "{{.ID}}"
	}
	return formatter.Format(source)
}

// ensureContext renders one sandbox.Result.
type ensureContext struct {
	formatter.HeaderContext
	r sandbox.Result
}

func writeEnsureResult(fctx formatter.Context, r sandbox.Result) error {
	return fctx.Write(&ensureContext{}, func(format func(formatter.SubContext) error) error {
		return format(&ensureContext{r: r})
	})
}

func (c *ensureContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }

func (c *ensureContext) ID() string     { return c.r.ID }
func (c *ensureContext) Name() string   { return c.r.Name }
func (c *ensureContext) Subdir() string { return c.r.Subdir }
func (c *ensureContext) Action() string { return string(c.r.Action) }
func (c *ensureContext) Mode() string   { return string(c.r.Mode) }
func (c *ensureContext) Image() string  { return c.r.Image }

// Drift names what differs from the configuration (empty: nothing).
func (c *ensureContext) Drift() []string {
	if c.r.Drift == nil {
		return []string{}
	}
	return c.r.Drift
}
