// Command docker-workspace is the `docker workspace` CLI plugin.
package main

import (
	"encoding/json"
	"os"

	"github.com/docker-workspace/docker-workspace/plugin"
	"github.com/docker/cli/cli-plugins/metadata"
	cliplugin "github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// Stamped by the linker (see the Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	build := plugin.BuildInfo{Version: version, Commit: commit}
	meta := metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           "docker-workspace",
		Version:          version,
		ShortDescription: "Manage workspace sandbox containers",
		URL:              "https://github.com/docker-workspace/docker-workspace",
	}
	if len(os.Args) == 2 && os.Args[1] == metadata.MetadataSubcommandName {
		// The docker CLI asks for this before every `docker workspace …`:
		// answered before anything is set up, it costs little.
		_ = json.NewEncoder(os.Stdout).Encode(meta)
		return
	}
	if cliplugin.RunningStandalone() {
		// Run directly (docker-workspace ensure …), or by Compose as a
		// provider: not through `docker`.
		os.Exit(plugin.RunStandalone(build, os.Args[1:]))
	}
	cliplugin.Run(func(dockerCLI command.Cli) *cobra.Command {
		return plugin.NewRootCommand(dockerCLI, build)
	}, meta)
}
