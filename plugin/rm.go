package plugin

import (
	"context"
	"fmt"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

type rmOptions struct {
	refs  []string
	force bool
	flags *pflag.FlagSet
}

func newRemoveCommand(dockerCLI command.Cli) *cobra.Command {
	var opts rmOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] WORKSPACE [WORKSPACE...]",
		Aliases: []string{"remove"},
		Short:   "Remove the sandbox container of each workspace",
		Long: "Remove the sandbox container of each workspace, named by its subdir, its container's name or\n" +
			"its container's ID. Only the container: never a volume, never a directory; the workspace\n" +
			"data stays, and the next ensure makes a new container for it.",
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.refs = args
			opts.flags = cmd.Flags()
			return runRemove(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completeWorkspaces(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	cmd.Flags().BoolVarP(&opts.force, "force", "f", false, "Remove a running container too (it is killed); what is gone already is no error")
	return cmd
}

func runRemove(ctx context.Context, dockerCLI command.Cli, opts *rmOptions) error {
	if err := validateRefs(opts.refs); err != nil {
		return err
	}
	b, err := newBackend(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	return eachTarget(ctx, b, opts.refs, func(ctx context.Context, w sandbox.Workspace) error {
		return b.Remove(ctx, w, sandbox.RemoveOptions{Force: opts.force})
	}, func(t sandbox.Target) error {
		err := fmt.Errorf("%w: workspace %q has no %s", sandbox.ErrNoSuchWorkspace, t.Ref, b.Traits().Unit)
		if t.Named {
			err = fmt.Errorf("%w: %s", sandbox.ErrNoSuchWorkspace, t.Ref)
		}
		if opts.force { // as docker rm -f: what is gone is said, and no error
			_, _ = fmt.Fprintln(dockerCLI.Err(), err)
			return nil
		}
		return err
	})
}
