package hostfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// CheckSharedPath refuses, before anything is made, a shared directory
// whose path goes through a symlink, or that other local users can reach.
//
// A symlink: every workspace container can write its shared directory, as
// host root (root in the container), so a symlink on the path of another
// configuration's shared directory may be a tenant's, even one owned by
// root; the shared directory is named by its real path.
//
// Reach: a tenant, root in its container, can give the shared directory any
// mode and leave a setuid program in it; only a directory on its path that
// others cannot enter (root's or the caller's, no group or other search)
// keeps other local users from running it (the root of the workspaces is
// such a directory, 0700).
func CheckSharedPath(shared string) error {
	clean := filepath.Clean(shared)
	for p := clean; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
				return SharedSymlinkError(shared, real+strings.TrimPrefix(clean, p))
			}
			break
		}
		if p == "/" {
			break
		}
	}
	if privateAncestor(clean) == "" {
		return fmt.Errorf("%w: shared directory %s: every directory above it can be entered by other local users, and a tenant, root in its container, can leave a setuid program "+
			"in the shared directory for them to run: put it below a directory that only root (or you) can enter (mode 0700), or make one on its path so: refused",
			sandbox.ErrInvalidConfig, shared)
	}
	return nil
}

// Private says whether a directory above p keeps other local users out
// of it (root's or the caller's, without group or other search).
func Private(p string) bool { return privateAncestor(filepath.Clean(p)) != "" }

// privateAncestor is the first directory above p that other local users
// cannot enter (root's or the caller's, without group or other search), or
// "".
func privateAncestor(p string) string {
	euid := os.Geteuid()
	for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
		if fi, err := os.Lstat(dir); err == nil && fi.IsDir() && fi.Mode().Perm()&0o011 == 0 {
			if uid, ok := fileOwner(fi); ok && (uid == 0 || uid == euid) {
				return dir
			}
		}
		if dir == "/" {
			return ""
		}
	}
}

// SharedSymlinkError refuses a shared directory given through a symlink.
func SharedSymlinkError(given, real string) error {
	return fmt.Errorf("shared directory %s is %s: its path goes through a symlink, which may be a tenant's "+
		"(every workspace container can write its shared directory); give its real path: refused", given, real)
}

// SharedIsRootError refuses a shared directory that holds the marker of a
// root of workspaces. Every workspace container can write the shared
// directory, so the marker may be a tenant's doing.
func SharedIsRootError(shared string) error {
	return fmt.Errorf("%w: the shared directory %s holds %s: it is the root of workspaces, which every workspace container would "+
		"see; refused (every workspace container can write the shared directory: if a tenant made %s there, remove it)",
		sandbox.ErrOverlap, shared, sandbox.RegistryDir, sandbox.RegistryDir)
}

// SharedInRootError refuses a shared directory inside a root of workspaces.
func SharedInRootError(shared, root string) error {
	return fmt.Errorf("%w: the shared directory %s is in %s, the root of other workspaces: every workspace of that root would see it; refused", sandbox.ErrOverlap, shared, root)
}
