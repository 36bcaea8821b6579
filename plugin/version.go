package plugin

import (
	"fmt"
	"runtime"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

func newVersionCommand(dockerCLI command.Cli, build BuildInfo) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the docker-workspace version information",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(dockerCLI.Out(), "docker-workspace version %s, build %s, %s %s/%s\n",
				build.Version, build.Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
}
