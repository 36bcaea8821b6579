package sandbox

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

// ErrNotThisWorkspace is wrapped by the error of a container that holds a
// workspace's name but is not that workspace's container.
var ErrNotThisWorkspace = errors.New("the container is not this workspace's")

// checkIdentity refuses a container that holds the name of subdir but
// belongs to another workspace (its subdir label differs: "a b" and "a-b",
// "Ab" and "ab", two long subdirs alike in their first 50 characters), or
// that has no label of ours (made by the original module) and does not
// mount the workspace that we would mount.
func checkIdentity(subdir string, cfg Config, ctr container.InspectResponse) error {
	name := trimSlash(ctr.Name)
	if p := ctr.Config.Labels[LabelComposeProject]; p != "" && cfg.ComposeProject != "" && p != cfg.ComposeProject {
		return fmt.Errorf("%w: container %s belongs to Compose project %q, not %q; nothing was changed",
			ErrNotThisWorkspace, name, p, cfg.ComposeProject)
	}
	if _, ok := ctr.Config.Labels[LabelSubdir]; ok {
		return checkOwner(subdir, ctr)
	}
	var mp *container.MountPoint
	for i := range ctr.Mounts {
		if ctr.Mounts[i].Destination == WorkspaceTarget {
			mp = &ctr.Mounts[i]
		}
	}
	refuse := func(what string) error {
		return fmt.Errorf("%w: container %s has no docker-workspace labels and %s; refusing to adopt it for workspace %q (nothing was changed)",
			ErrNotThisWorkspace, name, what, subdir)
	}
	if mp == nil {
		return refuse("no mount at " + WorkspaceTarget)
	}
	switch cfg.Mode {
	case ModeVolumeSubpath:
		subpath := ""
		if ctr.HostConfig != nil {
			for _, m := range ctr.HostConfig.Mounts {
				if m.Target == WorkspaceTarget && m.VolumeOptions != nil {
					subpath = m.VolumeOptions.Subpath
				}
			}
		}
		if mp.Type != mount.TypeVolume || mp.Name != cfg.WorkspaceVolume || subpath != subdir {
			return refuse(fmt.Sprintf("mounts %s (%s, subpath %q) at %s, not the subpath %q of volume %s",
				describe(mp), mp.Type, subpath, WorkspaceTarget, subdir, cfg.WorkspaceVolume))
		}
	default:
		want := filepath.Join(cfg.WorkspaceRoot, filepath.FromSlash(subdir))
		if mp.Type != mount.TypeBind || (mp.Source != want && mp.Source != resolved(want)) {
			return refuse(fmt.Sprintf("mounts %s at %s, not %s", describe(mp), WorkspaceTarget, want))
		}
	}
	return nil
}

func describe(mp *container.MountPoint) string {
	if mp.Type == mount.TypeVolume {
		return "volume " + mp.Name
	}
	return mp.Source
}

// resolved is p with its symlinks resolved, or p if that fails.
func resolved(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// checkOwner is the identity check of stop and rm, which have no mount
// configuration to compare: a labelled container must be subdir's; one
// without labels must at least be a workspace container (made by the
// original module: a mount at WorkspaceTarget).
func checkOwner(subdir string, ctr container.InspectResponse) error {
	name := trimSlash(ctr.Name)
	if ctr.Config != nil {
		if owner, ok := ctr.Config.Labels[LabelSubdir]; ok {
			if owner != subdir {
				return fmt.Errorf("%w: container %s belongs to workspace %q, not %q (both names sanitise to %s); nothing was changed",
					ErrNotThisWorkspace, name, owner, subdir, name)
			}
			return nil
		}
	}
	for _, mp := range ctr.Mounts {
		if mp.Destination == WorkspaceTarget {
			return nil
		}
	}
	return fmt.Errorf("%w: container %s is no workspace container (no docker-workspace labels, no mount at %s); nothing was changed",
		ErrNotThisWorkspace, name, WorkspaceTarget)
}
