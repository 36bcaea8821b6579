// Command generate writes the command reference of docs/reference from the
// cobra tree, with docker/cli-docs-tool, as docker/cli and compose generate
// theirs: the usage and flags between the markers of each page, the
// hand-written description and examples around them kept.
//
//	go run ./docs/generate [DIR]
package main

import (
	"fmt"
	"os"

	clidocstool "github.com/docker/cli-docs-tool"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-workspace/docker-workspace/plugin"
)

func main() {
	dir := "docs/reference"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := generate(dir); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

func generate(dir string) error {
	// Defaults that depend on the machine are written as a user's.
	for k, v := range map[string]string{"XDG_DATA_HOME": "/home/you/.local/share", "HOME": "/home/you"} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	dockerCLI, err := command.NewDockerCli()
	if err != nil {
		return err
	}
	root := &cobra.Command{Use: "docker", DisableAutoGenTag: true}
	root.AddCommand(plugin.NewRootCommand(dockerCLI, plugin.BuildInfo{}, nil))
	tool, err := clidocstool.New(clidocstool.Options{Root: root, SourceDir: dir, Plugin: true})
	if err != nil {
		return err
	}
	return tool.GenMarkdownTree(root)
}
