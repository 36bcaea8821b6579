package engine

import (
	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/hostfs"
)

// diskQuota refuses a disk cap, before anything is made (this build
// enforces none), saying the file system of the workspace root where it
// can be looked at: bind mode on a local engine.
func diskQuota(cfg sandbox.Config) error {
	if cfg.Disk == 0 {
		return nil
	}
	return sandbox.DiskQuota(diskFS(cfg))
}

// diskFS is the file system of cfg's workspace root where it is on this
// host, else "".
func diskFS(cfg sandbox.Config) string {
	if cfg.Mode != sandbox.ModeBind || !cfg.CreateHostDirs {
		return ""
	}
	return hostfs.FSType(cfg.WorkspaceRoot)
}
