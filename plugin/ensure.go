package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type ensureOptions struct {
	subdirs []string
	format  string
	flags   *pflag.FlagSet
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
	return cmd
}

func runEnsure(ctx context.Context, dockerCLI command.Cli, build BuildInfo, opts *ensureOptions) error {
	for _, s := range opts.subdirs {
		if err := sandbox.ValidateSubdir(s); err != nil {
			return err
		}
	}
	on, err := enabled(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	if !on {
		_, _ = fmt.Fprintf(dockerCLI.Err(), "docker workspace: %s is false: not ensuring any container\n", settingEnabled.env)
		return nil
	}
	cfg, err := workspaceConfig(dockerCLI, opts.flags)
	if err != nil {
		return err
	}
	fctx := formatter.Context{Output: dockerCLI.Out(), Format: ensureFormat(opts.format)}
	m := newManager(dockerCLI, build.Version)

	var errs []error
	for _, subdir := range opts.subdirs {
		res, err := m.Ensure(ctx, subdir, cfg)
		if err != nil {
			if u := unreachable(dockerCLI, err); u != nil {
				return u
			}
			errs = append(errs, err)
			continue
		}
		if err := writeEnsureResult(fctx, res); err != nil {
			return err
		}
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
