package plugin

import (
	"errors"
	"fmt"
	"os"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// StandaloneName is the binary's name when it runs on its own.
const StandaloneName = "docker-workspace"

// RunStandalone runs the binary as a program of its own: `docker-workspace
// ensure …`, which is also how Compose runs a provider. It takes the docker
// CLI's global options (--context, -H, --config, --tls…), environment
// (DOCKER_CONTEXT, DOCKER_HOST…) and config, as `docker workspace` does, and
// returns the exit code.
func RunStandalone(build BuildInfo, args []string) int {
	dockerCLI, err := command.NewDockerCli()
	if err != nil {
		_, _ = fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := NewRootCommand(dockerCLI, build, args)
	cmd.Use = StandaloneName + " [OPTIONS] COMMAND"
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.CompletionOptions.HiddenDefaultCmd = true
	opts, flags := cli.SetupPluginRootCommand(cmd)
	tcmd := cli.NewTopLevelCommand(cmd, dockerCLI, opts, flags)
	tcmd.SetArgs(args)
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error { return tcmd.Initialize() }
	cmd.SetIn(dockerCLI.In())
	cmd.SetOut(dockerCLI.Out())
	cmd.SetErr(dockerCLI.Err())

	sub, rest, err := tcmd.HandleGlobalFlags()
	if err == nil {
		sub.SetArgs(rest)
		err = sub.Execute()
	}
	if err == nil {
		return 0
	}
	var st cli.StatusError
	if errors.As(err, &st) && st.StatusCode != 0 {
		if st.Status != "" {
			_, _ = fmt.Fprintln(dockerCLI.Err(), st.Status)
		}
		return st.StatusCode
	}
	_, _ = fmt.Fprintln(dockerCLI.Err(), err)
	return 1
}
