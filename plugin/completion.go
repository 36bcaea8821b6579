package plugin

import (
	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// completeSubdirs completes the subdirs of the engine's workspaces.
func completeSubdirs(dockerCLI command.Cli) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		workspaces, err := sandbox.NewManager(dockerCLI.Client()).List(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var subdirs []string
		for _, w := range workspaces {
			if w.Subdir != "" {
				subdirs = append(subdirs, w.Subdir)
			}
		}
		return subdirs, cobra.ShellCompDirectiveNoFileComp
	}
}
