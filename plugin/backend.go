package plugin

// The seam between the commands and the orchestrators: --orchestrator is
// resolved here, once per command, into a sandbox.Orchestrator, and no
// other file of this package asks which one answers. A verb that only one
// engine's containers have is refused here, in one place.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/context/docker"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/spf13/pflag"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
	"github.com/docker-workspace/docker-workspace/sandbox/swarm"
)

// The orchestrators: where workspaces run.
const (
	orchestratorEngine = "engine"
	orchestratorSwarm  = "swarm"
)

// addOrchestratorFlag declares --orchestrator.
// placementUsage is the help of --placement, which orchestrators of nodes
// read.
const placementUsage = `With --orchestrator swarm, where the data lives: "pinned" (volumes local to the node that first ran the workspace, which it stays on) ` +
	`or "shared" (volumes whose options name storage every node reaches; it may move)`

func addOrchestratorFlag(flags *pflag.FlagSet) {
	flags.String(settingOrchestrator.flag, orchestratorEngine,
		`Where workspaces run: "engine" (a container on the context's engine) or "swarm" (a service of the Swarm the context's engine manages)`)
}

// backend is where a command's workspaces are: the orchestrator over the
// docker CLI's context, and the docker CLIs of the engines that run its
// containers.
type backend struct {
	sandbox.Orchestrator
	dockerCLI command.Cli
	engines   *nodeEngines
	timeout   time.Duration // --api-timeout
}

// checkOrchestrator resolves --orchestrator (flag,
// GATEWAY_WORKSPACE_ORCHESTRATOR, config.json) without making anything: a
// bad value is a usage error before the engine is asked anything.
func checkOrchestrator(dockerCLI command.Cli, flags *pflag.FlagSet) (string, error) {
	r := &resolver{dockerCLI: dockerCLI, flags: flags}
	v, _ := r.lookup(settingOrchestrator)
	switch name := strings.ToLower(strings.TrimSpace(v)); name {
	case "", orchestratorEngine:
		return orchestratorEngine, nil
	case orchestratorSwarm:
		return name, nil
	}
	return "", usageError(fmt.Errorf(`%s: invalid orchestrator %q: must be "engine" or "swarm"`, r.source(settingOrchestrator), v))
}

// newBackend is the orchestrator of the command, over dockerCLI's client,
// which follows --context, DOCKER_CONTEXT and DOCKER_HOST: call it only in a
// command's run function (the client is made once the global flags are
// read). It asks the engine nothing: a Swarm manager that is none says so at
// its first call, in one line. Every call of it, to the manager and to the
// nodes' engines alike, is bounded by --api-timeout.
func newBackend(dockerCLI command.Cli, flags *pflag.FlagSet, version string) (*backend, error) {
	if err := checkContext(dockerCLI); err != nil {
		return nil, err
	}
	name, err := checkOrchestrator(dockerCLI, flags)
	if err != nil {
		return nil, err
	}
	timeout, err := apiTimeout(dockerCLI, flags)
	if err != nil {
		return nil, err
	}
	opts := engine.Options{
		PullOutput: dockerCLI.Err(),
		RegistryAuth: func(_ context.Context, image string) (string, error) {
			return command.RetrieveAuthTokenFromImage(dockerCLI.ConfigFile(), image)
		},
		Version:    version,
		Timeout:    timeout,
		Local:      localEngine(dockerCLI),
		EngineHost: dockerCLI.DockerEndpoint().Host,
	}
	b := &backend{dockerCLI: dockerCLI, engines: &nodeEngines{dockerCLI: dockerCLI, clis: map[string]command.Cli{}}, timeout: timeout}
	if name == orchestratorSwarm {
		b.Orchestrator = swarm.New(dockerCLI.Client(), swarm.Options{
			NodeEngine: func(_ context.Context, _ swarmtypes.Node, label string) (sandbox.Client, error) {
				c, err := b.engines.cli(label)
				if err != nil {
					return nil, err
				}
				return c.Client(), nil
			},
			Version: version, Progress: dockerCLI.Err(), Timeout: timeout, Node: opts,
		})
		return b, nil
	}
	b.Orchestrator = engine.New(dockerCLI.Client(), opts)
	return b, nil
}

// containers is the orchestrator as one engine's containers, for a verb
// that only they have; any other is refused, in one line.
func (b *backend) containers(verb string) (sandbox.Containers, error) {
	if c, ok := b.Orchestrator.(sandbox.Containers); ok {
		return c, nil
	}
	err := fmt.Errorf("%w: %s works on one engine's containers (on %s, a workspace is the %s named as its container",
		&sandbox.UnsupportedError{Orchestrator: b.Traits().Name, What: verb}, verb, b.Traits().Name, b.Traits().Unit)
	if alt, ok := map[string]string{"inspect": "docker service inspect", "restart": "docker service update --force"}[verb]; ok && b.Traits().Nodes {
		return nil, usageError(fmt.Errorf("%w: %s does it)", err, alt))
	}
	return nil, usageError(fmt.Errorf("%w)", err))
}

// engineCLI is the docker CLI of the engine that runs a located container:
// the context's own, or a node's.
func (b *backend) engineCLI(loc sandbox.Location) (command.Cli, error) {
	if loc.Engine == "" {
		return b.dockerCLI, nil
	}
	c, err := b.engines.cli(loc.Engine)
	if err != nil {
		return nil, fmt.Errorf("the engine %s: %w", loc.Engine, err)
	}
	return c, nil
}

// nodeEngines are docker CLIs of the nodes' engines, made once each.
type nodeEngines struct {
	dockerCLI command.Cli
	mu        sync.Mutex
	clis      map[string]command.Cli
}

// cli is the docker CLI of a node's engine, named by its label: an
// endpoint (unix://, tcp://, ssh://), or a context of this docker CLI.
func (e *nodeEngines) cli(label string) (command.Cli, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.clis[label]; ok {
		return c, nil
	}
	c, err := newNodeCLI(e.dockerCLI, label)
	if err != nil {
		return nil, err
	}
	e.clis[label] = c
	return c, nil
}

// nodeCLI is this docker CLI (its streams, its configuration) with the
// client of a node's engine. Its client is made here, not by a docker CLI
// of its own: that would ask the engine for its version, unbounded by
// --api-timeout, before the first call; this client asks within it.
type nodeCLI struct {
	command.Cli
	api      client.APIClient
	context  string // the context the label names, or "" for an endpoint
	endpoint docker.Endpoint
}

func (c nodeCLI) Client() client.APIClient        { return c.api }
func (c nodeCLI) DockerEndpoint() docker.Endpoint { return c.endpoint }
func (c nodeCLI) CurrentContext() string          { return c.context }
func (c nodeCLI) CurrentVersion() string          { return c.api.ClientVersion() }
func (c nodeCLI) ServerInfo() command.ServerInfo  { return command.ServerInfo{} }

// newNodeCLI is the docker CLI of the engine a node's label names.
func newNodeCLI(dockerCLI command.Cli, label string) (nodeCLI, error) {
	ep, name, err := nodeEndpoint(dockerCLI, label)
	if err != nil {
		return nodeCLI{}, err
	}
	opts, err := ep.ClientOpts()
	if err != nil {
		return nodeCLI{}, err
	}
	opts = append(opts, client.WithUserAgent(command.UserAgent()))
	if h := dockerCLI.ConfigFile().HTTPHeaders; len(h) > 0 {
		opts = append(opts, client.WithHTTPHeaders(h))
	}
	api, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nodeCLI{}, err
	}
	return nodeCLI{Cli: dockerCLI, api: api, context: name, endpoint: ep}, nil
}

// nodeEndpoint is the endpoint a node's label names: the label itself
// when it has a scheme, else the docker endpoint of the context it names.
func nodeEndpoint(dockerCLI command.Cli, label string) (docker.Endpoint, string, error) {
	if strings.Contains(label, "://") {
		return docker.Endpoint{EndpointMeta: docker.EndpointMeta{Host: label}}, "", nil
	}
	s := dockerCLI.ContextStore()
	meta, err := s.GetMetadata(label)
	if err != nil {
		return docker.Endpoint{}, "", fmt.Errorf("context %q: %w", label, err)
	}
	epMeta, err := docker.EndpointFromContext(meta)
	if err != nil {
		return docker.Endpoint{}, "", fmt.Errorf("context %q: %w", label, err)
	}
	ep, err := docker.WithTLSData(s, label, epMeta)
	if err != nil {
		return docker.Endpoint{}, "", fmt.Errorf("context %q: %w", label, err)
	}
	return ep, label, nil
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
		return 0, usageError(fmt.Errorf("%s: invalid duration %q: a positive duration with its unit is needed, such as 30s or 2m", r.source(settingAPITimeout), v))
	}
	return d, nil
}

// hints adds to an error what a user of the CLI can do about it: the
// commands and flags that the library does not name.
func hints(err error, subdir string) error {
	var ne *sandbox.NodeEngineError
	var re *sandbox.RecordedError
	var pe *sandbox.ProjectError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return fmt.Errorf("%w; if workspace %q is gone for good, `docker workspace rm --forget %s` with this command's root or volume flags forgets it (its data stays)", err, re.Subdir, re.Subdir)
	case errors.As(err, &pe):
		return projectHint(err, pe, subdir)
	case errors.Is(err, sandbox.ErrProxyGone):
		return fmt.Errorf("%w; `docker workspace restart %s` makes it again, with its rules", err, subdir)
	case errors.Is(err, sandbox.ErrNothingToForget):
		return fmt.Errorf("%w: give the configuration it was made in (--workspace-root, or --mount-mode volume_subpath --workspace-volume)", err)
	case errors.Is(err, sandbox.ErrStaleTask):
		return fmt.Errorf("%w: `docker workspace ensure --recreate always %s` or `docker workspace rm -f %s` recovers", err, subdir, subdir)
	case errors.Is(err, sandbox.ErrOrchestrated):
		return fmt.Errorf("%w: use --orchestrator swarm, with a context of a manager of its Swarm", err)
	case errors.Is(err, sandbox.ErrNotManager):
		return fmt.Errorf("%w: use a context of a Swarm manager, or --orchestrator engine", err)
	case errors.Is(err, sandbox.ErrNodeGone):
		return fmt.Errorf("%w (`docker config rm` it)", err)
	case errors.As(err, &ne) && ne.Label == "":
		return fmt.Errorf("%w: add one: docker node update --label-add %s=CONTEXT-OR-ENDPOINT %s", err, sandbox.LabelNodeEngine, ne.Node)
	case errors.Is(err, sandbox.ErrNotSupported), errors.Is(err, sandbox.ErrInvalidConfig):
		return usageError(err)
	}
	return err
}

// projectHint says how to act on a container of a Compose project that
// was refused.
func projectHint(err error, pe *sandbox.ProjectError, subdir string) error {
	switch {
	case pe.Replace:
		return fmt.Errorf("%w (`docker compose -p %s up -d --force-recreate` replaces it with its service's configuration)", err, pe.Owner)
	case subdir != "":
		return fmt.Errorf("%w; to run the service in a container of its own, `docker workspace rm -f %s` (its data stays), then up again", err, subdir)
	}
	return err
}

// checkContext refuses, in one line, a current context the store does not
// have: the docker CLI would say it on every look at its endpoint (twice
// before the engine is asked), then exit.
func checkContext(dockerCLI command.Cli) error {
	name := dockerCLI.CurrentContext()
	if name == "" || name == command.DefaultContextName {
		return nil
	}
	if _, err := dockerCLI.ContextStore().GetMetadata(name); err != nil {
		return fmt.Errorf("unable to resolve docker endpoint: %w", err)
	}
	return nil
}
