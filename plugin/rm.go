package plugin

import (
	"context"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type rmOptions struct {
	subdirs []string
	force   bool
	flags   *pflag.FlagSet
}

func newRemoveCommand(dockerCLI command.Cli) *cobra.Command {
	var opts rmOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] SUBDIR [SUBDIR...]",
		Aliases: []string{"remove"},
		Short:   "Remove the sandbox container of each workspace",
		Long: "Remove the sandbox container of each workspace. Only the container: never a volume, never\n" +
			"a directory; the workspace data stays, and the next ensure makes a new container for it.",
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.subdirs = args
			opts.flags = cmd.Flags()
			return runRemove(cmd.Context(), dockerCLI, &opts)
		},
		ValidArgsFunction:     completeSubdirs(dockerCLI),
		DisableFlagsInUseLine: true,
	}
	cmd.Flags().BoolVarP(&opts.force, "force", "f", false, "Remove a running container too (it is killed)")
	return cmd
}

func runRemove(ctx context.Context, dockerCLI command.Cli, opts *rmOptions) error {
	for _, s := range opts.subdirs {
		if err := sandbox.ValidateSubdir(s); err != nil {
			return err
		}
	}
	m, err := newManager(dockerCLI, opts.flags, "")
	if err != nil {
		return err
	}
	return eachWorkspace(dockerCLI, opts.subdirs, "remove", func(subdir string) (bool, error) {
		return m.Remove(ctx, subdir, opts.force)
	})
}
