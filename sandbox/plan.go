package sandbox

import (
	"fmt"
	"path/filepath"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/versions"
)

// How the directories of a new workspace container are made (a MountPlan's
// Prepare).
const (
	// PrepareHere: on this host, through file descriptors (bind mode, an
	// engine on this host).
	PrepareHere = "here"
	// PrepareHelper: by a never-started helper container that mounts the
	// whole volume or bind root (volume_subpath mode; bind mode on a remote
	// engine of API 1.42+).
	PrepareHelper = "helper"
	// PrepareNone: not at all; they must exist (bind mode on a remote engine
	// older than API 1.42, which can neither make a directory nor bind a
	// missing one).
	PrepareNone = "none"
)

// MountPlan is how the container of a workspace gets its mounts on an
// engine: what it mounts, and how what is missing is made. Ensure follows
// it; doctor shows it.
type MountPlan struct {
	// Mounts are the workspace and shared mounts of the container, sources
	// as configured (on this host they are then resolved to real paths).
	Mounts []mount.Mount
	// Prepare is PrepareHere, PrepareHelper or PrepareNone.
	Prepare string
	// Helper are the mounts of the helper (PrepareHelper).
	Helper []mount.Mount
}

// PlanMounts plans the mounts of the container of subdir under cfg on an
// engine that speaks apiVersion. It asks nothing of anyone. An engine that
// would silently ignore the volume subpath (API before 1.45) is refused.
func PlanMounts(cfg Config, subdir, apiVersion string) (MountPlan, error) {
	if cfg.Mode == ModeVolumeSubpath {
		if versions.LessThan(apiVersion, apiVersionSubpath) {
			return MountPlan{}, fmt.Errorf("volume_subpath mode needs Docker Engine API %s or later (Engine 26+), but this engine speaks API %s: it would silently mount the whole volume and show every workspace to every workspace container; use bind mode or a newer engine", apiVersionSubpath, apiVersion)
		}
		// With a driver configuration, the engine makes a missing volume
		// as it says (on Swarm: on every node).
		ws, shared := cfg.volumeDriverConfig(cfg.VolumeOptions), cfg.volumeDriverConfig(cfg.SharedVolumeOptions)
		var sharedOpts *mount.VolumeOptions
		if shared != nil {
			sharedOpts = &mount.VolumeOptions{DriverConfig: shared}
		}
		return MountPlan{
			Mounts: []mount.Mount{
				{
					// NoCopy: the engine would copy the image's
					// WorkspaceTarget (content and owner) into an empty
					// subdir on first mount.
					Type: mount.TypeVolume, Source: cfg.WorkspaceVolume, Target: WorkspaceTarget,
					VolumeOptions: &mount.VolumeOptions{Subpath: subdir, NoCopy: true, DriverConfig: ws},
				},
				{Type: mount.TypeVolume, Source: cfg.SharedVolume, Target: SharedTarget, VolumeOptions: sharedOpts},
			},
			Prepare: PrepareHelper,
			Helper: []mount.Mount{
				{Type: mount.TypeVolume, Source: cfg.WorkspaceVolume, Target: helperMountPoint, VolumeOptions: &mount.VolumeOptions{NoCopy: true, DriverConfig: ws}},
				// Looked at: it must not hold the records of workspaces.
				{Type: mount.TypeVolume, Source: cfg.SharedVolume, Target: helperSharedVolume, VolumeOptions: &mount.VolumeOptions{NoCopy: true, DriverConfig: shared}},
			},
		}, nil
	}
	ws := filepath.Join(cfg.WorkspaceRoot, filepath.FromSlash(subdir))
	shared := filepath.Clean(cfg.SharedDir)
	if root := filepath.Clean(cfg.WorkspaceRoot); overlapPaths(root, shared) {
		return MountPlan{}, sharedOverlapError(cfg.SharedDir, shared, root)
	}
	switch {
	case cfg.CreateHostDirs:
		return MountPlan{Mounts: bindMounts(ws, shared, false), Prepare: PrepareHere}, nil
	case !versions.LessThan(apiVersion, apiVersionCreateMountpoint):
		helper, err := hostTopMounts(cfg.WorkspaceRoot, shared)
		if err != nil {
			return MountPlan{}, err
		}
		return MountPlan{
			// Created before the directories are made (checked) by the
			// helper, before the start.
			Mounts:  bindMounts(ws, shared, true),
			Prepare: PrepareHelper,
			Helper:  helper,
		}, nil
	}
	return MountPlan{Mounts: bindMounts(ws, shared, false), Prepare: PrepareNone}, nil
}
