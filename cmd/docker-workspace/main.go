// Command docker-workspace is the `docker workspace` CLI plugin; run on its
// own (or by Compose, as a provider) it is the same commands as a program.
package main

import (
	"encoding/json"
	"os"

	"github.com/docker/cli/cli-plugins/metadata"
	cliplugin "github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-workspace/docker-workspace/plugin"
)

// Stamped by the linker (see the Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

func pluginMetadata() metadata.Metadata {
	return metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           "docker-workspace",
		Version:          version,
		ShortDescription: "Manage workspace sandbox containers",
		URL:              "https://github.com/docker-workspace/docker-workspace",
	}
}

func main() {
	// The docker CLI asks every plugin for its metadata before each command:
	// answered before a docker CLI is made.
	if len(os.Args) == 2 && os.Args[1] == metadata.MetadataSubcommandName {
		b, err := json.Marshal(pluginMetadata())
		if err == nil {
			_, err = os.Stdout.Write(append(b, '\n'))
		}
		if err != nil {
			os.Exit(1)
		}
		return
	}
	build := plugin.BuildInfo{Version: version, Commit: commit}
	if cliplugin.RunningStandalone() {
		// Run directly (docker-workspace ensure …), or by Compose as a
		// provider: not through `docker`.
		os.Exit(plugin.RunStandalone(build, os.Args[1:]))
	}
	cliplugin.Run(func(dockerCLI command.Cli) *cobra.Command {
		return plugin.NewRootCommand(dockerCLI, build, os.Args[1:])
	}, pluginMetadata())
}
