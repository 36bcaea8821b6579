package sandbox

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/versions"
)

// owner is the numeric owner of directories created for a container user.
type owner struct {
	uid, gid int
	set      bool
}

// prepareMounts makes sure that the sources of a new container's mounts
// exist, owned by user (the container's), and returns the mounts.
func (m *Manager) prepareMounts(ctx context.Context, subdir string, cfg Config, user string) ([]mount.Mount, error) {
	own, named := numericOwner(user)
	// A remote engine's bind paths are made on its side, by a helper.
	remoteBind := cfg.Mode == ModeBind && !cfg.CreateHostDirs &&
		!versions.LessThan(m.client.ClientVersion(), apiVersionCreateMountpoint)
	if cfg.Mode == ModeVolumeSubpath || remoteBind || named && cfg.CreateHostDirs {
		// A helper container: to read the image's user database, and to
		// create directories where the engine sees them.
		err := m.withHelper(ctx, cfg, func(id string) error {
			if named {
				var err error
				if own, err = m.lookupUser(ctx, id, user); err != nil {
					return err
				}
			}
			switch {
			case cfg.Mode == ModeVolumeSubpath:
				return m.ensureDirs(ctx, id, helperMountPoint, subdir, "volume "+cfg.WorkspaceVolume, own)
			case remoteBind:
				if err := m.ensureDirs(ctx, id, helperMountPoint, subdir, cfg.WorkspaceRoot, own); err != nil {
					return err
				}
				return m.ensureDirs(ctx, id, helperSharedParent, filepath.Base(cfg.SharedDir), filepath.Dir(cfg.SharedDir), own)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if cfg.Mode == ModeVolumeSubpath {
		return []mount.Mount{
			{
				// NoCopy: the engine would copy the image's WorkspaceTarget
				// (content and owner) into an empty subdir on first mount.
				Type: mount.TypeVolume, Source: cfg.WorkspaceVolume, Target: WorkspaceTarget,
				VolumeOptions: &mount.VolumeOptions{Subpath: subdir, NoCopy: true},
			},
			{Type: mount.TypeVolume, Source: cfg.SharedVolume, Target: SharedTarget},
		}, nil
	}

	wsPath := filepath.Join(cfg.WorkspaceRoot, filepath.FromSlash(subdir))
	shPath := filepath.Clean(cfg.SharedDir)
	if cfg.CreateHostDirs {
		var err error
		if wsPath, err = localWorkspaceDir(cfg.WorkspaceRoot, subdir, own); err != nil {
			return nil, err
		}
		if err := mkdirOwned(shPath, own); err != nil {
			return nil, fmt.Errorf("create shared directory: %w", err)
		}
	}
	return []mount.Mount{
		{Type: mount.TypeBind, Source: wsPath, Target: WorkspaceTarget},
		{Type: mount.TypeBind, Source: shPath, Target: SharedTarget},
	}, nil
}

// numericOwner parses "uid" and "uid:gid"; named is true for a user given
// by name, which only the image's /etc/passwd can resolve.
func numericOwner(user string) (own owner, named bool) {
	if user == "" {
		return owner{}, false
	}
	u, g, hasGroup := strings.Cut(user, ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		return owner{}, true
	}
	gid := uid
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil {
			return owner{}, true
		}
	}
	return owner{uid: uid, gid: gid, set: true}, false
}

// mkdirOwned creates dir (and its parents) when missing, giving what it
// creates to own when set.
func mkdirOwned(dir string, own owner) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirOwned(filepath.Dir(dir), own); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return err
	}
	if own.set {
		return os.Chown(dir, own.uid, own.gid)
	}
	return nil
}

// localWorkspaceDir creates <root>/<subdir> on this host when missing and
// returns its real path, refusing one that resolves (through a symlink)
// outside the real root. Directories it creates below the root go to own.
func localWorkspaceDir(root, subdir string, own owner) (string, error) {
	if err := mkdirOwned(root, owner{}); err != nil {
		return "", fmt.Errorf("create workspace root: %w", err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolve workspace root: %w", err)
	}
	// Walk down one element at a time, so that nothing is created through
	// a symlink that leads out of the root.
	cur := realRoot
	for _, elem := range strings.Split(subdir, "/") {
		next := filepath.Join(cur, elem)
		switch err := os.Mkdir(next, 0o755); {
		case err == nil:
			if own.set {
				if err := os.Chown(next, own.uid, own.gid); err != nil {
					return "", fmt.Errorf("give workspace directory to %d:%d: %w", own.uid, own.gid, err)
				}
			}
		case !errors.Is(err, os.ErrExist):
			return "", fmt.Errorf("create workspace directory: %w", err)
		}
		real, err := filepath.EvalSymlinks(next)
		if err != nil {
			return "", fmt.Errorf("workspace %q: %s is a symlink that leads nowhere: %w", subdir, next, err)
		}
		if !within(realRoot, real) {
			return "", fmt.Errorf("workspace %q resolves to %s, outside the workspace root %s: refused", subdir, real, realRoot)
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("workspace path %s is not a directory", real)
		}
		cur = real
	}
	return cur, nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// Where a helper container sees the workspace volume or root, and the
// parent of a remote engine's shared directory.
const (
	helperMountPoint   = "/workspaces"
	helperSharedParent = "/shared-parent"
)

// withHelper runs fn with a helper container of the workspace image that is
// created, never started (nothing of the image runs), and removed after.
// In volume_subpath mode it mounts the whole workspace volume.
func (m *Manager) withHelper(ctx context.Context, cfg Config, fn func(id string) error) (retErr error) {
	hc := &container.HostConfig{NetworkMode: "none"}
	switch {
	case cfg.Mode == ModeVolumeSubpath:
		hc.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: cfg.WorkspaceVolume, Target: helperMountPoint}}
	case !cfg.CreateHostDirs: // a remote engine's bind paths
		create := &mount.BindOptions{CreateMountpoint: true}
		hc.Mounts = []mount.Mount{
			{Type: mount.TypeBind, Source: cfg.WorkspaceRoot, Target: helperMountPoint, BindOptions: create},
			{Type: mount.TypeBind, Source: filepath.Dir(cfg.SharedDir), Target: helperSharedParent, BindOptions: create},
		}
	}
	helper, err := m.client.ContainerCreate(ctx,
		&container.Config{Image: cfg.Image, Entrypoint: []string{"true"}, Labels: map[string]string{LabelHelper: "prepare"}},
		hc, nil, nil, "")
	if err != nil {
		return fmt.Errorf("create helper container: %w", err)
	}
	defer func() {
		err := m.client.ContainerRemove(context.WithoutCancel(ctx), helper.ID, container.RemoveOptions{Force: true})
		if err != nil && retErr == nil {
			retErr = fmt.Errorf("remove helper container: %w", err)
		}
	}()
	return fn(helper.ID)
}

// lookupUser resolves "name", "name:group", "uid:group" through the image's
// /etc/passwd and /etc/group.
func (m *Manager) lookupUser(ctx context.Context, helperID, user string) (owner, error) {
	u, g, hasGroup := strings.Cut(user, ":")
	own := owner{set: true}
	var err error
	if own.uid, err = strconv.Atoi(u); err != nil {
		entry, err := m.dbEntry(ctx, helperID, "/etc/passwd", u)
		if err != nil {
			return owner{}, fmt.Errorf("user %q: %w", user, err)
		}
		if own.uid, err = strconv.Atoi(entry[2]); err != nil {
			return owner{}, fmt.Errorf("user %q: bad uid in /etc/passwd", user)
		}
		if own.gid, err = strconv.Atoi(entry[3]); err != nil {
			return owner{}, fmt.Errorf("user %q: bad gid in /etc/passwd", user)
		}
	} else {
		own.gid = own.uid
	}
	if hasGroup {
		if own.gid, err = strconv.Atoi(g); err != nil {
			entry, err := m.dbEntry(ctx, helperID, "/etc/group", g)
			if err != nil {
				return owner{}, fmt.Errorf("group %q: %w", g, err)
			}
			if own.gid, err = strconv.Atoi(entry[2]); err != nil {
				return owner{}, fmt.Errorf("group %q: bad gid in /etc/group", g)
			}
		}
	}
	return own, nil
}

// dbEntry returns the fields of the line for name in a colon-separated
// database file of the helper's image.
func (m *Manager) dbEntry(ctx context.Context, helperID, file, name string) ([]string, error) {
	rc, _, err := m.client.CopyFromContainer(ctx, helperID, file)
	if err != nil {
		return nil, fmt.Errorf("read the image's %s: %w", file, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return nil, fmt.Errorf("read the image's %s: %w", file, err)
	}
	sc := bufio.NewScanner(io.LimitReader(tr, 1<<20))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 4 && fields[0] == name {
			return fields, nil
		}
	}
	return nil, fmt.Errorf("not found in the image's %s", file)
}

// ensureDirs creates the directory rel (slash-separated) below base, a path
// inside the helper container that where describes, when it is missing:
// the helper receives a tar that holds only the missing directory entries,
// owned by own, so an existing directory keeps its owner and mode. (Engines
// refuse a missing volume subpath; a remote engine would make a missing
// bind source as root.)
func (m *Manager) ensureDirs(ctx context.Context, helperID, base, rel, where string, own owner) error {
	elems := strings.Split(rel, "/")
	have := 0
	for have < len(elems) {
		p := path.Join(base, path.Join(elems[:have+1]...))
		st, err := m.client.ContainerStatPath(ctx, helperID, p)
		if cerrdefs.IsNotFound(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("look for %s in %s: %w", rel, where, err)
		}
		if !st.Mode.IsDir() {
			return fmt.Errorf("%s in %s is not a directory", path.Join(elems[:have+1]...), where)
		}
		have++
	}
	if have == len(elems) {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for i := have; i < len(elems); i++ {
		hdr := &tar.Header{
			Typeflag: tar.TypeDir, Name: path.Join(elems[:i+1]...) + "/", Mode: 0o755,
			Uid: own.uid, Gid: own.gid, ModTime: now,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := m.client.CopyToContainer(ctx, helperID, base, &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("create %s in %s: %w", rel, where, err)
	}
	return nil
}
