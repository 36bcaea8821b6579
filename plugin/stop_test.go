package plugin

import (
	"errors"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestStop(t *testing.T) {
	var timeouts []int
	f := &fakeAPI{stopFn: func(id string, opts container.StopOptions) error {
		timeouts = append(timeouts, *opts.Timeout)
		switch id {
		case "gws-gone":
			return cerrdefs.ErrNotFound
		case "gws-stuck":
			return errors.New("permission denied")
		}
		return nil
	}}
	c := newTestCLI(t, f, "")
	err := c.run("stop", "-t", "3", "a", "gone", "stuck", "b")
	assert.Check(t, is.Error(err, "stop container gws-stuck: permission denied"))
	assert.Check(t, is.Equal(c.out.String(), "a\nb\n"))
	assert.Check(t, is.Equal(c.err.String(), "workspace \"gone\" has no container: nothing to stop\n"))
	assert.Check(t, is.DeepEqual(timeouts, []int{3, 3, 3, 3}))

	timeouts = nil
	assert.NilError(t, c.run("stop", "a"))
	assert.Check(t, is.DeepEqual(timeouts, []int{15}))
	timeouts = nil
	assert.NilError(t, c.run("stop", "--timeout", "0", "a"))
	assert.Check(t, is.DeepEqual(timeouts, []int{0}))
}
