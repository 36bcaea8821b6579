package plugin

import (
	"testing"
	"time"

	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// A node's engine is reached with a client made from its label, not with
// this context's: an endpoint, or a context of the user's; a failure to
// reach it names that engine, not the context's.
func TestNodeCLI(t *testing.T) {
	c := newTestCLI(t, sandboxtest.NewEngine(), "")
	assert.NilError(t, c.ContextStore().CreateOrUpdate(store.Metadata{
		Name:      "node2",
		Metadata:  struct{}{},
		Endpoints: map[string]any{docker.DockerEndpoint: docker.EndpointMeta{Host: "tcp://10.0.0.2:2375"}},
	}))
	timeout := &sandbox.TimeoutError{Op: "create an exec in container x", After: 3 * time.Second}

	n, err := newNodeCLI(c, "unix:///run/node1.sock")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(n.Client().DaemonHost(), "unix:///run/node1.sock"))
	assert.Check(t, n.Client() != c.Client(), "the node's client is the context's")
	assert.Check(t, is.Equal(engineErr(n, timeout).Error(),
		"the Docker engine at unix:///run/node1.sock (a node's docker-workspace.engine label) did not answer within 3s (create an exec in container x): is it hung? --api-timeout sets the limit"))

	n, err = newNodeCLI(c, "node2")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(n.Client().DaemonHost(), "tcp://10.0.0.2:2375"))
	assert.Check(t, is.Equal(engineErr(n, timeout).Error(),
		`the Docker engine of context "node2" at tcp://10.0.0.2:2375 did not answer within 3s (create an exec in container x): is it hung? --api-timeout sets the limit`))

	_, err = newNodeCLI(c, "nosuch")
	assert.Check(t, is.ErrorContains(err, `context "nosuch"`))
}
