package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

// ResolveCompose turns the volume and network names of cfg, written as a
// Compose file writes them ("workspaces"), into the names of the resources
// of the project cfg.ComposeProject on this engine: the volume labelled
// com.docker.compose.project=<project> and com.docker.compose.volume=<name>
// (normally <project>_<name>), the same for the network. A name that is no
// resource of the project is used as is — an external volume or network —
// when the engine has it; when it has neither, the error wraps
// sandbox.ErrNotOnEngine.
func (m *Manager) ResolveCompose(ctx context.Context, cfg *sandbox.Config) error {
	if cfg.ComposeProject == "" {
		return nil
	}
	if cfg.Mode == sandbox.ModeVolumeSubpath {
		for _, name := range []*string{&cfg.WorkspaceVolume, &cfg.SharedVolume} {
			resolved, err := m.resolveVolume(ctx, cfg.ComposeProject, *name)
			if err != nil {
				return err
			}
			*name = resolved
		}
	}
	// "default" of a project is its default network, as in its Compose
	// file — not the engine's default bridge, where workspaces reach each
	// other.
	if cfg.Network != "" && (!builtinNetwork(cfg.Network) || cfg.Network == "default") {
		resolved, err := m.resolveNetwork(ctx, cfg.ComposeProject, cfg.Network)
		if err != nil {
			return err
		}
		cfg.Network = resolved
	}
	return nil
}

func (m *Manager) resolveVolume(ctx context.Context, project, name string) (string, error) {
	list, err := m.client.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", composeProjectLabel+"="+project),
		filters.Arg("label", composeVolumeLabel+"="+name),
	)})
	if err != nil {
		return "", fmt.Errorf("look for volume %q of Compose project %q: %w", name, project, err)
	}
	switch len(list.Volumes) {
	case 1:
		return list.Volumes[0].Name, nil
	case 0:
	default:
		return "", fmt.Errorf("Compose project %q has %d volumes named %q", project, len(list.Volumes), name)
	}
	if _, err := m.client.VolumeInspect(ctx, name); err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("volume %q is neither a volume of Compose project %q nor an existing (external) volume %w", name, project, sandbox.ErrNotOnEngine)
		}
		return "", fmt.Errorf("inspect volume %q: %w", name, err)
	}
	return name, nil
}

func (m *Manager) resolveNetwork(ctx context.Context, project, name string) (string, error) {
	list, err := m.client.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", composeProjectLabel+"="+project),
		filters.Arg("label", composeNetworkLabel+"="+name),
	)})
	if err != nil {
		return "", fmt.Errorf("look for network %q of Compose project %q: %w", name, project, err)
	}
	switch len(list) {
	case 1:
		return list[0].Name, nil
	case 0:
	default:
		return "", fmt.Errorf("Compose project %q has %d networks named %q", project, len(list), name)
	}
	if name == "default" {
		// Compose makes <project>_default for its containers' services
		// only: a project of workspace services alone has none.
		return "", fmt.Errorf("%w: Compose project %q has no default network (Compose makes %s_default only for services that are containers): "+
			"name a network the project declares, or none", sandbox.ErrInvalidConfig, project, project)
	}
	if _, err := m.client.NetworkInspect(ctx, name, network.InspectOptions{}); err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("network %q is neither a network of Compose project %q nor an existing (external) network %w", name, project, sandbox.ErrNotOnEngine)
		}
		return "", fmt.Errorf("inspect network %q: %w", name, err)
	}
	return name, nil
}

// builtinNetwork: network modes that name no network resource.
func builtinNetwork(n string) bool {
	switch n {
	case "bridge", "host", "none", "default":
		return true
	}
	return strings.HasPrefix(n, "container:")
}

// RemoveForProject removes the container of subdir if it was made for the
// Compose project (never a volume, never a directory). A container of
// another project, or of none, is left alone: found is then false.
func (m *Manager) RemoveForProject(ctx context.Context, project, subdir string) (removed bool, err error) {
	ctr, found, err := m.inspectProject(ctx, project, subdir)
	if err != nil || !found {
		return false, err
	}
	m.markReason(ctx, ctr, sandbox.ReasonCompose)
	if ctr.State != nil && ctr.State.Running {
		// Stopped first, as compose down stops a container before it
		// removes it: its processes get the stop signal and the grace
		// period, not a kill.
		if err := m.stopContainer(ctx, ctr.ID, trimSlash(ctr.Name), sandbox.StopOptions{}); err != nil {
			return foundUnlessGone(err)
		}
	}
	err = m.removeContainer(ctx, ctr.ID, trimSlash(ctr.Name), stateOf(ctr), true)
	if err == nil && recordedEgress(ctr.Config.Labels).Proxied() {
		err = m.removeEgress(ctx, trimSlash(ctr.Name), subdir)
	}
	return foundUnlessGone(err)
}

// StopForProject stops the container of subdir if it was made for the
// Compose project; a container of another project, or of none, is left
// alone: found is then false.
func (m *Manager) StopForProject(ctx context.Context, project, subdir string, opts sandbox.StopOptions) (found bool, err error) {
	ctr, found, err := m.inspectProject(ctx, project, subdir)
	if err != nil || !found {
		return false, err
	}
	m.markReason(ctx, ctr, sandbox.ReasonCompose)
	err = m.stopContainer(ctx, ctr.ID, trimSlash(ctr.Name), opts)
	if err == nil {
		m.stopProxy(ctx, ctr.Config.Labels)
	}
	return foundUnlessGone(err)
}

// foundUnlessGone: a container that was gone when it was acted on was not
// found.
func foundUnlessGone(err error) (bool, error) {
	if errors.Is(err, sandbox.ErrNoSuchWorkspace) {
		return false, nil
	}
	return err == nil, err
}

func (m *Manager) inspectProject(ctx context.Context, project, subdir string) (container.InspectResponse, bool, error) {
	ctr, found, err := m.inspectOwn(ctx, subdir)
	if err != nil || !found {
		return ctr, false, err
	}
	if ctr.Config == nil || ctr.Config.Labels[sandbox.LabelComposeProject] != project {
		return ctr, false, nil
	}
	return ctr, true, nil
}

// composeLabels are the labels by which Compose takes a container for the
// one container of a service of its project (ps, logs, exec, top, stop,
// start, restart, kill, and down without the Compose file): project,
// service, number, not a one-off, and a config hash (Compose needs one; it
// compares it only for services it makes itself).
func composeLabels(cfg sandbox.Config, subdir, hash string) map[string]string {
	service := cfg.ComposeService
	if service == "" {
		service = strings.TrimPrefix(sandbox.ContainerName(subdir), sandbox.NamePrefix)
	}
	return map[string]string{
		composeProjectLabel: cfg.ComposeProject,
		composeServiceLabel: service,
		composeNumberLabel:  "1",
		composeOneoffLabel:  "False",
		composeHashLabel:    hash,
	}
}

// ComposeDefaultNetwork is the default network of a Compose project on
// this engine ("" when it has none: Compose makes it only for a project
// whose services other than providers use it).
func (m *Manager) ComposeDefaultNetwork(ctx context.Context, project string) (string, error) {
	list, err := m.client.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", composeProjectLabel+"="+project),
		filters.Arg("label", composeNetworkLabel+"=default"),
	)})
	if err != nil {
		return "", fmt.Errorf("look for the default network of Compose project %q: %w", project, err)
	}
	if len(list) != 1 {
		return "", nil
	}
	return list[0].Name, nil
}

// Labels that Docker Compose sets on the resources of a project.
const (
	composeProjectLabel = "com.docker.compose.project"
	composeServiceLabel = sandbox.LabelComposeService
	composeNumberLabel  = "com.docker.compose.container-number"
	composeOneoffLabel  = "com.docker.compose.oneoff"
	composeHashLabel    = "com.docker.compose.config-hash"
	composeVolumeLabel  = "com.docker.compose.volume"
	composeNetworkLabel = "com.docker.compose.network"
)
