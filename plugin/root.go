// Package plugin holds the commands of the docker-workspace CLI plugin:
// cobra commands, flags, configuration and output over package sandbox.
package plugin

import (
	"fmt"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// Name is the plugin's name: `docker workspace`.
const Name = "workspace"

// BuildInfo is what the binary was built from, stamped by the linker.
type BuildInfo struct {
	Version string
	Commit  string
}

// NewRootCommand returns the `workspace` command and its subcommands.
func NewRootCommand(dockerCLI command.Cli, build BuildInfo) *cobra.Command {
	cmd := &cobra.Command{
		Use:   Name,
		Short: "Manage workspace sandbox containers",
		Long: "Manage the long-lived sandbox container of each workspace: one container per workspace\n" +
			"subdir, with the workspace at /home/agent/workspace and a shared directory at /home/agent/shared.",
		TraverseChildren: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	// cobra runs the parent for an unknown subcommand: make that an error,
	// as docker's own commands do.
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		path := cmd.CommandPath()
		return cli.StatusError{
			StatusCode: 1,
			Status:     fmt.Sprintf("%s: '%s' is not a %s command.\nSee '%s --help'", path, args[0], path, path),
		}
	}
	cmd.AddCommand(
		newEnsureCommand(dockerCLI, build),
		newStopCommand(dockerCLI),
		newRemoveCommand(dockerCLI),
		newListCommand(dockerCLI),
		newDoctorCommand(dockerCLI),
		newVersionCommand(dockerCLI, build),
		newComposeCommand(dockerCLI, build),
	)
	return cmd
}
