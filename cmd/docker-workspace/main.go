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

const (
	vendor           = "docker-workspace"
	shortDescription = "Manage workspace sandbox containers"
	url              = "https://github.com/docker-workspace/docker-workspace"
)

// The docker CLI runs a plugin twice for every command: first with the one
// argument metadataArg, for the plugin's metadata, then for the command.
// Starting the Go runtime and the packages of the docker CLI is most of what
// the first costs, so where the binary can (see entry_linux_amd64.s) it
// answers before any of that, with these bytes: metadataPrefix, version,
// metadataSuffix, for a version JSON takes as it is. They are the JSON of
// pluginMetadata() (a test holds them to it); Go's main writes that JSON
// itself. They are variables, set when the binary is loaded, as the entry
// reads them.
var (
	metadataArg    = metadata.MetadataSubcommandName
	metadataPrefix = `{"SchemaVersion":"0.1.0","Vendor":"` + vendor + `","Version":"`
	metadataSuffix = `","ShortDescription":"` + shortDescription + `","URL":"` + url + "\"}\n"
)

func pluginMetadata() metadata.Metadata {
	return metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           vendor,
		Version:          version,
		ShortDescription: shortDescription,
		URL:              url,
	}
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == metadataArg {
		// Where the entry did not answer already.
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
		return plugin.NewRootCommandFor(dockerCLI, build, os.Args[1:])
	}, pluginMetadata())
}
