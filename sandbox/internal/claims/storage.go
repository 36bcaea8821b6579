package claims

import (
	"path"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// StorageKey names the storage of a volume, as claims compare it: the
// directory of a local bind volume ("bind:/srv/ws"), the driver and its
// options for another made with options ("local:device=:/ws,o=addr=…,type=nfs"),
// the name of a plain one ("volume:gw_workspaces"). Two volume names with
// one storage are one storage.
func StorageKey(cfg sandbox.Config, name string, opts map[string]string) string {
	ws, shared := cfg.BindDevices()
	switch {
	case name == cfg.WorkspaceVolume && ws != "":
		return "bind:" + path.Clean(ws)
	case name == cfg.SharedVolume && shared != "":
		return "bind:" + path.Clean(shared)
	case cfg.VolumeDriver != "" || len(opts) > 0:
		return cfg.VolumeDriverName() + ":" + sandbox.OptsString(opts)
	}
	return "volume:" + name
}

// WorkspaceStorage is the storage of cfg's workspace volume.
func WorkspaceStorage(cfg sandbox.Config) string {
	return StorageKey(cfg, cfg.WorkspaceVolume, cfg.VolumeOptions)
}

// SharedStorage is the storage of cfg's shared volume.
func SharedStorage(cfg sandbox.Config) string {
	return StorageKey(cfg, cfg.SharedVolume, cfg.SharedVolumeOptions)
}

// StoragesNest says whether two storages are one, or bind directories one
// in the other.
func StoragesNest(a, b string) bool {
	if a == b {
		return true
	}
	pa, okA := strings.CutPrefix(a, "bind:")
	pb, okB := strings.CutPrefix(b, "bind:")
	return okA && okB && sandbox.PathsOverlap(pa, pb)
}

// SubdirsNest says whether one subdir is the other or below it.
func SubdirsNest(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}
