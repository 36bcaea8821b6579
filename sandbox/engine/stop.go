package engine

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// Stop stops a workspace container that Resolve found; one already stopped
// stays as it is. One gone meanwhile gives an error that wraps
// sandbox.ErrNoSuchWorkspace.
func (m *Manager) Stop(ctx context.Context, w sandbox.Workspace, opts sandbox.StopOptions) error {
	if err := m.stopContainer(ctx, w.ID, w.Name, opts); err != nil {
		return err
	}
	m.stopProxy(ctx, w.Labels)
	return nil
}

func (m *Manager) stopContainer(ctx context.Context, id, name string, opts sandbox.StopOptions) error {
	t := opts.Seconds()
	err := m.client.ContainerStop(ctx, id, container.StopOptions{Timeout: &t, Signal: opts.Signal})
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: container %s is gone", sandbox.ErrNoSuchWorkspace, name)
	}
	return fmt.Errorf("stop container %s: %w", name, err)
}

// Remove removes a workspace container that Resolve found — never a
// volume, never a directory: the workspace data stays. A running container
// is refused unless opts.Force. One gone meanwhile gives an error that
// wraps sandbox.ErrNoSuchWorkspace.
func (m *Manager) Remove(ctx context.Context, w sandbox.Workspace, opts sandbox.RemoveOptions) error {
	if err := m.removeContainer(ctx, w.ID, w.Name, container.ContainerState(w.State), opts.Force); err != nil {
		return err
	}
	if recordedEgress(w.Labels).Proxied() {
		return m.removeEgress(ctx, w.Name, w.Subdir)
	}
	return nil
}

// removeContainer removes a container; a running one only with force. Of
// two concurrent removals, the second waits for the first and succeeds too.
func (m *Manager) removeContainer(ctx context.Context, id, name string, state container.ContainerState, force bool) error {
	switch state {
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		if !force {
			return fmt.Errorf("container %s is %s: stop it first, or remove it with force", name, state)
		}
	}
	err := m.client.ContainerRemove(ctx, id, container.RemoveOptions{Force: force})
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: container %s is gone", sandbox.ErrNoSuchWorkspace, name)
	case cerrdefs.IsConflict(err) && force: // removal already in progress
		if err := m.waitRemoved(ctx, id, removeTimeout); err != nil {
			return fmt.Errorf("remove container %s: it is being removed, and still there: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("remove container %s: %w", name, err)
}

// inspectOwn inspects the container of subdir and checks that it is that
// workspace's; found is false when there is none.
func (m *Manager) inspectOwn(ctx context.Context, subdir string) (container.InspectResponse, bool, error) {
	if err := sandbox.ValidateSubdir(subdir); err != nil {
		return container.InspectResponse{}, false, err
	}
	name := sandbox.ContainerName(subdir)
	ctr, err := m.client.ContainerInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return ctr, false, nil
	}
	if err != nil {
		return ctr, false, fmt.Errorf("inspect container %s: %w", name, err)
	}
	return ctr, true, checkOwner(subdir, ctr)
}

// stateOf is an inspected container's state.
func stateOf(ctr container.InspectResponse) container.ContainerState {
	if ctr.State == nil {
		return ""
	}
	return ctr.State.Status
}
