package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/inspect"
	"github.com/docker/cli/templates"
	"github.com/docker/docker/api/types/container"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

type inspectOptions struct {
	refs   []string
	format string
	flags  *pflag.FlagSet
}

// workspaceInfo is what inspect prints of a workspace.
type workspaceInfo struct {
	sandbox.Info
	// Context is the Docker context of the engine that runs it.
	Context string
}

func newInspectCommand(dockerCLI command.Cli) *cobra.Command {
	var opts inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] WORKSPACE [WORKSPACE...]",
		Short: "Display detailed information on one or more workspaces",
		Long: "Display detailed information on one or more workspaces, as a JSON array (one document\n" +
			"each) as docker inspect does: the container's ID, name and state, the mount mode, the mounts\n" +
			"as the engine reports them, the configuration the container was made with, its drift, its\n" +
			"Compose project, the context.",
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.refs, opts.flags = args, cmd.Flags()
			return runInspect(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	cmd.Flags().StringVarP(&opts.format, "format", "f", "", `Format output using a custom template: "json" (the default), or a Go template`)
	return cmd
}

func runInspect(ctx context.Context, dockerCLI command.Cli, opts *inspectOptions) error {
	if err := validateRefs(opts.refs); err != nil {
		return err
	}
	if err := checkInspectFormat(opts.format); err != nil {
		return err
	}
	b, err := newBackend(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	c, err := b.containers("inspect")
	if err != nil {
		return err
	}
	targets, err := c.Resolve(ctx, opts.refs)
	if err != nil {
		return engineErr(dockerCLI, err)
	}
	byRef := map[string]sandbox.Target{}
	for _, t := range targets {
		byRef[t.Ref] = t
	}
	return inspect.Inspect(dockerCLI.Out(), opts.refs, opts.format, func(ref string) (any, []byte, error) {
		t := byRef[ref]
		switch {
		case t.Err != nil:
			return nil, nil, t.Err
		case t.Workspace == nil:
			return nil, nil, fmt.Errorf("%w: %s", sandbox.ErrNoSuchWorkspace, ref)
		}
		info, err := c.Inspect(ctx, *t.Workspace)
		if err != nil {
			return nil, nil, engineErr(dockerCLI, err)
		}
		return workspaceInfo{Info: info, Context: dockerCLI.CurrentContext()}, nil, nil
	})
}

// checkInspectFormat parses a --format and runs it once on a workspace with
// every field there, so that a misspelt field is refused (125)
// before anything is asked of the engine and nothing is printed. "json"
// is one compact line per workspace, as docker inspect --format json.
func checkInspectFormat(format string) error {
	if format == "" || format == "json" {
		return nil
	}
	tmpl, err := templates.Parse(format)
	if err == nil {
		err = tmpl.Execute(io.Discard, workspaceInfo{Info: sandbox.Info{
			ID: strings.Repeat("0", 64), Name: "gws-x", Subdir: "x", Mode: sandbox.ModeBind,
			Created: time.Time{}.Format(time.RFC3339Nano), State: &container.State{},
			Image: "x", ImageID: "sha256:" + strings.Repeat("0", 64), Config: map[string]any{},
		}})
	}
	if err != nil {
		return usageError(fmt.Errorf("invalid --format %q: %w", format, err))
	}
	return nil
}
