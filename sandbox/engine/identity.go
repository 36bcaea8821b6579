package engine

import (
	"fmt"
	"path/filepath"

	"github.com/docker-workspace/docker-workspace/sandbox"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

// checkIdentity refuses a container that holds the name of subdir but
// belongs to another workspace (its subdir label differs: "a b" and "a-b",
// "Ab" and "ab", two long subdirs alike in their first 50 characters), or
// that has no label of ours (made by the original module) and does not
// mount the workspace that we would mount.
func checkIdentity(subdir string, cfg sandbox.Config, ctr container.InspectResponse) error {
	name := trimSlash(ctr.Name)
	switch p := ctr.Config.Labels[sandbox.LabelComposeProject]; {
	case cfg.ComposeProject == "" || p == cfg.ComposeProject:
	default:
		// Another project's, or made outside Compose (by ensure, or by
		// hand): a service must not run in a container that its
		// configuration did not make (a hardened service in a plain one),
		// nor adopt it unseen.
		return &sandbox.ProjectError{Container: name, Project: cfg.ComposeProject, Owner: p}
	}
	if cfg.ComposeService != "" {
		// Of the project, but made by an ensure, or by another service: a
		// service runs only in the container its configuration made.
		if s := sandbox.ComposeServiceOf(ctr.Config.Labels); s != cfg.ComposeService {
			return &sandbox.ProjectError{Container: name, Project: cfg.ComposeProject, Owner: cfg.ComposeProject, Service: cfg.ComposeService, OwnerService: s}
		}
	}
	if _, ok := ctr.Config.Labels[sandbox.LabelSubdir]; ok {
		return checkOwner(subdir, ctr)
	}
	if why := seedMismatch(subdir, cfg, ctr); why != "" {
		return fmt.Errorf("%w: container %s has no docker-workspace labels and %s; refusing to adopt it for workspace %q (nothing was changed)",
			sandbox.ErrNotThisWorkspace, name, why, subdir)
	}
	return nil
}

// seedMismatch is why a container without labels of ours is not the
// original module's container of subdir: its workspace mount is not the one
// cfg makes ("" when it is).
func seedMismatch(subdir string, cfg sandbox.Config, ctr container.InspectResponse) string {
	var mp *container.MountPoint
	for i := range ctr.Mounts {
		if ctr.Mounts[i].Destination == sandbox.WorkspaceTarget {
			mp = &ctr.Mounts[i]
		}
	}
	if mp == nil {
		return "no mount at " + sandbox.WorkspaceTarget
	}
	if cfg.Mode == sandbox.ModeVolumeSubpath {
		subpath := ""
		if ctr.HostConfig != nil {
			for _, m := range ctr.HostConfig.Mounts {
				if m.Target == sandbox.WorkspaceTarget && m.VolumeOptions != nil {
					subpath = m.VolumeOptions.Subpath
				}
			}
		}
		if mp.Type != mount.TypeVolume || mp.Name != cfg.WorkspaceVolume || subpath != subdir {
			return fmt.Sprintf("mounts %s (%s, subpath %q) at %s, not the subpath %q of volume %s",
				describe(mp), mp.Type, subpath, sandbox.WorkspaceTarget, subdir, cfg.WorkspaceVolume)
		}
		return ""
	}
	want := filepath.Join(cfg.WorkspaceRoot, filepath.FromSlash(subdir))
	if mp.Type != mount.TypeBind || (mp.Source != want && mp.Source != resolved(want)) {
		return fmt.Sprintf("mounts %s at %s, not %s", describe(mp), sandbox.WorkspaceTarget, want)
	}
	return ""
}

func describe(mp *container.MountPoint) string {
	if mp.Type == mount.TypeVolume {
		return "volume " + mp.Name
	}
	return mp.Source
}

// bindResolved is cfg with its root and shared directory as they resolve
// now on this host, when the engine runs here (bind mode): the directories
// a create mounts (it walks the path and mounts where it leads), so the
// spec a container records and the one wanted name the same directories
// whatever name the root is given by. A remote engine's paths are its
// host's: as given.
func bindResolved(cfg sandbox.Config) sandbox.Config {
	if cfg.Mode == sandbox.ModeBind && cfg.CreateHostDirs {
		cfg.WorkspaceRoot, cfg.SharedDir = resolved(cfg.WorkspaceRoot), resolved(cfg.SharedDir)
	}
	return cfg
}

// bindSources are the directories a container mounts at the workspace and
// shared targets.
func bindSources(ctr container.InspectResponse) sandbox.BindSources {
	var s sandbox.BindSources
	for _, mp := range ctr.Mounts {
		switch {
		case mp.Type != mount.TypeBind:
		case mp.Destination == sandbox.WorkspaceTarget:
			s.Workspace = mp.Source
		case mp.Destination == sandbox.SharedTarget:
			s.Shared = mp.Source
		}
	}
	return s
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
// original module: a mount at sandbox.WorkspaceTarget).
func checkOwner(subdir string, ctr container.InspectResponse) error {
	name := trimSlash(ctr.Name)
	if ctr.Config != nil {
		if owner, ok := ctr.Config.Labels[sandbox.LabelSubdir]; ok {
			if owner != subdir {
				return fmt.Errorf("%w: container %s belongs to workspace %q, not %q (both names sanitise to %s); nothing was changed",
					sandbox.ErrNotThisWorkspace, name, owner, subdir, name)
			}
			return nil
		}
	}
	for _, mp := range ctr.Mounts {
		if mp.Destination == sandbox.WorkspaceTarget {
			return nil
		}
	}
	return fmt.Errorf("%w: container %s is no workspace container (no docker-workspace labels, no mount at %s); nothing was changed",
		sandbox.ErrNotThisWorkspace, name, sandbox.WorkspaceTarget)
}
