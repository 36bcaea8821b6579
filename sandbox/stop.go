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
// stays as it is.
func (m *Manager) Stop(ctx context.Context, subdir string, timeout *int) (found bool, err error) {
	if err := ValidateSubdir(subdir); err != nil {
		return false, err
	}
	t := DefaultStopTimeout
	if timeout != nil {
		t = *timeout
	}
	name := ContainerName(subdir)
	err = m.client.ContainerStop(ctx, name, container.StopOptions{Timeout: &t})
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return true, fmt.Errorf("stop container %s: %w", name, err)
	}
}
