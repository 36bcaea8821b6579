package plugin

import (
	"context"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// swarmAPI is an engine that answers Info with a Swarm state.
type swarmAPI struct {
	*fakeAPI
	state   swarm.LocalNodeState
	manager bool
}

func (s *swarmAPI) notManager(call string) error {
	s.record(call)
	return cerrdefs.ErrUnavailable.WithMessage("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
}

func (s *swarmAPI) ServiceList(context.Context, swarm.ServiceListOptions) ([]swarm.Service, error) {
	return nil, s.notManager("services")
}

func (s *swarmAPI) NodeList(context.Context, swarm.NodeListOptions) ([]swarm.Node, error) {
	return nil, s.notManager("nodes")
}

func (s *swarmAPI) Info(context.Context) (system.Info, error) {
	s.record("info")
	var info system.Info
	info.Swarm.LocalNodeState, info.Swarm.ControlAvailable = s.state, s.manager
	return info, nil
}

// --orchestrator (flag, variable, config.json) is checked before the
// engine is asked anything; swarm on an engine that manages no Swarm is
// refused in one line, and so are the commands of one engine.
func TestOrchestrator(t *testing.T) {
	api := &swarmAPI{fakeAPI: &fakeAPI{}, state: swarm.LocalNodeStateInactive}
	c := newTestCLI(t, api, "")
	err := c.run("ensure", "--orchestrator", "kubernetes", "a")
	assert.Check(t, is.ErrorContains(err, `--orchestrator: invalid orchestrator "kubernetes": must be "engine" or "swarm"`))
	assert.Check(t, is.Len(api.calls, 0))

	t.Setenv("GATEWAY_WORKSPACE_ORCHESTRATOR", "nomad")
	err = c.run("ls")
	assert.Check(t, is.ErrorContains(err, `GATEWAY_WORKSPACE_ORCHESTRATOR: invalid orchestrator "nomad"`))
	t.Setenv("GATEWAY_WORKSPACE_ORCHESTRATOR", "")

	for _, args := range [][]string{
		{"ensure", "--orchestrator", "swarm", "--mount-mode", "volume_subpath", "--workspace-volume", "w", "--shared-volume", "s", "a"},
		{"stop", "--orchestrator", "swarm", "a"},
		{"ls", "--orchestrator", "swarm"},
	} {
		err = c.run(args...)
		assert.Check(t, is.ErrorContains(err, "this engine is in no Swarm"), args)
	}
	api.state, api.calls = swarm.LocalNodeStateActive, nil
	err = c.run("rm", "--orchestrator", "swarm", "a")
	assert.Check(t, is.ErrorContains(err, "is a Swarm worker: use a context of a manager"))
	assert.Check(t, is.DeepEqual(api.calls, []string{"services", "info"}))
	api.calls = nil
	err = c.run("doctor", "--orchestrator", "swarm", "--mount-mode", "volume_subpath", "--workspace-volume", "w", "--shared-volume", "s")
	assert.Check(t, is.ErrorContains(err, "is a Swarm worker"))
	assert.Check(t, is.Contains(c.out.String(), "Result:"))

	api.calls = nil
	for _, args := range [][]string{{"prune", "-f"}, {"inspect", "a"}, {"restart", "a"}, {"reap", "--idle-for", "1m"}} {
		err = c.run(append(args, "--orchestrator", "swarm")...)
		assert.Check(t, is.ErrorContains(err, "on Swarm use docker service commands"), args)
	}
	err = c.run("ensure", "--orchestrator", "swarm", "--compose-project", "p", "a")
	assert.Check(t, is.ErrorContains(err, "Compose runs its services on one engine"))
	err = c.run("stop", "--orchestrator", "swarm", "--signal", "KILL", "a")
	assert.Check(t, is.ErrorContains(err, "--signal and --timeout are not for Swarm"))
	err = c.run("ensure", "--placement", "everywhere", "a")
	assert.Check(t, is.ErrorContains(err, `--placement: invalid placement "everywhere"`))
	err = c.run("ensure", "--mount-mode", "volume_subpath", "--workspace-volume", "w", "--shared-volume", "s", "--volume-opt", "novalue", "a")
	assert.Check(t, is.ErrorContains(err, `--volume-opt: invalid volume option "novalue"`))
	assert.Check(t, is.Len(api.calls, 0))
}

func (s *swarmAPI) ServerVersion(context.Context) (types.Version, error) {
	return types.Version{Version: "28.5.2", APIVersion: "1.51", Os: "linux"}, nil
}
