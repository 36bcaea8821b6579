package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// resolve1 resolves one reference; it must name a workspace.
func resolve1(t *testing.T, m *Manager, ref string) sandbox.Workspace {
	t.Helper()
	targets, err := m.Resolve(context.Background(), []string{ref})
	assert.NilError(t, err)
	assert.NilError(t, targets[0].Err)
	assert.Assert(t, targets[0].Workspace != nil, "%s names no workspace", ref)
	return *targets[0].Workspace
}

func TestStop(t *testing.T) {
	cfg := volumeConfig()
	f := sandboxtest.NewEngine()
	var gotTimeout int
	f.OnStop = func(c *sandboxtest.Ctr, opts container.StopOptions) error {
		gotTimeout = *opts.Timeout
		if c.Name == "gws-stuck" {
			return errors.New("permission denied")
		}
		return nil
	}
	ours(f, "a", cfg, container.StateRunning)
	ours(f, "stuck", cfg, container.StateRunning)
	gone := ours(f, "gone", cfg, container.StateRunning)
	m := newManager(f)
	a, stuck, goneW := resolve1(t, m, "a"), resolve1(t, m, "stuck"), resolve1(t, m, "gone")
	f.CallLog = nil
	assert.NilError(t, m.Stop(context.Background(), a, sandbox.StopOptions{}))
	assert.Check(t, is.Equal(gotTimeout, sandbox.DefaultStopTimeout))
	three := 3
	f.Mu.Lock()
	delete(f.Ctrs, gone.ID)
	f.Mu.Unlock()
	assert.Check(t, is.ErrorIs(m.Stop(context.Background(), goneW, sandbox.StopOptions{Timeout: &three}), sandbox.ErrNoSuchWorkspace))
	err := m.Stop(context.Background(), stuck, sandbox.StopOptions{Timeout: &three})
	assert.Check(t, is.Error(err, "stop container gws-stuck: permission denied"))
	assert.Check(t, is.Equal(gotTimeout, 3))
	assert.Check(t, is.Equal(f.Calls(), "stop:gws-a stop:gws-stuck"))
}

func TestRemove(t *testing.T) {
	cfg := volumeConfig()
	f := sandboxtest.NewEngine()
	ours(f, "down", cfg, container.StateExited)
	ours(f, "up", cfg, container.StateRunning)
	m := newManager(f)
	down, up := resolve1(t, m, "down"), resolve1(t, m, "up")
	f.CallLog = nil
	assert.NilError(t, m.Remove(context.Background(), down, sandbox.RemoveOptions{}))
	assert.Check(t, is.ErrorIs(m.Remove(context.Background(), down, sandbox.RemoveOptions{}), sandbox.ErrNoSuchWorkspace), "removed meanwhile")
	err := m.Remove(context.Background(), up, sandbox.RemoveOptions{})
	assert.Check(t, is.ErrorContains(err, "container gws-up is running: stop it first"))
	assert.NilError(t, m.Remove(context.Background(), up, sandbox.RemoveOptions{Force: true}))
	assert.Check(t, is.Equal(f.Calls(), "remove:gws-down remove:? remove:gws-up"))
	assert.Check(t, is.Len(f.Names(), 0))
}
