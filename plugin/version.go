package plugin

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/templates"
	"github.com/spf13/cobra"
)

// versionInfo is what version prints, as docker version --format sees it.
type versionInfo struct {
	Version, Commit, GoVersion, Os, Arch string
}

func newVersionCommand(dockerCLI command.Cli, build BuildInfo) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the docker-workspace version information",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := versionInfo{Version: build.Version, Commit: build.Commit, GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH}
			return printVersion(dockerCLI, format, v)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", `Format output: "json" or a Go template (e.g. '{{.Version}}')`)
	return cmd
}

func printVersion(dockerCLI command.Cli, format string, v versionInfo) error {
	switch format {
	case "":
		_, err := fmt.Fprintf(dockerCLI.Out(), "docker-workspace version %s, build %s, %s %s/%s\n", v.Version, v.Commit, v.GoVersion, v.Os, v.Arch)
		return err
	case "json":
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(dockerCLI.Out(), string(b))
		return err
	}
	tmpl, err := templates.Parse(format)
	if err != nil {
		return usageError(fmt.Errorf("invalid --format %q: %w", format, err))
	}
	if err := tmpl.Execute(dockerCLI.Out(), v); err != nil {
		return usageError(fmt.Errorf("invalid --format %q: %w", format, err))
	}
	_, err = fmt.Fprintln(dockerCLI.Out())
	return err
}
