package sandbox

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

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
		if versions.LessThan(apiVersion, APIVersionSubpath) {
			return MountPlan{}, fmt.Errorf("volume_subpath mode needs Docker Engine API %s or later (Engine 26+), but this engine speaks API %s: it would silently "+
				"mount the whole volume and show every workspace to every workspace container; use bind mode or a newer engine", APIVersionSubpath, apiVersion)
		}
		// With a driver configuration, the engine makes a missing volume
		// as it says (on an orchestrator of nodes: on every node).
		ws, shared := cfg.VolumeDriverConfig(cfg.VolumeOptions), cfg.VolumeDriverConfig(cfg.SharedVolumeOptions)
		var sharedOpts *mount.VolumeOptions
		if shared != nil {
			sharedOpts = &mount.VolumeOptions{DriverConfig: shared}
		}
		plan := MountPlan{
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
				{Type: mount.TypeVolume, Source: cfg.WorkspaceVolume, Target: HelperVolumePoint, VolumeOptions: &mount.VolumeOptions{NoCopy: true, DriverConfig: ws}},
				// Looked at: it must not hold the records of workspaces.
				{Type: mount.TypeVolume, Source: cfg.SharedVolume, Target: HelperSharedPoint, VolumeOptions: &mount.VolumeOptions{NoCopy: true, DriverConfig: shared}},
			},
		}
		if cfg.SharedVolume == "" { // the records only (ForRecords)
			plan.Mounts, plan.Helper = plan.Mounts[:1], plan.Helper[:1]
		}
		return plan, nil
	}
	ws := filepath.Join(cfg.WorkspaceRoot, filepath.FromSlash(subdir))
	shared := filepath.Clean(cfg.SharedDir)
	if root := filepath.Clean(cfg.WorkspaceRoot); PathsOverlap(root, shared) {
		return MountPlan{}, SharedOverlapError(cfg.SharedDir, shared, root)
	}
	switch {
	case cfg.CreateHostDirs:
		return MountPlan{Mounts: BindMounts(ws, shared, false), Prepare: PrepareHere}, nil
	case !versions.LessThan(apiVersion, APIVersionCreateMountpoint):
		helper, err := HostTopMounts(cfg.WorkspaceRoot, shared)
		if err != nil {
			return MountPlan{}, err
		}
		return MountPlan{
			// Created before the directories are made (checked) by the
			// helper, before the start.
			Mounts:  BindMounts(ws, shared, true),
			Prepare: PrepareHelper,
			Helper:  helper,
		}, nil
	}
	return MountPlan{Mounts: BindMounts(ws, shared, false), Prepare: PrepareNone}, nil
}

// BindMounts are the mounts of bind mode; with create, the engine makes a
// missing source (API 1.42+: the directories are made, checked, after the
// container is created and before it starts).
func BindMounts(workspace, shared string, create bool) []mount.Mount {
	var opts *mount.BindOptions
	if create {
		opts = &mount.BindOptions{CreateMountpoint: true}
	}
	return []mount.Mount{
		{Type: mount.TypeBind, Source: workspace, Target: WorkspaceTarget, BindOptions: opts},
		{Type: mount.TypeBind, Source: shared, Target: SharedTarget, BindOptions: opts},
	}
}

// Where a helper container sees what it prepares.
const (
	// HelperVolumePoint: the whole workspace volume.
	HelperVolumePoint = "/workspaces"
	// HelperSharedPoint: the shared volume (looked at: it must not hold
	// the records of workspaces).
	HelperSharedPoint = "/shared-volume"
	// HelperHostPoint: the top-level directories of an engine's host that
	// hold a bind root and a shared directory (/srv of /srv/ws, at
	// /host/srv).
	HelperHostPoint = "/host"
)

// InHelper is where a helper sees a path of the engine's host.
func InHelper(hostPath string) string { return path.Join(HelperHostPoint, hostPath) }

// HostTopMounts are a helper's binds of the top-level directories of the
// engine's host that hold the given absolute paths. A top-level directory
// is bound as the engine finds it (a symlink in / is root's doing) and
// made, if missing, in /, which only root can write.
func HostTopMounts(paths ...string) ([]mount.Mount, error) {
	var out []mount.Mount
	seen := map[string]bool{}
	for _, p := range paths {
		top, _, _ := strings.Cut(strings.TrimPrefix(path.Clean(p), "/"), "/")
		if top == "" || !path.IsAbs(p) {
			return nil, fmt.Errorf("%w: %s: the workspace root and the shared directory of a remote engine must be absolute paths below /", ErrInvalidConfig, p)
		}
		if !seen[top] {
			seen[top] = true
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: "/" + top, Target: InHelper("/" + top), BindOptions: &mount.BindOptions{CreateMountpoint: true}})
		}
	}
	return out, nil
}
