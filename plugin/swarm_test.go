package plugin

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// --orchestrator (flag, variable, config.json) is checked before the
// engine is asked anything; swarm on an engine that manages no Swarm is
// refused in one line, and so are the commands of one engine.
func TestOrchestrator(t *testing.T) {
	api := sandboxtest.NewSwarm()
	api.State = swarm.LocalNodeStateInactive
	c := newTestCLI(t, api, "")
	err := c.run("ensure", "--orchestrator", "kubernetes", "a")
	assert.Check(t, is.ErrorContains(err, `--orchestrator: invalid orchestrator "kubernetes": must be "engine" or "swarm"`))
	assert.Check(t, is.Equal(api.Calls(), ""))

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
	api.State, api.Control, api.CallLog = swarm.LocalNodeStateActive, false, nil
	err = c.run("rm", "--orchestrator", "swarm", "a")
	assert.Check(t, is.ErrorContains(err, "is a Swarm worker, not a manager: use a context of a Swarm manager"))
	assert.Check(t, is.Equal(api.Calls(), "services info"))
	api.CallLog = nil
	err = c.run("doctor", "--orchestrator", "swarm", "--mount-mode", "volume_subpath", "--workspace-volume", "w", "--shared-volume", "s")
	assert.Check(t, is.ErrorContains(err, "is a Swarm worker"))
	assert.Check(t, is.Contains(c.out.String(), "Result:"))

	api.CallLog = nil
	for _, args := range [][]string{{"prune", "-f"}, {"inspect", "a"}, {"restart", "a"}, {"reap", "--idle-for", "1m"}} {
		err = c.run(append(args, "--orchestrator", "swarm")...)
		assert.Check(t, is.ErrorContains(err, args[0]+" is not supported on swarm"), args)
		assert.Check(t, is.ErrorContains(err, "on swarm, a workspace is the service named as its container"), args)
		assert.Check(t, is.Equal(exitCode(err), 125), args)
	}
	err = c.run("inspect", "--orchestrator", "swarm", "a")
	assert.Check(t, is.ErrorContains(err, "container: docker service inspect does it)"))
	err = c.run("ensure", "--orchestrator", "swarm", "--compose-project", "p", "--mount-mode", "volume_subpath", "--workspace-volume", "w", "--shared-volume", "s", "a")
	assert.Check(t, is.ErrorContains(err, "a Compose project is not supported on swarm"))
	err = c.run("stop", "--orchestrator", "swarm", "--signal", "KILL", "a")
	assert.Check(t, is.ErrorContains(err, "--signal is not supported on swarm: a service's stop grace period"))
	err = c.run("ensure", "--placement", "everywhere", "a")
	assert.Check(t, is.ErrorContains(err, `--placement: invalid placement "everywhere"`))
	err = c.run("ensure", "--mount-mode", "volume_subpath", "--workspace-volume", "w", "--shared-volume", "s", "--volume-opt", "novalue", "a")
	assert.Check(t, is.ErrorContains(err, `--volume-opt: invalid volume option "novalue"`))
	assert.Check(t, is.Equal(api.Calls(), ""))
}
