package plugin

import (
	"context"
	"fmt"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	if swarmMode, err := onSwarm(dockerCLI, opts.flags); err != nil {
		return err
	} else if swarmMode {
		return runSwarmStopOrRemove(ctx, dockerCLI, opts.refs, true, opts.force)
	}
	m, err := newManager(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	return eachTarget(ctx, dockerCLI, m, opts.refs, func(ctx context.Context, w sandbox.Workspace) (bool, error) {
		return m.RemoveContainer(ctx, w, opts.force)
	}, func(t sandbox.Target) error {
		switch {
		case opts.force: // as docker rm -f: what is gone is no error
			return nil
		case t.Named:
			return fmt.Errorf("%w: %s", sandbox.ErrNoSuchWorkspace, t.Ref)
		}
		return fmt.Errorf("%w: workspace %q has none", sandbox.ErrNoSuchWorkspace, t.Ref)
	})
}
