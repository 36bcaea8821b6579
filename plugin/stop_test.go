package plugin

import (
	"errors"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestStop(t *testing.T) {
	var timeouts []int
	f := &fakeAPI{
		inspectFn: ownContainers(container.StateRunning),
		stopFn: func(id string, opts container.StopOptions) error {
			timeouts = append(timeouts, *opts.Timeout)
			if id == "id-gws-stuck" {
				return errors.New("permission denied")
			}
			return nil
		},
	}
	c := newTestCLI(t, f, "")
	err := c.run("stop", "-t", "3", "a", "gone", "stuck", "b")
	assert.Check(t, is.Error(err, "stop container gws-stuck: permission denied"))
	assert.Check(t, is.Equal(c.out.String(), "a\nb\n"))
	assert.Check(t, is.Equal(c.err.String(), "workspace \"gone\" has no container: nothing to stop\n"))
	assert.Check(t, is.DeepEqual(timeouts, []int{3, 3, 3}))

	timeouts = nil
	assert.NilError(t, c.run("stop", "a"))
	assert.Check(t, is.DeepEqual(timeouts, []int{15}))
	timeouts = nil
	assert.NilError(t, c.run("stop", "--timeout", "0", "a"))
	assert.Check(t, is.DeepEqual(timeouts, []int{0}))
}

// ownContainers is an inspect of an engine where every workspace but
// "gone" has a container of its own in a state.
func ownContainers(status container.ContainerState) func(string) (container.InspectResponse, error) {
	return func(name string) (container.InspectResponse, error) {
		if name == "gws-gone" {
			return container.InspectResponse{}, cerrdefs.ErrNotFound
		}
		return container.InspectResponse{
			ContainerJSONBase: &container.ContainerJSONBase{
				ID: "id-" + name, Name: "/" + name,
				State: &container.State{Status: status, Running: status == container.StateRunning},
			},
			Config: &container.Config{Labels: map[string]string{sandbox.LabelSubdir: strings.TrimPrefix(name, sandbox.NamePrefix)}},
		}, nil
	}
}

func TestRemove(t *testing.T) {
	var removed []string
	f := &fakeAPI{
		inspectFn: ownContainers(container.StateExited),
		removeFn: func(id string, opts container.RemoveOptions) error {
			assert.Check(t, !opts.RemoveVolumes, "volumes removed")
			removed = append(removed, id)
			return nil
		},
	}
	c := newTestCLI(t, f, "")
	assert.NilError(t, c.run("rm", "a", "gone", "b"))
	assert.Check(t, is.Equal(c.out.String(), "a\nb\n"))
	assert.Check(t, is.Equal(c.err.String(), "workspace \"gone\" has no container: nothing to remove\n"))
	assert.Check(t, is.DeepEqual(removed, []string{"id-gws-a", "id-gws-b"}))

	f.inspectFn = ownContainers(container.StateRunning)
	removed = nil
	assert.Check(t, is.ErrorContains(c.run("rm", "a"), "container gws-a is running: stop it first"))
	assert.Check(t, is.Len(removed, 0))
	assert.NilError(t, c.run("rm", "-f", "a"))
	assert.Check(t, is.DeepEqual(removed, []string{"id-gws-a"}))
}
