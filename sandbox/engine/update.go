package engine

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/system"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// Update changes the limits of a workspace container that Resolve found,
// live: the container keeps running, with its ID. The engine keeps the new
// values, which drift compares with (sandbox.DriftLimits). A limit the
// engine's kernel would not apply is refused before anything changes.
func (m *Manager) Update(ctx context.Context, w sandbox.Workspace, l sandbox.Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	info, err := m.client.Info(ctx)
	if err != nil {
		return fmt.Errorf("ask the engine what it can limit: %w", err)
	}
	if err := unsupportedLimit(info, l); err != nil {
		return err
	}
	_, err = m.client.ContainerUpdate(ctx, w.ID, container.UpdateConfig{Resources: updateResources(l)})
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: container %s is gone", sandbox.ErrNoSuchWorkspace, w.Name)
	}
	return fmt.Errorf("update container %s: %w", w.Name, err)
}

// unsupportedLimit refuses a limit the engine would ignore, with a
// warning the caller might not read.
func unsupportedLimit(info system.Info, l sandbox.Limits) error {
	for _, c := range []struct {
		set, ok bool
		what    string
	}{
		{l.NanoCPUs != nil, info.CPUCfsQuota, "a CPU limit (no CFS quota)"},
		{l.Memory != nil, info.MemoryLimit, "a memory limit"},
		{l.PidsLimit != nil, info.PidsLimit, "a process limit"},
	} {
		if c.set && !c.ok {
			return fmt.Errorf("%w: the engine's kernel cannot apply %s: it would ignore it", sandbox.ErrNotSupported, c.what)
		}
	}
	return nil
}

// updateResources is what the engine's update call takes for l. A memory
// limit comes with a swap limit of twice as much, as the engine gives a
// container made with --memory (it refuses a memory limit above the swap
// limit in force).
func updateResources(l sandbox.Limits) container.Resources {
	var r container.Resources
	if l.NanoCPUs != nil {
		r.NanoCPUs = *l.NanoCPUs
	}
	if l.Memory != nil {
		r.Memory, r.MemorySwap = *l.Memory, 2**l.Memory
	}
	if l.PidsLimit != nil {
		pids := *l.PidsLimit
		r.PidsLimit = &pids
	}
	return r
}
