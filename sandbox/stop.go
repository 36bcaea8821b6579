package sandbox

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// DefaultStopTimeout is how long Stop waits, in seconds, before it kills.
const DefaultStopTimeout = 15

// Stop stops the container of the workspace subdir, waiting timeout seconds
// (nil: DefaultStopTimeout) before killing it. A workspace without a
// container is no error: found is then false. A container already stopped
// stays as it is; one that is another workspace's is refused.
func (m *Manager) Stop(ctx context.Context, subdir string, timeout *int) (found bool, err error) {
	ctr, found, err := m.inspectOwn(ctx, subdir)
	if err != nil || !found {
		return found, err
	}
	return m.stopInspected(ctx, ctr, timeout)
}

func (m *Manager) stopInspected(ctx context.Context, ctr container.InspectResponse, timeout *int) (found bool, err error) {
	t := DefaultStopTimeout
	if timeout != nil {
		t = *timeout
	}
	err = m.client.ContainerStop(ctx, ctr.ID, container.StopOptions{Timeout: &t})
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return true, fmt.Errorf("stop container %s: %w", trimSlash(ctr.Name), err)
	}
}

// Remove removes the container of the workspace subdir — never a volume,
// never a directory: the workspace data stays. A running container is
// refused unless force is set. A workspace without a container is no error:
// found is then false.
func (m *Manager) Remove(ctx context.Context, subdir string, force bool) (found bool, err error) {
	ctr, found, err := m.inspectOwn(ctx, subdir)
	if err != nil || !found {
		return found, err
	}
	return m.removeInspected(ctx, ctr, force)
}

// removeInspected removes a container that inspectOwn found. Of two
// concurrent removals, the second waits for the first and succeeds too.
func (m *Manager) removeInspected(ctx context.Context, ctr container.InspectResponse, force bool) (found bool, err error) {
	name := trimSlash(ctr.Name)
	if ctr.State != nil && (ctr.State.Running || ctr.State.Paused || ctr.State.Restarting) && !force {
		return true, fmt.Errorf("container %s is %s: stop it first, or remove it with force", name, ctr.State.Status)
	}
	err = m.client.ContainerRemove(ctx, ctr.ID, container.RemoveOptions{Force: force})
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	case cerrdefs.IsConflict(err) && force: // removal already in progress
		if err := m.waitRemoved(ctx, ctr.ID, removeTimeout); err != nil {
			return true, fmt.Errorf("remove container %s: it is being removed, and still there: %w", name, err)
		}
		return true, nil
	default:
		return true, fmt.Errorf("remove container %s: %w", name, err)
	}
}

// inspectOwn inspects the container of subdir and checks that it is that
// workspace's.
func (m *Manager) inspectOwn(ctx context.Context, subdir string) (container.InspectResponse, bool, error) {
	if err := ValidateSubdir(subdir); err != nil {
		return container.InspectResponse{}, false, err
	}
	name := ContainerName(subdir)
	ctr, err := m.client.ContainerInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return ctr, false, nil
	}
	if err != nil {
		return ctr, false, fmt.Errorf("inspect container %s: %w", name, err)
	}
	return ctr, true, checkOwner(subdir, ctr)
}
