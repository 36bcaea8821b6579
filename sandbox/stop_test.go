package sandbox

import (
	"context"
	"errors"
	"testing"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestStop(t *testing.T) {
	cfg := volumeConfig()
	var gotTimeout int
	f := engine(func(name string) (container.InspectResponse, error) {
		if name == "gws-gone" {
			return container.InspectResponse{}, errNotFound
		}
		return ours(name[len(NamePrefix):], cfg, container.StateRunning), nil
	})
	f.stopFn = func(id string, opts container.StopOptions) error {
		gotTimeout = *opts.Timeout
		if id == "id-gws-stuck" {
			return errors.New("permission denied")
		}
		return nil
	}
	m := NewManager(f)
	found, err := m.Stop(context.Background(), "a", StopOptions{})
	assert.Check(t, found && err == nil)
	assert.Check(t, is.Equal(gotTimeout, DefaultStopTimeout))
	three := 3
	found, err = m.Stop(context.Background(), "gone", StopOptions{Timeout: &three})
	assert.Check(t, !found && err == nil)
	_, err = m.Stop(context.Background(), "stuck", StopOptions{Timeout: &three})
	assert.Check(t, is.Error(err, "stop container gws-stuck: permission denied"))
	assert.Check(t, is.Equal(gotTimeout, 3))
	_, err = m.Stop(context.Background(), "/etc", StopOptions{})
	assert.Check(t, is.ErrorIs(err, ErrInvalidSubdir))
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a stop:id-gws-a inspect:gws-gone inspect:gws-stuck stop:id-gws-stuck"))
}

func TestRemove(t *testing.T) {
	cfg := volumeConfig()
	f := engine(func(name string) (container.InspectResponse, error) {
		switch name {
		case "gws-gone":
			return container.InspectResponse{}, errNotFound
		case "gws-up":
			return ours("up", cfg, container.StateRunning), nil
		}
		return ours(name[len(NamePrefix):], cfg, container.StateExited), nil
	})
	m := NewManager(f)
	found, err := m.Remove(context.Background(), "down", false)
	assert.Check(t, found && err == nil)
	found, err = m.Remove(context.Background(), "gone", false)
	assert.Check(t, !found && err == nil)
	_, err = m.Remove(context.Background(), "up", false)
	assert.Check(t, is.ErrorContains(err, "container gws-up is running: stop it first"))
	found, err = m.Remove(context.Background(), "up", true)
	assert.Check(t, found && err == nil)
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-down remove:id-gws-down inspect:gws-gone inspect:gws-up inspect:gws-up remove:id-gws-up"))
}
