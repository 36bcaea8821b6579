// Command docker-workspace is the `docker workspace` CLI plugin; run on its
// own (or by Compose, as a provider) it is the same commands as a program.
//
// The docker CLI's request for the plugin's metadata is answered by
// package meta's init, before the packages below are initialised.
package main

import (
	"os"

	cliplugin "github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-workspace/docker-workspace/cmd/docker-workspace/internal/meta"
	"github.com/docker-workspace/docker-workspace/plugin"
	"github.com/docker-workspace/docker-workspace/sandbox/egress/proxy"
)

func main() {
	proxy.RunIfProxy() // the egress proxy's image runs this binary
	build := plugin.BuildInfo{Version: meta.Version(), Commit: meta.Commit()}
	if cliplugin.RunningStandalone() {
		// Run directly (docker-workspace ensure …), or by Compose as a
		// provider: not through `docker`.
		os.Exit(plugin.RunStandalone(build, os.Args[1:]))
	}
	cliplugin.Run(func(dockerCLI command.Cli) *cobra.Command {
		return plugin.NewRootCommand(dockerCLI, build, os.Args[1:])
	}, meta.Metadata())
}
