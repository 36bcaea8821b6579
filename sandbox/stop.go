package sandbox

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// DefaultStopTimeout is how long Stop waits, in seconds, before it kills.
const DefaultStopTimeout = 15

// StopOptions say how a container is stopped.
type StopOptions struct {
	// Timeout is how long to wait, in seconds, after the stop signal before
	// killing the container; nil: DefaultStopTimeout.
	Timeout *int
	// Signal is the stop signal ("SIGTERM", "9"…); empty: the container's.
	Signal string
}

// Stop stops the container of the workspace subdir. A workspace without a
// container is no error: found is then false. A container already stopped
// stays as it is; one that is another workspace's is refused.
func (m *Manager) Stop(ctx context.Context, subdir string, opts StopOptions) (found bool, err error) {
	ctr, found, err := m.inspectOwn(ctx, subdir)
	if err != nil || !found {
		return found, err
	}
	return m.stopContainer(ctx, ctr.ID, trimSlash(ctr.Name), opts)
}

// StopContainer stops a workspace container that [Manager.Resolve] found;
// one that is gone meanwhile gives found false.
func (m *Manager) StopContainer(ctx context.Context, w Workspace, opts StopOptions) (found bool, err error) {
	return m.stopContainer(ctx, w.ID, w.Name, opts)
}

func (m *Manager) stopContainer(ctx context.Context, id, name string, opts StopOptions) (found bool, err error) {
	t := DefaultStopTimeout
	if opts.Timeout != nil {
		t = *opts.Timeout
	}
	err = m.client.ContainerStop(ctx, id, container.StopOptions{Timeout: &t, Signal: opts.Signal})
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return true, fmt.Errorf("stop container %s: %w", name, err)
	}
}

// RemoveContainer removes a workspace container that [Manager.Resolve]
// found (never a volume, never a directory); one that is gone meanwhile
// gives found false.
func (m *Manager) RemoveContainer(ctx context.Context, w Workspace, force bool) (found bool, err error) {
	return m.removeContainer(ctx, w.ID, w.Name, container.ContainerState(w.State), force)
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

// removeInspected removes a container that inspectOwn found.
func (m *Manager) removeInspected(ctx context.Context, ctr container.InspectResponse, force bool) (found bool, err error) {
	var state container.ContainerState
	if ctr.State != nil {
		state = ctr.State.Status
	}
	return m.removeContainer(ctx, ctr.ID, trimSlash(ctr.Name), state, force)
}

// removeContainer removes a container; a running one only with force. Of
// two concurrent removals, the second waits for the first and succeeds too.
func (m *Manager) removeContainer(ctx context.Context, id, name string, state container.ContainerState, force bool) (found bool, err error) {
	switch state {
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		if !force {
			return true, fmt.Errorf("container %s is %s: stop it first, or remove it with force", name, state)
		}
	}
	err = m.client.ContainerRemove(ctx, id, container.RemoveOptions{Force: force})
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	case cerrdefs.IsConflict(err) && force: // removal already in progress
		if err := m.waitRemoved(ctx, id, removeTimeout); err != nil {
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
