package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/cli/cli/command"
	"github.com/docker/docker/client"
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
		return 0, fmt.Errorf("invalid %s %q: must be a positive duration, such as 30s or 2m", r.source(settingAPITimeout), v)
	}
	return d, nil
}

// unreachable turns a failure to reach the engine into one line that names
// the context, its endpoint and what to look at; it returns nil for any
// other error.
func unreachable(dockerCLI command.Cli, err error) error {
	var te *sandbox.TimeoutError
	if errors.As(err, &te) {
		return fmt.Errorf("the Docker engine of context %q at %s did not answer within %s (%s): is it hung? --api-timeout sets the limit",
			dockerCLI.CurrentContext(), dockerCLI.DockerEndpoint().Host, te.After, te.Op)
	}
	cause, ok := connectionCause(err)
	if !ok {
		return nil
	}
	return fmt.Errorf("cannot connect to the Docker engine of context %q at %s: %s",
		dockerCLI.CurrentContext(), dockerCLI.DockerEndpoint().Host, cause)
}

// connectionCause says, for a person, why the engine could not be reached.
func connectionCause(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	msg := err.Error()
	if strings.Contains(msg, "Client sent an HTTP request to an HTTPS server") {
		return "the engine speaks TLS and the context has no TLS settings (give it ca=, cert= and key=)", true
	}
	if !client.IsErrConnectionFailed(err) {
		return "", false
	}
	after := func(marker string) string {
		_, rest, _ := strings.Cut(msg, marker)
		return strings.TrimSpace(marker + rest)
	}
	switch {
	case strings.Contains(msg, "x509:"):
		return "its TLS certificate is not trusted (" + after("x509:") + "): check the context's CA", true
	case strings.Contains(msg, "remote error: tls:"):
		return "it refused the client's TLS certificate (" + after("tls:") + "): check the context's cert and key", true
	case strings.Contains(msg, "stderr="):
		_, stderr, _ := strings.Cut(msg, "stderr=")
		return "ssh failed: " + strings.TrimSpace(stderr), true
	case strings.Contains(msg, "permission denied"):
		return "permission denied (is this user allowed to use the engine's socket?)", true
	}
	return "is it running?", true
}
