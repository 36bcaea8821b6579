package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/pflag"
)

// newManager returns a sandbox manager over the docker CLI's client, which
// follows --context, DOCKER_CONTEXT and DOCKER_HOST. Call it only in a
// command's run function: the client is made once the global flags are read.
func newManager(dockerCLI command.Cli, flags *pflag.FlagSet, version string) (*sandbox.Manager, error) {
	timeout, err := apiTimeout(dockerCLI, flags)
	if err != nil {
		return nil, err
	}
	m := sandbox.NewManager(dockerCLI.Client())
	m.PullOutput = dockerCLI.Err()
	m.RegistryAuth = func(_ context.Context, image string) (string, error) {
		return command.RetrieveAuthTokenFromImage(dockerCLI.ConfigFile(), image)
	}
	m.Version = version
	m.Timeout = timeout
	return m, nil
}

// apiTimeout resolves --api-timeout.
func apiTimeout(dockerCLI command.Cli, flags *pflag.FlagSet) (time.Duration, error) {
	r := &resolver{dockerCLI: dockerCLI, flags: flags}
	v := r.str(settingAPITimeout)
	if v == "" {
		return sandbox.DefaultTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, usageError(fmt.Errorf("%s: invalid duration %q: must be positive, such as 30s or 2m", r.source(settingAPITimeout), v))
	}
	return d, nil
}
