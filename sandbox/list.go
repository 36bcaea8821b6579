package sandbox

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
)

// Workspace is a workspace container as [Manager.List] finds it.
type Workspace struct {
	ID   string
	Name string
	// Subdir is the workspace subdir; empty for a container made by the
	// original gateway module, which recorded none.
	Subdir string
	Mode   MountMode
	// Image is the image reference the container was made from; ImageID
	// the image it runs.
	Image   string
	ImageID string
	// State is the engine's state word ("running", "exited", ...), Status
	// its human text ("Up 2 minutes").
	State   string
	Status  string
	Created time.Time
	Labels  map[string]string
	// Drift names what differs from a configuration; see CheckDrift.
	Drift []string
	// On Swarm (see [Swarm.List]): the ID is the service's, Node where its
	// task is (or the node it is pinned to), ContainerID the task's
	// container, State its task's state ("stopped": scaled to 0), and
	// Warnings what needs an operator (a container that may still run on a
	// node that is down).
	Node        string
	ContainerID string
	Warnings    []string

	unconstrained bool // a Swarm service not kept off old Engines
}

// List returns the workspace containers of the engine, running or not,
// sorted by name: ours (labelled) and those of the original gateway module
// (named gws-…, with a mount at WorkspaceTarget, no labels of ours).
func (m *Manager) List(ctx context.Context) ([]Workspace, error) {
	ctrs, err := m.client.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("name", "^/?"+NamePrefix)),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	return workspacesFrom(ctrs), nil
}

// workspacesFrom keeps the workspace containers of a container list.
func workspacesFrom(ctrs []container.Summary) []Workspace {
	var out []Workspace
	for _, c := range ctrs {
		name := ""
		for _, n := range c.Names {
			if n = trimSlash(n); strings.HasPrefix(n, NamePrefix) && !strings.Contains(n, "/") {
				name = n
				break
			}
		}
		if _, task := c.Labels[swarmTaskLabel]; name == "" || task {
			continue // a Swarm task's container is its service's (see Swarm)
		}
		w := Workspace{
			ID: c.ID, Name: name, Image: c.Image, ImageID: c.ImageID, State: string(c.State), Status: c.Status,
			Created: time.Unix(c.Created, 0), Labels: c.Labels,
		}
		if subdir, ok := c.Labels[LabelSubdir]; ok {
			w.Subdir = subdir
			w.Mode = MountMode(c.Labels[LabelMode])
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
func seedMode(mounts []container.MountPoint) (MountMode, bool) {
	for _, mp := range mounts {
		if mp.Destination != WorkspaceTarget {
			continue
		}
		if mp.Type == mount.TypeVolume {
			return ModeVolumeSubpath, true
		}
		return ModeBind, true
	}
	return "", false
}

// DriftImage is the drift of a container whose image reference names
// another image than the one it runs.
const DriftImage = "image"

// ImageDrift fills in the Drift of each workspace with what changed under
// it since it was made, without a configuration to compare with: its image
// reference now names another image (one image inspect per reference). A
// reference that names no image now is no drift.
func (m *Manager) ImageDrift(ctx context.Context, workspaces []Workspace) error {
	current := map[string]string{}
	for i := range workspaces {
		w := &workspaces[i]
		w.Drift = nil
		if w.Image == "" || w.ImageID == "" || strings.HasPrefix(w.Image, "sha256:") {
			continue
		}
		id, ok := current[w.Image]
		if !ok {
			var err error
			if id, err = m.imageID(ctx, w.Image); err != nil && !cerrdefs.IsNotFound(err) {
				return err
			}
			current[w.Image] = id
		}
		if id != "" && id != w.ImageID {
			w.Drift = []string{DriftImage}
		}
	}
	return nil
}

// CheckDrift fills in the Drift of each workspace: what differs between its
// container and the container that cfg defines for its subdir, the image
// that cfg.Image names now included (one image inspect in all).
func (m *Manager) CheckDrift(ctx context.Context, workspaces []Workspace, cfg Config) error {
	imageID, err := m.imageID(ctx, cfg.Image)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	for i := range workspaces {
		w := &workspaces[i]
		if w.Subdir == "" {
			w.Drift = []string{DriftUnknown}
			continue
		}
		w.Drift = drift(w.Labels, specFor(w.Subdir, cfg, imageID))
	}
	return nil
}
