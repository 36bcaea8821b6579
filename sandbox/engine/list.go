package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
)

// List returns the workspace containers of the engine, running or not,
// sorted by name: ours (labelled) and those of the original gateway module
// (named gws-…, with a mount at WorkspaceTarget, no labels of ours). The
// containers of an orchestrator's tasks are their services', not listed.
func (m *Manager) List(ctx context.Context) ([]sandbox.Workspace, error) {
	ctrs, err := m.client.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("name", "^/?"+sandbox.NamePrefix)),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	return workspacesFrom(ctrs), nil
}

// workspacesFrom keeps the workspace containers of a container list.
func workspacesFrom(ctrs []container.Summary) []sandbox.Workspace {
	var out []sandbox.Workspace
	for _, c := range ctrs {
		name := ""
		for _, n := range c.Names {
			if n = trimSlash(n); strings.HasPrefix(n, sandbox.NamePrefix) && !strings.Contains(n, "/") {
				name = n
				break
			}
		}
		if name == "" || claims.IsTask(&c) {
			continue
		}
		w := sandbox.Workspace{
			ID: c.ID, Name: name, Image: c.Image, ImageID: c.ImageID, State: string(c.State), Status: c.Status,
			Created: time.Unix(c.Created, 0), Labels: c.Labels,
		}
		if subdir, ok := c.Labels[sandbox.LabelSubdir]; ok {
			w.Subdir = subdir
			w.Mode = sandbox.MountMode(c.Labels[sandbox.LabelMode])
			if warning := sandbox.NetworkWarning(c.Labels); warning != "" {
				w.Warnings = append(w.Warnings, warning)
			}
		} else if mode, ok := seedMode(c.Mounts); ok {
			w.Mode = mode
		} else {
			continue
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// seedMode recognises a container of the original module by its workspace
// mount, and tells its mode.
func seedMode(mounts []container.MountPoint) (sandbox.MountMode, bool) {
	for _, mp := range mounts {
		if mp.Destination != sandbox.WorkspaceTarget {
			continue
		}
		if mp.Type == mount.TypeVolume {
			return sandbox.ModeVolumeSubpath, true
		}
		return sandbox.ModeBind, true
	}
	return "", false
}

// Resolve finds, with one container list, what each reference names (see
// sandbox.ResolveRefs); a reference that looks like a container's name or
// ID and names no workspace is told apart when it names another container.
func (m *Manager) Resolve(ctx context.Context, refs []string) ([]sandbox.Target, error) {
	workspaces, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	out := sandbox.ResolveRefs(refs, workspaces)
	for i := range out {
		t := &out[i]
		if t.Workspace != nil || t.Err != nil {
			continue
		}
		// No workspace's: does the reference, or the subdir's name, name
		// another container?
		name := t.Ref
		if !t.Named {
			name = sandbox.ContainerName(t.Subdir)
		}
		if ctr, err := m.client.ContainerInspect(ctx, name); err == nil {
			t.Err = notWorkspace(ctr)
		}
	}
	return out, nil
}

// notWorkspace is the refusal of a container that is no workspace
// container of this engine.
func notWorkspace(ctr container.InspectResponse) error {
	if ctr.Config != nil {
		if svc, ok := ctr.Config.Labels[claims.ServiceLabel]; ok {
			return fmt.Errorf("%w: container %s is a task of Swarm service %s, not a workspace container of this engine (%w); nothing was changed",
				sandbox.ErrNotThisWorkspace, trimSlash(ctr.Name), svc, sandbox.ErrOrchestrated)
		}
	}
	return fmt.Errorf("%w: container %s is not a workspace container; nothing was changed", sandbox.ErrNotThisWorkspace, trimSlash(ctr.Name))
}

// CheckDrift fills in the Drift of each workspace. With cfg: what differs
// between its container and the container that cfg defines for its subdir,
// the image that cfg.Image names now included (one image inspect in all).
// Without: what changed under it since it was made — its image reference
// names another image now (one image inspect per reference; a reference
// that names no image now is no drift).
func (m *Manager) CheckDrift(ctx context.Context, workspaces []sandbox.Workspace, cfg *sandbox.Config) error {
	if cfg == nil {
		return m.imageDrift(ctx, workspaces)
	}
	imageID, err := m.imageID(ctx, cfg.Image)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	rcfg := bindResolved(*cfg)
	for i := range workspaces {
		w := &workspaces[i]
		if w.Subdir == "" {
			w.Drift = []string{sandbox.DriftUnknown}
			continue
		}
		want := sandbox.SpecFor(w.Subdir, rcfg, imageID)
		w.Drift = sandbox.Drift(w.Labels, want)
		// The limits are the container's now (update changes them live;
		// its labels keep those it was made with): one inspect each.
		ctr, err := m.client.ContainerInspect(ctx, w.ID)
		switch {
		case cerrdefs.IsNotFound(err):
			continue // removed meanwhile
		case err != nil:
			return err
		}
		w.Drift = liveDrift(w.Drift, ctr, want)
	}
	return nil
}

// liveDrift is a drift with the limits a container has now (a container
// of the original module, which recorded nothing, keeps its drift).
func liveDrift(drift []string, ctr container.InspectResponse, want sandbox.Spec) []string {
	if ctr.ContainerJSONBase == nil || ctr.HostConfig == nil || slices.Contains(drift, sandbox.DriftUnknown) {
		return drift
	}
	r := ctr.HostConfig.Resources
	live := sandbox.LiveLimits{NanoCPUs: r.NanoCPUs, Memory: r.Memory}
	if r.PidsLimit != nil {
		live.PidsLimit = *r.PidsLimit
	}
	drift = sandbox.DriftLimits(drift, live, want)
	if ctr.Config != nil {
		drift = sandbox.DriftBind(drift, ctr.Config.Labels, bindSources(ctr), want)
	}
	return drift
}

func (m *Manager) imageDrift(ctx context.Context, workspaces []sandbox.Workspace) error {
	current := map[string]string{}
	for i := range workspaces {
		w := &workspaces[i]
		w.Drift = nil
		ref := w.Image
		if strings.HasPrefix(ref, "sha256:") {
			// The engine shows the image's ID once its tag moved to another
			// image: the reference it was made from is in its labels.
			ref = ""
			if s, ok := sandbox.RecordedSpec(w.Labels); ok {
				ref = s.Image
			}
		}
		if ref == "" || w.ImageID == "" || strings.HasPrefix(ref, "sha256:") {
			continue
		}
		id, ok := current[ref]
		if !ok {
			var err error
			if id, err = m.imageID(ctx, ref); err != nil && !cerrdefs.IsNotFound(err) {
				return err
			}
			current[ref] = id
		}
		if id != "" && id != w.ImageID {
			w.Drift = []string{sandbox.DriftImage}
		}
	}
	return nil
}

// Locate is where the container of a workspace that Resolve (or Ensure)
// found is: on this engine, whatever its state.
func (m *Manager) Locate(_ context.Context, w sandbox.Workspace) (sandbox.Location, error) {
	return sandbox.Location{ContainerID: w.ID}, nil
}

// LoginShell is the login shell of the user a container runs as.
func (m *Manager) LoginShell(ctx context.Context, loc sandbox.Location, user string) (string, error) {
	return loginShell(ctx, m.client, loc.ContainerID, user)
}
