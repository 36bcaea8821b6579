package plugin

import (
	"context"
	"fmt"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli/command"
	"github.com/docker/docker/client"
)

// newManager returns a sandbox manager over the docker CLI's client, which
// follows --context, DOCKER_CONTEXT and DOCKER_HOST. Call it only in a
// command's run function: the client is made once the global flags are read.
func newManager(dockerCLI command.Cli, version string) *sandbox.Manager {
	m := sandbox.NewManager(dockerCLI.Client())
	m.PullOutput = dockerCLI.Err()
	m.RegistryAuth = func(_ context.Context, image string) (string, error) {
		return command.RetrieveAuthTokenFromImage(dockerCLI.ConfigFile(), image)
	}
	m.Version = version
	return m
}

// unreachable turns a failure to connect into one line that names the
// context and its endpoint; it returns nil for any other error.
func unreachable(dockerCLI command.Cli, err error) error {
	if !client.IsErrConnectionFailed(err) {
		return nil
	}
	return fmt.Errorf("cannot connect to the Docker engine of context %q at %s: is it running?",
		dockerCLI.CurrentContext(), dockerCLI.DockerEndpoint().Host)
}
